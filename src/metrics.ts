import {
  createHistogram,
  monitorEventLoopDelay,
  type IntervalHistogram,
  type RecordableHistogram,
} from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HeardTurn } from './store/call-record.ts';

/**
 * Prometheus metrics (GET /metrics). Latencies are recorded in native HDR histograms (a record costs tens of
 * nanoseconds) and exposed as p50/p99/max gauges over the window since the previous scrape, the same
 * convention prom-client uses for its event-loop lag (which it also resets on every scrape).
 */
export class Metrics {
  readonly registry = new Registry();
  /** Caller frame handed to the media sink → agent's upstream send returned (sampled: 1 frame in 8). */
  readonly ingest = createHistogram();
  /** First agent audio of a reply → its first playback command written. */
  readonly firstCommand = createHistogram();
  /** First agent audio of a reply → PLAYBACK_START of its first chunk. */
  readonly firstPlayback = createHistogram();
  /** Agent said "interrupted" → uuid_break written. */
  readonly bargeIn = createHistogram();
  /** A playback chunk cut → its file completely written. */
  readonly chunkWrite = createHistogram();
  readonly callsActive: Gauge;
  readonly callsEnded: Counter<'reason'>;
  readonly badFrames: Counter;
  readonly chunkFailures: Counter;
  readonly resamplerFallbacks: Counter;
  readonly chunks: Counter;
  /** Set by whoever owns converters (inline pools): how many exist, leased or free. */
  converters: () => { leased: number; free: number } = () => ({ leased: 0, free: 0 });
  readonly eslConnected: Gauge;
  /** Calls that were to be recorded and have no recording, by reason (unwritable, disk-full, command, missing). */
  readonly recordingFailures: Counter<'reason'>;
  /** Calls from the browser profile hung up for want of a valid ticket, by reason (missing, invalid, used, ...). */
  readonly browserCallsRefused: Counter<'reason'>;
  /** Parked calls refused by admission control (calls/admission.ts), by reason (at_capacity). */
  readonly callsRefused: Counter<'reason'>;
  /** Cluster mode: claims of calls, by outcome (won, taken: another instance's, error). */
  readonly clusterClaims: Counter<'outcome'>;
  /** Cluster mode: calls carried on from an instance that died (failover). */
  readonly clusterTakeovers: Counter;
  /** Cluster mode: calls handed to another instance (drain, or a claim lost). */
  readonly clusterHandovers: Counter;
  /** Set by whoever owns the calls of every FreeSWITCH node: callbridge_calls_active is their sum at each scrape. */
  activeCalls: (() => number) | undefined;
  readonly #resumptions: Counter<'reason'>;
  readonly #resumptionSeconds: Histogram;
  readonly #toolCalls: Counter<'tool' | 'outcome'>;
  readonly #toolSeconds: Histogram<'tool'>;
  /** Tool names seen as labels: names come from users' definitions, so their number is capped. */
  readonly #toolLabels = new Set<string>();
  readonly #analyses: Counter<'outcome'>;
  readonly #heardLatency: Histogram;
  readonly #bargeInStop: Histogram;
  readonly #insertedSilence: Histogram;

  constructor() {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    const r = [this.registry];
    // Node's event-loop histogram records the sampling interval itself (idle at 10 ms resolution: p50 10.18 ms),
    // which prom-client's nodejs_eventloop_lag_* passes on. Ours samples every 5 ms and subtracts it.
    const loop = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
    loop.enable();
    this.#latency(
      'callbridge_event_loop_delay_seconds',
      'How late the event loop ran timers (sampling interval removed)',
      loop,
      EVENT_LOOP_RESOLUTION_MS,
    );
    this.#latency(
      'callbridge_frame_ingest_seconds',
      'Caller frame received → sent to the agent vendor (1 in 8 frames sampled)',
      this.ingest,
    );
    this.#latency(
      'callbridge_first_playback_command_seconds',
      'First agent audio of a reply → first playback command',
      this.firstCommand,
    );
    this.#latency(
      'callbridge_first_playback_start_seconds',
      'First agent audio of a reply → PLAYBACK_START of its first chunk',
      this.firstPlayback,
    );
    this.#latency('callbridge_barge_in_seconds', 'Agent interrupted → uuid_break written', this.bargeIn);
    this.#latency(
      'callbridge_chunk_write_seconds',
      'Playback chunk cut → file written in PLAYBACK_DIR',
      this.chunkWrite,
    );
    const self = this;
    this.callsActive = new Gauge({
      name: 'callbridge_calls_active',
      help: 'Calls being handled',
      registers: r,
      collect() {
        if (self.activeCalls) this.set(self.activeCalls());
      },
    });
    this.callsEnded = new Counter({
      name: 'callbridge_calls_ended_total',
      help: 'Calls ended, by kind of reason',
      labelNames: ['reason'],
      registers: r,
    });
    this.badFrames = new Counter({
      name: 'callbridge_bad_frames_total',
      help: 'Empty or odd-length audio frames dropped',
      registers: r,
    });
    this.chunkFailures = new Counter({
      name: 'callbridge_playback_chunk_failures_total',
      help: 'Playback chunks FreeSWITCH could not play',
      registers: r,
    });
    this.resamplerFallbacks = new Counter({
      name: 'callbridge_resampler_fallbacks_total',
      help: 'Replies sent as WAV at the agent rate because no warm converter was free (raise RESAMPLER_POOL_START if this grows)',
      registers: r,
    });
    new Gauge({
      name: 'callbridge_resamplers',
      help: 'libsamplerate converters (~1.6 MB each) in this thread, by state',
      labelNames: ['state'],
      registers: r,
      collect() {
        const c = self.converters();
        this.set({ state: 'leased' }, c.leased);
        this.set({ state: 'free' }, c.free);
      },
    });
    this.chunks = new Counter({
      name: 'callbridge_playback_chunks_total',
      help: 'Playback files commanded',
      registers: r,
    });
    this.eslConnected = new Gauge({
      name: 'callbridge_esl_connected',
      help: 'ESL connections up (1 per connected FreeSWITCH node)',
      registers: r,
    });
    this.recordingFailures = new Counter({
      name: 'callbridge_recording_failures_total',
      help: 'Calls to be recorded that got no recording (the call went on), by reason',
      labelNames: ['reason'],
      registers: r,
    });
    this.browserCallsRefused = new Counter({
      name: 'callbridge_browser_calls_refused_total',
      help: 'Browser calls hung up (CALL_REJECTED) without a valid ticket, by reason (missing, invalid, expired, used, disabled)',
      labelNames: ['reason'],
      registers: r,
    });
    this.callsRefused = new Counter({
      name: 'callbridge_calls_refused_total',
      help: 'Parked calls not taken by admission control (hung up USER_BUSY or left parked), by reason',
      labelNames: ['reason'],
      registers: r,
    });
    this.clusterClaims = new Counter({
      name: 'callbridge_cluster_claims_total',
      help: 'Claims of calls in Redis, by outcome (won, taken by another instance, error)',
      labelNames: ['outcome'],
      registers: r,
    });
    this.clusterTakeovers = new Counter({
      name: 'callbridge_cluster_takeovers_total',
      help: 'Calls carried on from an instance that died (failover)',
      registers: r,
    });
    this.clusterHandovers = new Counter({
      name: 'callbridge_cluster_handovers_total',
      help: 'Calls handed over to another instance (drain, or claim lost)',
      registers: r,
    });
    this.#resumptions = new Counter({
      name: 'callbridge_agent_resumptions_total',
      help: 'Vendor connections an agent replaced mid-call without the caller noticing, by reason',
      labelNames: ['reason'],
      registers: r,
    });
    // A real histogram, not a per-scrape window: resumptions are rare, and rates over days are what matter.
    this.#resumptionSeconds = new Histogram({
      name: 'callbridge_agent_resumption_seconds',
      help: 'Old vendor connection lost (or switch decided) → new one ready',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: r,
    });
    this.#toolCalls = new Counter({
      name: 'callbridge_tool_calls_total',
      help: 'Tool calls the agents made, by tool and outcome (ok, error, timeout, cancelled)',
      labelNames: ['tool', 'outcome'],
      registers: r,
    });
    this.#toolSeconds = new Histogram({
      name: 'callbridge_tool_seconds',
      help: 'Tool call asked by the model → answer ready (webhook round trip, transfer outcome, ...)',
      labelNames: ['tool'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: r,
    });
    // Ear-level figures from call recordings (recording/analyzer.ts), observed once per analysed call: real
    // histograms, as they arrive after the call and are compared over days, not per scrape.
    this.#analyses = new Counter({
      name: 'callbridge_recording_analyses_total',
      help: 'Recordings analysed for heard latency, by outcome (ok, error, timeout, dropped: queue full, gone: record deleted)',
      labelNames: ['outcome'],
      registers: r,
    });
    this.#heardLatency = new Histogram({
      name: 'callbridge_heard_latency_seconds',
      help: 'Caller stopped speaking → agent audible, per turn, from the call recording',
      buckets: [0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 5, 10],
      registers: r,
    });
    this.#bargeInStop = new Histogram({
      name: 'callbridge_bargein_stop_seconds',
      help: 'Caller started speaking over the agent → agent audio stopped, from the call recording',
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5],
      registers: r,
    });
    this.#insertedSilence = new Histogram({
      name: 'callbridge_reply_inserted_silence_seconds',
      help: 'Silence over 40 ms inside an agent reply (summed per reply; 0: none), from the call recording',
      buckets: [0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers: r,
    });
  }

  /** One recording analysis finished (or was dropped); when ok, its turns go into the histograms. */
  recordingAnalysed(outcome: string, turns?: readonly HeardTurn[]): void {
    this.#analyses.inc({ outcome });
    for (const t of turns ?? []) {
      if (t.heardLatencyMs !== undefined) this.#heardLatency.observe(Math.max(0, t.heardLatencyMs) / 1000);
      if (t.bargeInStopMs !== undefined) this.#bargeInStop.observe(Math.max(0, t.bargeInStopMs) / 1000);
      if (t.agentStartMs !== undefined) this.#insertedSilence.observe(t.insertedSilenceMs / 1000);
    }
  }

  /**
   * One tool call the agent made. `tool` is a validated tool name (or `unknown` for a name the call does not
   * have); past TOOL_LABELS_MAX distinct names, new ones count as `other` so no one can grow the series set.
   */
  toolCall(tool: string, outcome: string, durationMs: number): void {
    let label = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/.test(tool) ? tool : 'unknown';
    if (!this.#toolLabels.has(label)) {
      if (this.#toolLabels.size >= TOOL_LABELS_MAX) label = 'other';
      else this.#toolLabels.add(label);
    }
    this.#toolCalls.inc({ tool: label, outcome });
    this.#toolSeconds.observe({ tool: label }, Math.max(0, durationMs) / 1000);
  }

  /** One resumption (AgentSink `resumed`). Reasons outside a short safe vocabulary count as `other`. */
  agentResumed(reason: string, durationMs: number): void {
    this.#resumptions.inc({ reason: /^[A-Za-z0-9_.-]{1,32}$/.test(reason) ? reason : 'other' });
    this.#resumptionSeconds.observe(Math.max(0, durationMs) / 1000);
  }

  #latency(name: string, help: string, h: RecordableHistogram | IntervalHistogram, offsetMs = 0): void {
    const value = (ns: number) => Math.max(0, ns / 1e9 - offsetMs / 1000);
    new Gauge({
      name,
      help: `${help}; p50/p99/max over the window since the previous scrape`,
      labelNames: ['quantile'],
      registers: [this.registry],
      collect() {
        if (h.count === 0) return this.reset();
        this.set({ quantile: '0.5' }, value(h.percentile(50)));
        this.set({ quantile: '0.99' }, value(h.percentile(99)));
        this.set({ quantile: '1' }, value(h.max));
        h.reset();
      },
    });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

const EVENT_LOOP_RESOLUTION_MS = 5;
/** Distinct tool names kept as metric labels (the rest: `other`). */
const TOOL_LABELS_MAX = 200;

/** Record a duration given in milliseconds (HDR histograms take positive integers: we store ns). */
export function recordMs(h: RecordableHistogram, ms: number): void {
  h.record(Math.max(1, Math.round(ms * 1e6)));
}

/**
 * Gemini Live (speech-to-speech) as an Agent: caller PCM at 16 kHz goes up the Live WebSocket, the
 * model's 24 kHz PCM, transcripts and turn signals come back through the AgentSink.
 *
 * A call outlives its connections (the service retires each after about 10 minutes with `goAway`, and may
 * drop one with 1011): this class wires one LiveConnection at a time (live-connection.ts), the resumption
 * policy and replay ring (resumption.ts), the reconnect loop (live-resumer.ts) and the conversation as the
 * sink sees it (live-turns.ts). The setup and the model rules are live-setup.ts's.
 */
import type { LiveServerMessage } from '@google/genai';
import type { Logger } from 'pino';
import { errorText } from '../../errors.ts';
import type { Agent, AgentSettings, AgentSink } from '../agent.ts';
import type { googleSettings } from '../google-settings.ts';
import type { EnvOf } from '../vendor-settings.ts';
import { LiveConnection, type LiveConnectionEvents } from './live-connection.ts';
import { LiveResumer, ResumeFailed } from './live-resumer.ts';
import { liveConfig, setupProblem, type LiveSetupOptions } from './live-setup.ts';
import { LiveTurns } from './live-turns.ts';
import { ResumptionPolicy, durationMs } from './resumption.ts';
import type { LIVE_THINKING_LEVELS, geminiLiveSettings } from './settings.ts';

export interface GeminiLiveAgentOptions {
  apiKey: string;
  /** e.g. 'gemini-3.8-live' (the SDK prefixes 'models/'). */
  model: string;
  /** Override of the API endpoint (tests, proxies), e.g. 'http://127.0.0.1:PORT'. Default: Google's. */
  baseUrl?: string;
  /** How long to wait for the socket to open and the model to answer the setup frame. */
  connectTimeoutMs: number;
  settings: AgentSettings;
  /** Child logger carrying the call uuid. */
  logger: Logger;
  /** Caller audio is dropped while more than this many bytes wait in the socket. Default 256 KiB (≈ 8 s). */
  maxBufferedBytes?: number;
  /**
   * How speakFirst() asks for an opening turn: `realtimeInput.text` (default) or a `clientContent` user turn.
   * Gemini 3.1 Live closes the session with 1007 on clientContent after setup (it only seeds history), so
   * realtime text is the default; client-content remains for older models.
   */
  speakFirstVia?: 'client-content' | 'realtime-text';
  thinkingLevel?: (typeof LIVE_THINKING_LEVELS)[number];
  proactiveAudio?: boolean;
  /** Sliding-window context compression. Default: trigger 64000, target 32000 tokens. */
  compression?: { triggerTokens: number; targetTokens: number };
  /** From losing a connection (or deciding to switch) to giving up on resuming it. Default 5000 ms. */
  resumeBudgetMs?: number;
  /** Ask for `lastConsumedClientMessageIndex` (`sessionResumption.transparent`). Default false. */
  transparent?: boolean;
  /** Keepalive ping period and the silence after which a connection counts as dead (0: off). 15 s / 60 s. */
  pingIntervalMs?: number;
  deadAfterMs?: number;
  /** Client messages kept for replay after a resumption. Default 1500 (30 s of 20 ms frames). */
  replayCapacity?: number;
}

const DEFAULT_MAX_BUFFERED = 256 * 1024;
const DEFAULT_SPEAK_FIRST = 'The call has just been answered. Greet the caller.';
const INPUT_RATE = 16000; // what Gemini Live takes; FreeSWITCH streams at it, so no resampling here
const AUDIO_MSG_HEAD = '{"realtimeInput":{"audio":{"data":"';
const AUDIO_MSG_TAIL = `","mimeType":"audio/pcm;rate=${INPUT_RATE}"}}}`;
/** A goAway switch waits for a safe moment until this long before the service's deadline. */
const SWITCH_MARGIN_MS = 1000;

type State = 'idle' | 'connecting' | 'open' | 'resuming' | 'failed' | 'closed';

export class GeminiLiveAgent implements Agent {
  readonly kind = 'gemini-live';
  readonly inputSampleRate = INPUT_RATE;
  /** Caller frames dropped because the socket was backed up. */
  droppedFrames = 0;
  /** Caller frames sent (replays not counted). */
  sentFrames = 0;
  /** Connections replaced without the call noticing. */
  resumptions = 0;

  readonly #opts: GeminiLiveAgentOptions;
  readonly #setup: LiveSetupOptions;
  readonly #log: Logger;
  readonly #policy: ResumptionPolicy;
  readonly #turns = new LiveTurns();
  readonly #resumer = new LiveResumer();
  #state: State = 'idle';
  #sink: AgentSink | undefined;
  /** The connection in use; undefined while connecting or resuming (caller audio then waits in the ring). */
  #conn: LiveConnection | undefined;
  #starting: LiveConnection | undefined;
  #closePromise: Promise<void> | undefined;
  #pendingSpeakFirst: string | undefined;
  /** A goAway arrived: switch at the next safe moment, or when `#switchTimer` fires. */
  #switchWanted: { since: number } | undefined;
  #switchTimer: NodeJS.Timeout | undefined;
  #sinkErrors = 0;

  constructor(opts: GeminiLiveAgentOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#setup = {
      model: opts.model,
      settings: opts.settings,
      thinkingLevel: opts.thinkingLevel,
      proactiveAudio: opts.proactiveAudio,
      compression: opts.compression ?? { triggerTokens: 64000, targetTokens: 32000 },
    };
    this.#policy = new ResumptionPolicy(opts.replayCapacity ?? 1500);
  }

  async start(sink: AgentSink): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`gemini live: start() called in state ${this.#state}`);
    this.#sink = sink;
    const { model, settings } = this.#opts;
    const problem = setupProblem(this.#setup);
    if (problem !== undefined) {
      this.#state = 'closed';
      throw new Error(`gemini live: ${problem}`);
    }
    this.#state = 'connecting';
    const t0 = performance.now();
    const conn = this.#connection(undefined);
    this.#starting = conn;
    try {
      await conn.open(this.#events(conn), this.#opts.connectTimeoutMs);
    } catch (e) {
      const wasClosed = (this.#state as State) === 'closed'; // close() may have run meanwhile
      this.#state = 'closed';
      this.#starting = undefined;
      if (!wasClosed)
        this.#log.warn({ err: errorText(e), ms: Math.round(performance.now() - t0) }, 'gemini live connect failed');
      throw e;
    }
    this.#starting = undefined;
    this.#conn = conn;
    this.#state = 'open';
    this.#policy.connectionStarted(this.#policy.ring.last);
    const setupMs = Math.round(performance.now() - t0);
    this.#log.info({ model, voice: settings.voice, language: settings.language, setupMs }, 'gemini live connected');
    if (this.#pendingSpeakFirst !== undefined) {
      const text = this.#pendingSpeakFirst;
      this.#pendingSpeakFirst = undefined;
      this.#sendSpeakFirst(text);
    }
  }

  /**
   * Hot path. The message is built by hand (2.1 → 0.2 µs/frame against the SDK's transform + JSON.stringify)
   * and sent on the SDK's socket (which also gives backpressure); the ring keeps a reference to the same
   * string, so a resumption can re-send what the newest handle does not hold. No copy, no log.
   */
  pushAudio(frame: Buffer): void {
    const state = this.#state;
    if (state !== 'open' && state !== 'resuming') return;
    const msg = AUDIO_MSG_HEAD + frame.toString('base64') + AUDIO_MSG_TAIL;
    const conn = this.#conn;
    if (conn === undefined) {
      this.#policy.ring.push(msg); // resuming: sent when the new connection is up
      return;
    }
    const sent = conn.send(msg);
    if (sent === 'sent') {
      this.sentFrames++;
      this.#policy.ring.push(msg);
    } else if (sent === 'closed') {
      this.#policy.ring.push(msg); // the close is being reported: a resumption re-sends it
    } else if (this.droppedFrames++ === 0) {
      this.#log.warn({ bufferedAmount: conn.bufferedAmount }, 'gemini live socket backed up: dropping caller audio');
    }
  }

  speakFirst(hint?: string): void {
    const greeting = this.#opts.settings.greeting;
    const text =
      hint ??
      (greeting ? `The call has just been answered. Greet the caller by saying: ${greeting}` : DEFAULT_SPEAK_FIRST);
    if (this.#state === 'connecting' || this.#state === 'idle') this.#pendingSpeakFirst = text;
    else if (this.#state === 'open' || this.#state === 'resuming') this.#sendSpeakFirst(text);
  }

  close(): Promise<void> {
    if (this.#closePromise === undefined) this.#closePromise = this.#doClose();
    return this.#closePromise;
  }

  // ---- internals ------------------------------------------------------------------------------

  #connection(handle: string | undefined): LiveConnection {
    const o = this.#opts;
    return new LiveConnection({
      apiKey: o.apiKey,
      model: o.model,
      baseUrl: o.baseUrl,
      config: liveConfig(this.#setup, handle),
      transparent: o.transparent ?? false,
      maxBufferedBytes: o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED,
      pingIntervalMs: o.pingIntervalMs ?? 15000,
      deadAfterMs: o.deadAfterMs ?? 60000,
      logger: this.#log,
    });
  }

  #events(conn: LiveConnection): LiveConnectionEvents {
    return {
      // A connection delivers nothing once closed, so whatever arrives is the current one's (or the one opening).
      message: (msg) => {
        const state = this.#state;
        if (state === 'open' || state === 'connecting' || state === 'resuming') this.#onMessage(msg);
      },
      closed: (code, reason) => {
        if (conn === this.#conn) this.#onClosed(code, reason);
      },
    };
  }

  /** A client message other than audio: numbered like audio, so a resumption re-sends it if needed. */
  #sendSpeakFirst(text: string): void {
    const msg =
      this.#opts.speakFirstVia === 'client-content'
        ? JSON.stringify({ clientContent: { turns: [{ role: 'user', parts: [{ text }] }], turnComplete: true } })
        : JSON.stringify({ realtimeInput: { text } });
    this.#policy.ring.push(msg);
    if (this.#conn !== undefined && !this.#conn.sendAlways(msg)) this.#log.warn('gemini live: speakFirst not sent');
  }

  async #doClose(): Promise<void> {
    const prev = this.#state;
    this.#state = 'closed';
    this.#pendingSpeakFirst = undefined;
    this.#cancelSwitch();
    const conn = this.#conn ?? this.#starting;
    this.#conn = undefined;
    await Promise.all([this.#resumer.stop(), conn?.close()]);
    if (prev === 'open' || prev === 'failed' || prev === 'resuming') {
      const { sentFrames, droppedFrames, resumptions } = this;
      this.#log.info({ sentFrames, droppedFrames, resumptions }, 'gemini live closed');
    }
  }

  #onMessage(msg: LiveServerMessage): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    try {
      if (msg.serverContent !== undefined) this.#turns.serverContent(msg.serverContent, sink);
      if (msg.sessionResumptionUpdate !== undefined) {
        this.#policy.update(msg.sessionResumptionUpdate, this.#state === 'resuming');
      }
      if (msg.toolCall !== undefined) {
        const calls = msg.toolCall.functionCalls ?? [];
        this.#policy.toolCall(calls.map((c) => c.id));
        this.#log.warn({ calls: calls.map((c) => c.name) }, 'gemini live toolCall ignored (no tools configured)');
      }
      if (msg.toolCallCancellation !== undefined) this.#policy.toolDone(msg.toolCallCancellation.ids ?? []);
      if (msg.goAway !== undefined) this.#onGoAway(msg.goAway.timeLeft);
    } catch (e) {
      if (this.#sinkErrors++ === 0) {
        this.#log.error({ err: errorText(e) }, 'gemini live: sink threw while handling a server message');
      }
    }
    if (this.#switchWanted !== undefined && this.#policy.safeToSwitch(this.#turns.replying)) {
      void this.#resume('goAway', this.#switchWanted.since);
    }
  }

  /** The service retires this connection: switch once nothing would be lost, at the latest just before it ends. */
  #onGoAway(timeLeft: string | undefined): void {
    if (this.#switchWanted !== undefined || this.#state !== 'open') return;
    const leftMs = durationMs(timeLeft) ?? 10000;
    this.#log.info({ timeLeft, handle: this.#policy.handle !== undefined }, 'gemini live goAway: switching connection');
    this.#switchWanted = { since: performance.now() };
    this.#switchTimer = setTimeout(
      () => {
        this.#switchTimer = undefined;
        if (this.#switchWanted !== undefined) void this.#resume('goAway (time ran out)', this.#switchWanted.since);
      },
      Math.max(0, leftMs - SWITCH_MARGIN_MS),
    );
  }

  #cancelSwitch(): void {
    clearTimeout(this.#switchTimer);
    this.#switchTimer = undefined;
    this.#switchWanted = undefined;
  }

  #onClosed(code: number, reason: string): void {
    const detail = `${code} ${reason}`.trim();
    if (this.#state !== 'open') return;
    // 1007/1008: the service refuses the request itself (setup, key, a message): a resumption would be refused too.
    if (code === 1007 || code === 1008) {
      this.#fail(`gemini live closed: ${detail}`);
      return;
    }
    const why =
      this.#switchWanted !== undefined
        ? 'goAway'
        : code === 1006
          ? reason.startsWith('ping timeout')
            ? 'ping-timeout'
            : 'drop'
          : String(code);
    void this.#resume(why, performance.now(), `gemini live closed: ${detail}`);
  }

  /**
   * Replace the connection: close the old one first (the service refuses a handle still in use), open one with
   * the newest resumable handle, re-send what the handle does not hold, then carry on. Caller audio meanwhile
   * waits in the ring; audio already queued for the caller keeps playing.
   */
  async #resume(reason: string, since: number, lost?: string): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'resuming';
    this.#cancelSwitch();
    const old = this.#conn;
    this.#conn = undefined;
    const sink = this.#sink!;
    this.#turns.connectionEnded(sink);
    const handle = this.#policy.handle;
    const prefix = lost ?? `gemini live: switching connection (${reason})`;
    await old?.close();
    if (handle === undefined) {
      this.#fail(`${prefix}; resumption impossible: the service sent no resumable handle`);
      return;
    }
    let conn: LiveConnection;
    try {
      conn = await this.#resumer.resume(handle, since, this.#opts.resumeBudgetMs ?? 5000, {
        connection: (h) => this.#connection(h),
        events: (c) => this.#events(c),
        connectTimeoutMs: this.#opts.connectTimeoutMs,
      });
    } catch (e) {
      if ((this.#state as State) === 'closed') return;
      this.#fail(`${prefix}; resumption failed: ${e instanceof ResumeFailed ? e.message : errorText(e)}`);
      return;
    }
    this.#adopt(conn, reason, since);
  }

  #adopt(conn: LiveConnection, reason: string, since: number): void {
    const { ring } = this.#policy;
    const { replayed, missing, base } = ring.replayAfter(this.#policy.covered, (m) => conn.sendAlways(m));
    this.#policy.connectionStarted(base);
    this.#conn = conn;
    this.#state = 'open';
    this.resumptions++;
    const ms = Math.round(performance.now() - since);
    const { attempts } = this.#resumer;
    this.#log.info({ reason, durationMs: ms, attempts, replayed, missing }, 'gemini live session resumed');
    this.#callSink((s) => s.resumed?.({ reason, durationMs: ms }));
  }

  #fail(cause: string): void {
    this.#state = 'failed';
    this.#cancelSwitch();
    this.#conn = undefined;
    this.#log.warn({ cause }, 'gemini live failed');
    this.#callSink((s) => s.failed(cause));
  }

  #callSink(fn: (s: AgentSink) => void): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    try {
      fn(sink);
    } catch (e) {
      this.#log.error({ err: errorText(e) }, 'gemini live: sink threw');
    }
  }
}

/** GeminiLiveAgent options for one call: the environment, overridden by the call's settings. */
export function geminiLiveOptions(
  env: EnvOf<typeof geminiLiveSettings> & EnvOf<typeof googleSettings>,
  settings: AgentSettings,
  logger: Logger,
): GeminiLiveAgentOptions {
  return {
    apiKey: env.GOOGLE_API_KEY ?? '',
    model: settings.geminiModel ?? env.GEMINI_LIVE_MODEL,
    baseUrl: env.GEMINI_BASE_URL,
    connectTimeoutMs: env.GEMINI_CONNECT_TIMEOUT_MS,
    settings,
    logger,
    thinkingLevel: env.GEMINI_THINKING_LEVEL,
    proactiveAudio: env.GEMINI_PROACTIVE_AUDIO,
    compression: {
      triggerTokens: env.GEMINI_COMPRESSION_TRIGGER_TOKENS,
      targetTokens: env.GEMINI_COMPRESSION_TARGET_TOKENS,
    },
    resumeBudgetMs: env.GEMINI_RESUME_BUDGET_MS,
    transparent: env.GEMINI_RESUME_TRANSPARENT,
    pingIntervalMs: env.GEMINI_PING_INTERVAL_MS,
    deadAfterMs: env.GEMINI_DEAD_AFTER_MS,
  };
}

import type { ChannelControl } from '../freeswitch/channel-control.ts';
import type { CallEvent } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { Resampling } from '../media/resampling/resampling.ts';
import { recordMs, type Metrics } from '../metrics.ts';
import type { PaceMemory } from '../playout/arrival-pace.ts';
import { chooseFormat } from '../playout/formats.ts';
import { PlayoutQueue, type PlayoutObserver } from '../playout/playout-queue.ts';
import { SharedDirTransport, StreamAudioTransport, type ChunkTransport } from '../playout/transport.ts';
import { errorText } from '../errors.ts';
import type { CallState } from './call-media.ts';
import type { PlayoutSettings } from './session-settings.ts';

/** The counters and timings a call's playout feeds (part of the session's CallStats). */
export interface PlayoutStats {
  /** First agent audio → first playback command, per reply (ms). */
  firstCommandMs: number[];
  /** Barge-in: agent said `interrupted` → uuid_break written (ms). */
  bargeInMs: number[];
  chunkFailures: number;
}

export interface CallPlayoutDeps {
  callId: string;
  settings: PlayoutSettings;
  control: Pick<ChannelControl, 'play' | 'breakAll'>;
  logger: Logger;
  resampling: Resampling;
  /** Shared by the calls of this callbridge instance (see playout/arrival-pace.ts). */
  pace: PaceMemory;
  stats: PlayoutStats;
  metrics?: Metrics;
  /** The call it plays to: nothing new is queued once the call is ending. */
  call: { readonly state: CallState };
  /** Everything queued has been played: the agent may want to know, a pending hang-up may proceed. */
  playbackIdle(): void;
  /** One reply's pipeline timings, relative to its earliest mark, once the caller hears it. */
  turn(timings: Record<string, number>): void;
  /** The codec the channel writes to the caller when the first reply arrives (chooses the file format). */
  codec(): { readonly name: string | undefined; readonly rate: number | undefined };
  /** The media socket, for PLAYBACK_TRANSPORT=stream. */
  sendText(text: string): boolean;
}

type PlayoutEvent = Extract<CallEvent, { type: 'stream-play' | 'playback-start' | 'execute-complete' }>;

/**
 * A call's agent audio on its way to the caller: the PlayoutQueue (created with the first reply, when the
 * codec is known), its transport, the metrics it reports and the timings of each turn.
 */
export class CallPlayout {
  readonly #d: CallPlayoutDeps;
  #queue: PlayoutQueue | undefined;
  #transport: ChunkTransport | undefined;
  /** Pipeline marks of the reply in progress (agent stages + playout), logged once it is heard. */
  #turnMarks: Record<string, number> | undefined;

  constructor(deps: CallPlayoutDeps) {
    this.#d = deps;
  }

  /** Agent audio (the AgentSink's `audio` itself: no hop between the agent and the queue). */
  readonly audio = (pcm: Buffer, rate: number): void => {
    const { state } = this.#d.call;
    if (state === 'ending' || state === 'ended') return;
    (this.#queue ?? this.#create(rate)).push(pcm, rate);
  };

  /** Nothing is queued or playing. */
  get idle(): boolean {
    return !this.#queue || this.#queue.idle;
  }

  /** What the caller has heard of the current reply (AgentSink `playback`). */
  playback(): { playing: boolean; heardMs: number } {
    return { playing: this.#queue ? !this.#queue.idle : false, heardMs: this.#queue?.heardMs ?? 0 };
  }

  endReply(): void {
    this.#queue?.endReply();
  }

  interrupt(): void {
    this.#queue?.interrupt();
  }

  /** The agent's pipeline marks for the reply about to start. */
  replyTimings(marks: Record<string, number>): void {
    this.#turnMarks = { ...marks };
  }

  /** FreeSWITCH's playback events for this channel. */
  onEvent(e: PlayoutEvent): void {
    if (e.type === 'stream-play') {
      if (this.#transport instanceof StreamAudioTransport) this.#transport.played(e.data, e.file);
    } else if (e.type === 'playback-start') this.#queue?.started(e.path);
    else if (e.app === 'playback') this.#queue?.finished(e.appData, e.response);
  }

  /** The ESL connection dropped: playback commands in flight will not be reported. */
  eslDisconnected(): void {
    this.#queue?.forgetCommanded();
  }

  /** Release the queue's files and converters (or the transport, if no reply ever came). */
  async close(): Promise<void> {
    await (this.#queue?.close() ?? this.#transport?.close());
  }

  /** Log one turn's timings relative to the earliest mark (the caller stopping, for the cascade). */
  #logTurn(playbackStartedAt: number): void {
    const marks = this.#turnMarks;
    this.#turnMarks = undefined;
    if (!marks) return;
    marks.playbackStartAt = playbackStartedAt;
    const t0 = Math.min(...Object.values(marks));
    const rel: Record<string, number> = {};
    for (const [k, v] of Object.entries(marks)) rel[k.replace(/At$/, 'Ms')] = Math.round(v - t0);
    this.#d.turn(rel);
    this.#d.logger.info(rel, 'turn timings');
  }

  #create(sourceRate: number): PlayoutQueue {
    const { settings, control, metrics, stats, logger } = this.#d;
    const codec = this.#d.codec();
    const format = chooseFormat(settings.format, {
      codec: codec.name,
      codecRate: codec.rate,
      sourceRate,
      transport: settings.transport,
    });
    this.#transport =
      settings.transport === 'stream'
        ? new StreamAudioTransport({ send: this.#d.sendText })
        : new SharedDirTransport({
            localDir: settings.dir,
            freeswitchDir: settings.freeswitchDir,
            callUuid: this.#d.callId,
            sync: settings.dirOnTmpfs,
          });
    const observer: PlayoutObserver = {
      firstCommand: (ms) => {
        stats.firstCommandMs.push(ms);
        // Agents that report their pipeline (the cascade) set marks before their audio; others get the
        // reply's own: first agent audio → first playback command → PLAYBACK_START.
        const now = performance.now();
        this.#turnMarks ??= { agentAudioAt: now - ms };
        this.#turnMarks.firstCommandAt = now;
        if (metrics) recordMs(metrics.firstCommand, ms);
      },
      firstPlayback: (ms) => {
        this.#logTurn(performance.now());
        if (metrics) recordMs(metrics.firstPlayback, ms);
      },
      interrupted: (broke, ms) => {
        if (!broke) return;
        stats.bargeInMs.push(ms);
        if (metrics) recordMs(metrics.bargeIn, ms);
      },
      idle: () => this.#d.playbackIdle(),
      resamplerFallback: () => metrics?.resamplerFallbacks.inc(),
      written: metrics ? (ms) => recordMs(metrics.chunkWrite, ms) : undefined,
      chunkFailed: (reason) => {
        metrics?.chunkFailures.inc();
        if (stats.chunkFailures++ === 0) logger.warn({ reason }, 'a playback chunk failed; counting further ones');
      },
    };
    this.#queue = new PlayoutQueue({
      format,
      transport: this.#transport,
      control: {
        play: (path, id) => {
          metrics?.chunks.inc();
          return control.play(path, id, settings.method);
        },
        stopAll: () => {
          control.breakAll().catch((err) => logger.warn({ err: errorText(err) }, 'uuid_break failed'));
        },
      },
      resampling: this.#d.resampling,
      pace: this.#d.pace,
      firstChunkMs: settings.firstChunkMs,
      chunkMs: settings.chunkMs,
      lowWaterMs: settings.lowWaterMs,
      maxAheadMs: settings.maxAheadMs,
      observer,
    });
    const { method, transport } = settings;
    logger.info({ format: format.kind, rate: format.sampleRate, transport, method }, 'playout ready');
    return this.#queue;
  }
}

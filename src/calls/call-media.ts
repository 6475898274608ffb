import { randomBytes } from 'node:crypto';
import type { Agent } from '../agents/agent.ts';
import type { ChannelControl } from '../freeswitch/channel-control.ts';
import type { CallEvent } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import { recordMs, type Metrics } from '../metrics.ts';
import { errorText } from '../errors.ts';
import { safeEqual } from '../secrets.ts';
import { MEDIA_CLOSE, type MediaAttachResult, type MediaConnection, type MediaSink } from './media-port.ts';
import type { StreamSettings } from './session-settings.ts';

export type CallState = 'starting' | 'active' | 'ending' | 'ended';

/** The counters a call's media socket feeds (part of the session's CallStats). */
export interface MediaStats {
  framesIn: number;
  badFrames: number;
}

/** The call a media stream belongs to. */
export interface MediaCall {
  readonly state: CallState;
  end(reason: string): Promise<void>;
}

export interface CallMediaDeps {
  callId: string;
  settings: StreamSettings;
  control: Pick<ChannelControl, 'setVariables' | 'startStream' | 'stopStream'>;
  logger: Logger;
  stats: MediaStats;
  metrics?: Metrics;
  call: MediaCall;
  /** The codec the channel writes to the caller, as known when the call was picked up. */
  codec: { name: string | undefined; rate: number | undefined };
}

type StreamEvent = Extract<CallEvent, { type: 'stream-connect' | 'stream-error' | 'stream-disconnect' }>;

/**
 * A call's media stream: `uuid_audio_stream` set-up (one retry), the WebSocket mod_audio_stream opens for it
 * (checked against the call's secret), and a stream lost mid-call (restarted once, else the call ends).
 * Caller frames go straight from the socket to the agent's `pushAudio`.
 */
export class CallMedia {
  readonly #d: CallMediaDeps;
  readonly #log: Logger;
  readonly #secret = randomBytes(18).toString('base64url');
  #agent: Agent | undefined;
  #conn: MediaConnection | undefined;
  #codec: { name: string | undefined; rate: number | undefined };
  #pending: { resolve(): void; reject(err: Error): void; timer: NodeJS.Timeout } | undefined;
  #restarts = 0;
  #graceTimer: NodeJS.Timeout | undefined;

  constructor(deps: CallMediaDeps) {
    this.#d = deps;
    this.#log = deps.logger;
    this.#codec = { ...deps.codec };
  }

  /** The URL mod_audio_stream connects to: names the call and carries its secret. */
  get url(): string {
    return `${this.#d.settings.wsUrl}/stream/${this.#d.callId}?token=${this.#secret}`;
  }

  /** The codec the channel writes to the caller (updated when the stream connects). */
  get codec(): { readonly name: string | undefined; readonly rate: number | undefined } {
    return this.#codec;
  }

  /** A media socket is open. */
  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /** Start streaming caller audio to `agent` at its rate; retried once while the call is starting. */
  async setUp(agent: Agent): Promise<void> {
    this.#agent = agent;
    const { control, settings } = this.#d;
    // mod_audio_stream leaves these uninitialised unless set. PCM does not compress: no deflate.
    // playback stops on a caller's `*` by default; digits are the session's to act on (DTMF_BARGE_IN).
    await control.setVariables({
      playback_terminators: 'none',
      STREAM_MESSAGE_DEFLATE: 'false',
      STREAM_HEART_BEAT: String(settings.heartbeatSeconds),
      STREAM_BUFFER_SIZE: String(settings.frameMs),
    });
    try {
      await this.#start(agent.inputSampleRate);
    } catch (first) {
      if (this.#d.call.state !== 'starting') throw first;
      this.#log.warn({ err: errorText(first) }, 'media stream did not connect; retrying once');
      await this.#start(agent.inputSampleRate, true);
    }
  }

  /**
   * `stop` (if retrying) then `start`; resolved by mod_audio_stream::connect, rejected by ::error,
   * ::disconnect or the connect timeout.
   */
  async #start(rate: 8000 | 16000, restart = false): Promise<void> {
    const { control, settings } = this.#d;
    if (restart) await control.stopStream().catch(() => {});
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending = undefined;
        reject(new Error(`no mod_audio_stream::connect within ${settings.connectTimeoutMs} ms`));
      }, settings.connectTimeoutMs);
      this.#pending = { resolve, reject, timer };
    });
    // halt() may reject it while the start command is still in flight, before anything awaits it.
    connected.catch(() => {});
    try {
      await control.startStream(this.url, rate, { call: this.#d.callId });
    } catch (err) {
      this.#settle(err as Error);
      throw err;
    }
    await connected;
  }

  #settle(err?: Error): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve();
  }

  /** mod_audio_stream's events for this channel. */
  onEvent(e: StreamEvent): void {
    if (e.type === 'stream-connect') {
      this.#codec = { name: e.channel.writeCodec ?? this.#codec.name, rate: e.channel.writeRate ?? this.#codec.rate };
      return this.#settle();
    }
    const what = `mod_audio_stream ${e.type.slice(7)} ${e.code ?? ''} ${e.reason}`;
    if (this.#pending) return this.#settle(new Error(what.trim()));
    this.lost(what);
  }

  /** A media socket for this call arrived. */
  attach(token: string, conn: MediaConnection): MediaAttachResult {
    if (!safeEqual(token, this.#secret)) return { ok: false, code: MEDIA_CLOSE.badToken, reason: 'bad token' };
    const { state } = this.#d.call;
    if (state === 'ending' || state === 'ended') {
      return { ok: false, code: MEDIA_CLOSE.unknownCall, reason: 'call ended' };
    }
    // A restart: the old socket is finished.
    if (this.#conn) this.#conn.close(MEDIA_CLOSE.replaced, 'replaced by a new stream');
    this.#conn = conn;
    clearTimeout(this.#graceTimer);
    return { ok: true, sink: this.#sink(conn) };
  }

  #sink(conn: MediaConnection): MediaSink {
    const { stats, metrics, call } = this.#d;
    const ingest = metrics?.ingest;
    return {
      // The hot path: one call per mod_audio_stream message. Every 8th is timed for the ingest metric.
      audio: (frame) => {
        if ((++stats.framesIn & 7) !== 0 || !ingest) return void this.#agent?.pushAudio(frame);
        const t0 = performance.now();
        this.#agent?.pushAudio(frame);
        recordMs(ingest, performance.now() - t0);
      },
      text: (text) => this.#log.debug({ text: text.slice(0, 200) }, 'media text'),
      badFrame: (bytes) => {
        metrics?.badFrames.inc();
        if (stats.badFrames++ === 0) {
          this.#log.warn({ bytes }, 'dropped malformed audio frame (empty or odd length); counting further ones');
        }
      },
      closed: (code, reason) => {
        if (this.#conn !== conn) return;
        this.#conn = undefined;
        if (call.state !== 'active') return;
        const why = `media socket closed ${code} ${reason}`.trim();
        this.#graceTimer = setTimeout(() => this.lost(why), this.#d.settings.closeGraceMs);
      },
    };
  }

  /** The stream dropped mid-call: restart it once, else end the call. */
  lost(reason: string): void {
    const { call } = this.#d;
    if (call.state !== 'active' || !this.#agent) return;
    if (this.#restarts++ >= 1) return void call.end(`media stream lost: ${reason}`);
    this.#log.warn({ reason }, 'media stream lost; restarting it');
    this.#start(this.#agent.inputSampleRate, true).catch((err) =>
      call.end(`media stream lost: ${reason}; restart failed: ${errorText(err)}`),
    );
  }

  /** Send a text frame over the media socket; false if none is open. */
  sendText(text: string): boolean {
    return this.#conn?.sendText(text) ?? false;
  }

  /** The call is ending: no restart, no set-up still waiting. */
  halt(reason: string): void {
    clearTimeout(this.#graceTimer);
    this.#settle(new Error(`call ending: ${reason}`));
  }

  /** Close the media socket (after the channel was hung up). */
  close(): void {
    this.#conn?.close(1000, 'call ended');
    this.#conn = undefined;
  }
}

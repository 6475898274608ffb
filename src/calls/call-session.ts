import { randomBytes } from 'node:crypto';
import type { Agent, AgentSink, Speaker } from '../agents/agent.ts';
import type { Config } from '../config.ts';
import type { ChannelControl } from '../freeswitch/channel-control.ts';
import { EslNotConnectedError } from '../freeswitch/esl.ts';
import type { CallEvent, ChannelInfo } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { Resampling } from '../media/resampling/resampling.ts';
import { chooseFormat } from '../playout/formats.ts';
import { PlayoutQueue, type PlayoutObserver } from '../playout/playout-queue.ts';
import { SharedDirTransport, StreamAudioTransport, type ChunkTransport } from '../playout/transport.ts';
import { MEDIA_CLOSE, type MediaAttachResult, type MediaConnection, type MediaSink } from './media-port.ts';
import { recordMs, type Metrics } from '../metrics.ts';
import { finalStatus, type CallRecord, type TranscriptEntry } from '../store/call-record.ts';
import type { CallRegistry } from './call-registry.ts';
import { openingHint, type CallSettings } from './call-settings.ts';
import { errorText } from '../errors.ts';
import { safeEqual } from '../secrets.ts';

export type CallState = 'starting' | 'active' | 'ending' | 'ended';

export interface CallStats {
  framesIn: number;
  badFrames: number;
  replies: number;
  bargeIns: number;
  /** First agent audio → first playback command, per reply (ms). */
  firstCommandMs: number[];
  /** Barge-in: agent said `interrupted` → uuid_break written (ms). */
  bargeInMs: number[];
  chunkFailures: number;
}

export interface SessionDeps {
  config: Config;
  control: ChannelControl;
  logger: Logger;
  registry: CallRegistry;
  /** How this call is answered (env defaults, callback URL, profile, channel variables). */
  resolveSettings(): Promise<CallSettings>;
  createAgent(settings: CallSettings): Agent;
  resampling: Resampling;
  onEnded(session: CallSession): void;
  metrics?: Metrics;
  /** PLAYBACK_DIR is tmpfs: chunk files are written synchronously (see SharedDirTransport). */
  playbackOnTmpfs?: boolean;
}

/**
 * One phone call: its FreeSWITCH channel, its media socket, its agent and its playout queue. Everything a
 * call owns is created here and released in `end()`, whoever ends the call.
 *
 * A caller's frame: media socket → `MediaSink.audio` → `agent.pushAudio`. An agent's reply: AgentSink →
 * PlayoutQueue → file + playback command through ChannelControl.
 */
export class CallSession {
  readonly id: string;
  readonly channel: ChannelInfo;
  readonly record: CallRecord;
  readonly createdAt = Date.now();
  readonly stats: CallStats = { framesIn: 0, badFrames: 0, replies: 0, bargeIns: 0, firstCommandMs: [], bargeInMs: [], chunkFailures: 0 };
  state: CallState = 'starting';
  endedAt: number | undefined;
  endReason: string | undefined;
  agentKind: string | undefined;

  readonly #d: SessionDeps;
  readonly #log: Logger;
  readonly #secret = randomBytes(18).toString('base64url');
  #agent: Agent | undefined;
  #playout: PlayoutQueue | undefined;
  #transport: ChunkTransport | undefined;
  #media: MediaConnection | undefined;
  #codec: { name: string | undefined; rate: number | undefined };
  #stream: { resolve(): void; reject(err: Error): void; timer: NodeJS.Timeout } | undefined;
  #streamRestarts = 0;
  #mediaGraceTimer: NodeJS.Timeout | undefined;
  #hangupWhenIdle: string | undefined;
  #openUtterance: Partial<Record<Speaker, TranscriptEntry>> = {};
  /** Pipeline marks of the reply in progress (agent stages + playout), logged once it is heard. */
  #turnMarks: Record<string, number> | undefined;
  #hangupCause: string | undefined;

  constructor(channel: ChannelInfo, record: CallRecord, deps: SessionDeps) {
    this.id = channel.uuid;
    this.channel = channel;
    this.record = record;
    this.#d = deps;
    this.#log = deps.logger;
    this.#codec = { name: channel.writeCodec, rate: channel.writeRate };
  }

  /** Both sides of the conversation so far (the record's transcript). */
  get transcript(): TranscriptEntry[] {
    return this.record.transcript;
  }

  /** The URL mod_audio_stream connects to: names the call and carries its secret. */
  get streamUrl(): string {
    return `${this.#d.config.CALLBRIDGE_WS_URL}/stream/${this.id}?token=${this.#secret}`;
  }

  /**
   * Answer (if needed) while deciding how to answer; then connect the agent and the media stream in
   * parallel; end the call if either cannot be had. Outbound calls (and configured greetings) make the
   * agent speak first.
   */
  async start(): Promise<void> {
    const { channel } = this;
    const { control, registry } = this.#d;
    this.#log.info({ direction: channel.direction, from: channel.callerNumber, to: channel.destination }, 'call picked up');
    try {
      const [answer, decided] = await Promise.allSettled([channel.answered ? Promise.resolve() : control.answer(), this.#d.resolveSettings()]);
      if (this.state !== 'starting') return;
      if (answer.status === 'rejected') return void this.end(`answer failed: ${errorText(answer.reason)}`);
      if (decided.status === 'rejected') return void this.end(`call settings failed: ${errorText(decided.reason)}`);
      const settings = decided.value;
      registry.setStatus(this.id, 'answered', { pipeline: settings.pipeline, voice: settings.voice, language: settings.language });
      const agent = this.#d.createAgent(settings);
      this.#agent = agent;
      this.agentKind = agent.kind;
      this.#log.info({ agent: agent.kind, voice: settings.voice, language: settings.language }, 'agent chosen');
      const [agentResult, mediaResult] = await Promise.allSettled([agent.start(this.#sink), this.#setUpStream(agent.inputSampleRate)]);
      if (this.state !== 'starting') return;
      if (mediaResult.status === 'rejected') return void this.end(`media stream failed: ${errorText(mediaResult.reason)}`);
      if (agentResult.status === 'rejected') return void this.end(`agent failed to start: ${errorText(agentResult.reason)}`);
      this.state = 'active';
      this.#log.info({ streamRate: agent.inputSampleRate }, 'call active');
      // The stream connected but its socket closed while the agent was still starting: handle it now.
      if (!this.#media) this.#streamLost('media socket closed during setup');
      const hint = openingHint(settings, channel.direction);
      if (hint) agent.speakFirst?.(hint);
    } catch (err) {
      void this.end(`call setup failed: ${errorText(err)}`);
    }
  }

  async #setUpStream(rate: 8000 | 16000): Promise<void> {
    const { control, config } = this.#d;
    // mod_audio_stream leaves these uninitialised unless set. PCM does not compress: no deflate.
    await control.setVariables({
      STREAM_MESSAGE_DEFLATE: 'false',
      STREAM_HEART_BEAT: String(config.STREAM_HEARTBEAT_SECONDS),
      STREAM_BUFFER_SIZE: String(config.STREAM_FRAME_MS),
    });
    try {
      await this.#startStream(rate);
    } catch (first) {
      if (this.state !== 'starting') throw first;
      this.#log.warn({ err: errorText(first) }, 'media stream did not connect; retrying once');
      await this.#startStream(rate, true);
    }
  }

  /** `stop` (if retrying) then `start`, resolved by mod_audio_stream::connect, rejected by ::error/::disconnect/timeout. */
  async #startStream(rate: 8000 | 16000, restart = false): Promise<void> {
    const { control, config } = this.#d;
    if (restart) await control.stopStream().catch(() => {});
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#stream = undefined;
        reject(new Error(`no mod_audio_stream::connect within ${config.STREAM_CONNECT_TIMEOUT_MS} ms`));
      }, config.STREAM_CONNECT_TIMEOUT_MS);
      this.#stream = { resolve, reject, timer };
    });
    // end() may reject it while the start command is still in flight, before anything awaits it.
    connected.catch(() => {});
    try {
      await control.startStream(this.streamUrl, rate, { call: this.id });
    } catch (err) {
      this.#settleStream(err as Error);
      throw err;
    }
    await connected;
  }

  #settleStream(err?: Error): void {
    const s = this.#stream;
    if (!s) return;
    this.#stream = undefined;
    clearTimeout(s.timer);
    if (err) s.reject(err);
    else s.resolve();
  }

  /** ESL events for this channel, routed here by the call manager. */
  onEvent(e: CallEvent): void {
    switch (e.type) {
      case 'stream-connect':
        this.#codec = { name: e.channel.writeCodec ?? this.#codec.name, rate: e.channel.writeRate ?? this.#codec.rate };
        this.#settleStream();
        return;
      case 'stream-error':
      case 'stream-disconnect':
        if (this.#stream) return this.#settleStream(new Error(`mod_audio_stream ${e.type.slice(7)} ${e.code ?? ''} ${e.reason}`.trim()));
        return this.#streamLost(`mod_audio_stream ${e.type.slice(7)} ${e.code ?? ''} ${e.reason}`);
      case 'stream-play':
        if (this.#transport instanceof StreamAudioTransport) this.#transport.played(e.data, e.file);
        return;
      case 'playback-start':
        this.#playout?.started(e.path);
        return;
      case 'execute-complete':
        if (e.app === 'playback') this.#playout?.finished(e.appData, e.response);
        return;
      case 'hangup':
        this.#hangupCause = e.cause;
        void this.end(`hangup: ${e.cause}${e.disposition ? ` (${e.disposition})` : ''}`, { hangup: false });
        return;
      case 'dtmf':
        this.#log.debug({ digit: e.digit }, 'dtmf');
        return;
    }
  }

  /** A media socket for this call arrived (routed by the call manager after the secret matched). */
  attachMedia(token: string, conn: MediaConnection): MediaAttachResult {
    if (!safeEqual(token, this.#secret)) return { ok: false, code: MEDIA_CLOSE.badToken, reason: 'bad token' };
    if (this.state === 'ending' || this.state === 'ended') return { ok: false, code: MEDIA_CLOSE.unknownCall, reason: 'call ended' };
    if (this.#media) this.#media.close(MEDIA_CLOSE.replaced, 'replaced by a new stream'); // a restart: the old socket is finished
    this.#media = conn;
    clearTimeout(this.#mediaGraceTimer);
    return { ok: true, sink: this.#mediaSink(conn) };
  }

  #mediaSink(conn: MediaConnection): MediaSink {
    const stats = this.stats;
    const ingest = this.#d.metrics?.ingest;
    return {
      // The hot path: one call per mod_audio_stream message (STREAM_FRAME_MS). Every 8th is timed for the ingest metric.
      audio: (frame) => {
        if ((++stats.framesIn & 7) !== 0 || !ingest) return void this.#agent?.pushAudio(frame);
        const t0 = performance.now();
        this.#agent?.pushAudio(frame);
        recordMs(ingest, performance.now() - t0);
      },
      text: (text) => this.#log.debug({ text: text.slice(0, 200) }, 'media text'),
      badFrame: (bytes) => {
        this.#d.metrics?.badFrames.inc();
        if (stats.badFrames++ === 0) this.#log.warn({ bytes }, 'dropped malformed audio frame (empty or odd length); counting further ones');
      },
      closed: (code, reason) => {
        if (this.#media !== conn) return;
        this.#media = undefined;
        if (this.state !== 'active') return;
        // A hangup closes the socket too and its CHANNEL_HANGUP is on its way: give it a moment.
        this.#mediaGraceTimer = setTimeout(() => this.#streamLost(`media socket closed ${code} ${reason}`.trim()), 1500);
      },
    };
  }

  /** The stream dropped mid-call: restart it once, else end the call. */
  #streamLost(reason: string): void {
    if (this.state !== 'active') return;
    if (this.#streamRestarts++ >= 1) return void this.end(`media stream lost: ${reason}`);
    this.#log.warn({ reason }, 'media stream lost; restarting it');
    this.#startStream(this.#agent!.inputSampleRate, true).catch((err) => this.end(`media stream lost: ${reason}; restart failed: ${errorText(err)}`));
  }

  /** What agents talk to. */
  readonly #sink: AgentSink = {
    audio: (pcm, rate) => {
      if (this.state === 'ending' || this.state === 'ended') return;
      (this.#playout ?? this.#createPlayout(rate)).push(pcm, rate);
    },
    replyDone: () => {
      this.stats.replies++;
      this.#playout?.endReply();
    },
    interrupted: () => {
      this.stats.bargeIns++;
      this.#playout?.interrupt();
      this.#closeUtterance('agent');
    },
    transcript: (speaker, text, final) => this.#transcript(speaker, text, final),
    hangup: (reason) => {
      this.#log.info({ reason }, 'agent asked to hang up');
      this.#hangupWhenIdle = reason;
      if (!this.#playout || this.#playout.idle) void this.end(`agent hung up: ${reason}`);
    },
    failed: (cause) => void this.end(`agent failed: ${cause}`),
    playback: () => ({ playing: this.#playout ? !this.#playout.idle : false, heardMs: this.#playout?.heardMs ?? 0 }),
    replyTimings: (marks) => {
      this.#turnMarks = { ...marks };
    },
  };

  /** Log one turn's timings relative to the earliest mark (the caller stopping, for the cascade). */
  #logTurn(playbackStartedAt: number): void {
    const marks = this.#turnMarks;
    this.#turnMarks = undefined;
    if (!marks) return;
    marks.playbackStartAt = playbackStartedAt;
    const t0 = Math.min(...Object.values(marks));
    const rel: Record<string, number> = {};
    for (const [k, v] of Object.entries(marks)) rel[k.replace(/At$/, 'Ms')] = Math.round(v - t0);
    this.#d.registry.turn(this.id, rel);
    this.#log.info(rel, 'turn timings');
  }

  #createPlayout(sourceRate: number): PlayoutQueue {
    const { config, control } = this.#d;
    const format = chooseFormat(config.PLAYBACK_FORMAT, { codec: this.#codec.name, codecRate: this.#codec.rate, sourceRate, transport: config.PLAYBACK_TRANSPORT });
    this.#transport =
      config.PLAYBACK_TRANSPORT === 'stream'
        ? new StreamAudioTransport({ send: (t) => this.#media?.sendText(t) ?? false })
        : new SharedDirTransport({ localDir: config.PLAYBACK_DIR, freeswitchDir: config.PLAYBACK_DIR_FREESWITCH, callUuid: this.id, sync: this.#d.playbackOnTmpfs });
    const metrics = this.#d.metrics;
    const observer: PlayoutObserver = {
      firstCommand: (ms) => {
        this.stats.firstCommandMs.push(ms);
        // Agents that report their pipeline (the cascade) set marks before their audio; others get the reply's
        // own: first agent audio → first playback command → PLAYBACK_START.
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
        this.stats.bargeInMs.push(ms);
        if (metrics) recordMs(metrics.bargeIn, ms);
      },
      idle: () => {
        this.#agent?.playbackIdle?.();
        if (this.#hangupWhenIdle) void this.end(`agent hung up: ${this.#hangupWhenIdle}`);
      },
      resamplerFallback: () => metrics?.resamplerFallbacks.inc(),
      written: metrics ? (ms) => recordMs(metrics.chunkWrite, ms) : undefined,
      chunkFailed: (reason) => {
        metrics?.chunkFailures.inc();
        if (this.stats.chunkFailures++ === 0) this.#log.warn({ reason }, 'a playback chunk failed; counting further ones');
      },
    };
    this.#playout = new PlayoutQueue({
      format,
      transport: this.#transport,
      control: {
        play: (path, id) => {
          metrics?.chunks.inc();
          return control.play(path, id, config.PLAYBACK_METHOD);
        },
        stopAll: () => void control.breakAll().catch((err) => this.#log.warn({ err: errorText(err) }, 'uuid_break failed')),
      },
      resampling: this.#d.resampling,
      firstChunkMs: config.PLAYBACK_FIRST_CHUNK_MS,
      chunkMs: config.PLAYBACK_CHUNK_MS,
      lowWaterMs: config.PLAYBACK_LOW_WATER_MS,
      maxAheadMs: config.PLAYBACK_MAX_AHEAD_MS,
      observer,
    });
    this.#log.info({ format: format.kind, rate: format.sampleRate, transport: config.PLAYBACK_TRANSPORT, method: config.PLAYBACK_METHOD }, 'playout ready');
    return this.#playout;
  }

  #transcript(speaker: Speaker, text: string, final: boolean): void {
    let entry = this.#openUtterance[speaker];
    if (!entry) {
      entry = { speaker, text, at: Date.now(), final: false };
      this.record.transcript.push(entry);
      this.#openUtterance[speaker] = entry;
    }
    entry.text = text;
    if (final) this.#closeUtterance(speaker);
    else this.#d.registry.transcript(this.id, entry);
  }

  #closeUtterance(speaker: Speaker): void {
    const entry = this.#openUtterance[speaker];
    if (!entry) return;
    entry.final = true;
    delete this.#openUtterance[speaker];
    this.#d.registry.transcript(this.id, entry);
    this.#log.debug({ speaker, text: entry.text }, 'utterance');
  }

  /** The ESL connection dropped: playback commands in flight will not be reported. */
  eslDisconnected(): void {
    this.#playout?.forgetCommanded();
  }

  /**
   * End the call and release everything it holds. Idempotent. `hangup: false` when FreeSWITCH already
   * hung up (or the channel is gone).
   */
  async end(reason: string, opts: { hangup?: boolean } = {}): Promise<void> {
    if (this.state === 'ending' || this.state === 'ended') return;
    const wasActive = this.state === 'active';
    this.state = 'ending';
    this.endReason = reason;
    clearTimeout(this.#mediaGraceTimer);
    this.#settleStream(new Error(`call ending: ${reason}`));
    const { control, registry } = this.#d;
    // Without ESL nobody can hang the channel up or say how it ended: FreeSWITCH went away (or is unreachable).
    let connectionLost = false;
    if (opts.hangup !== false) {
      connectionLost = await control.hangup().then(
        () => false,
        (err: unknown) => {
          this.#log.warn({ err: errorText(err) }, 'hangup command failed');
          return err instanceof EslNotConnectedError;
        },
      );
      if (!connectionLost) this.#hangupCause ??= 'NORMAL_CLEARING';
    }
    this.#media?.close(1000, 'call ended');
    this.#media = undefined;
    for (const s of ['caller', 'agent'] as const) this.#closeUtterance(s);
    await Promise.allSettled([this.#agent?.close(), this.#playout?.close() ?? this.#transport?.close()]);
    this.state = 'ended';
    this.endedAt = Date.now();
    const answered = registry.live(this.id)?.answeredAt !== undefined;
    if (connectionLost) {
      this.endReason = `FreeSWITCH connection lost (${reason})`;
      registry.setStatus(this.id, 'failed', { endReason: this.endReason, endedAt: this.endedAt });
    } else {
      registry.setStatus(this.id, finalStatus(this.#hangupCause, answered), { hangupCause: this.#hangupCause, endReason: reason, endedAt: this.endedAt });
    }
    const level = wasActive || reason.startsWith('hangup') ? 'info' : 'warn';
    this.#log[level]({ reason, durationMs: this.endedAt - this.createdAt, ...this.#summary() }, 'call ended');
    this.#d.onEnded(this);
  }

  #summary() {
    const s = this.stats;
    return { framesIn: s.framesIn, badFrames: s.badFrames, replies: s.replies, bargeIns: s.bargeIns, chunkFailures: s.chunkFailures };
  }
}

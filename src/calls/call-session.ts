import type { Agent, AgentSink } from '../agents/agent.ts';
import type { ChannelControl } from '../freeswitch/channel-control.ts';
import { EslNotConnectedError } from '../freeswitch/esl.ts';
import type { CallEvent, ChannelInfo } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { Resampling } from '../media/resampling/resampling.ts';
import type { PaceMemory } from '../playout/arrival-pace.ts';
import type { Metrics } from '../metrics.ts';
import { finalStatus, type CallRecord, type TranscriptEntry } from '../store/call-record.ts';
import { errorText } from '../errors.ts';
import type { CallBook } from './call-book.ts';
import { CallApology } from './call-apology.ts';
import type { CallControl as CallActionsControl, CallControlHooks } from './call-control.ts';
import { CallLimits, DEFAULT_LIMITS, speak } from './call-limits.ts';
import { CallMedia, type CallState, type MediaStats } from './call-media.ts';
import { CallPlayout, type PlayoutStats } from './call-playout.ts';
import { openingHint, type CallSettings } from './call-settings.ts';
import { CallTranscript } from './call-transcript.ts';
import { callToolRunner, fallbackActions } from './call-tools.ts';
import type { ToolRunner } from './tools/tool-runner.ts';
import type { MediaAttachResult, MediaConnection } from './media-port.ts';
import type { SessionSettings } from './session-settings.ts';
import { DEFAULT_DTMF, DtmfCollector, dtmfNotice } from './dtmf-collector.ts';

export type { CallState };

export interface CallStats extends MediaStats, PlayoutStats {
  replies: number;
  bargeIns: number;
}

/** The commands a session sends to its channel (ChannelControl). */
export type CallControl = Pick<
  ChannelControl,
  'answer' | 'setVariables' | 'startStream' | 'stopStream' | 'play' | 'breakAll' | 'hangup'
>;

export interface SessionDeps {
  settings: SessionSettings;
  control: CallControl;
  logger: Logger;
  book: CallBook;
  /** How this call is answered (env defaults, callback URL, profile, channel variables). */
  resolveSettings(): Promise<CallSettings>;
  createAgent(settings: CallSettings): Agent;
  resampling: Resampling;
  /** Shared by the calls of this callbridge instance (see playout/arrival-pace.ts). */
  pace: PaceMemory;
  onEnded(session: CallSession): void;
  metrics?: Metrics;
  /** The call's actions (end after playback, transfer, DTMF), given the session's own ways of ending. */
  createActions?(hooks: CallControlHooks): CallActionsControl;
}

/**
 * One phone call's life: picked up, answered, its agent and media stream connected, active, ended. Everything
 * a call owns is created here and released in `end()`, whoever ends the call. The media stream (CallMedia),
 * the playout of the agent's audio (CallPlayout) and the transcript (CallTranscript) do the rest.
 *
 * A caller's frame: media socket → `MediaSink.audio` (CallMedia) → `agent.pushAudio`. An agent's reply:
 * `AgentSink.audio` (CallPlayout) → PlayoutQueue → file + playback command through ChannelControl.
 */
export class CallSession {
  readonly id: string;
  readonly channel: ChannelInfo;
  readonly record: CallRecord;
  readonly createdAt = Date.now();
  readonly stats: CallStats = {
    framesIn: 0,
    badFrames: 0,
    replies: 0,
    bargeIns: 0,
    firstCommandMs: [],
    bargeInMs: [],
    chunkFailures: 0,
  };
  state: CallState = 'starting';
  endedAt: number | undefined;
  endReason: string | undefined;
  agentKind: string | undefined;
  /** What tools and the call-control API can make this call do (CallActions); absent without ESL wiring. */
  readonly actions: CallActionsControl | undefined;

  readonly #d: SessionDeps;
  readonly #log: Logger;
  readonly #media: CallMedia;
  readonly #playout: CallPlayout;
  readonly #transcript: CallTranscript;
  readonly #apology: CallApology;
  readonly #sink: AgentSink;
  #agent: Agent | undefined;
  #hangupWhenIdle: string | undefined;
  #hangupCause: string | undefined;
  /** Runs the agent's tool calls (calls/call-tools.ts); made once the call's settings are known. */
  #tools: ToolRunner | undefined;
  /** Set once a transfer succeeded: the caller is someone else's now. */
  #transferredTo: string | undefined;
  #dtmf: DtmfCollector | undefined;
  #limits: CallLimits | undefined;
  /** A digit broke off the reply: the rest of it is not played while the caller is still pressing keys. */
  #holdAudio = false;

  constructor(channel: ChannelInfo, record: CallRecord, deps: SessionDeps) {
    this.id = channel.uuid;
    this.channel = channel;
    this.record = record;
    this.#d = deps;
    const log = deps.logger;
    this.#log = log;
    const { control, metrics, book } = deps;
    this.#media = new CallMedia({
      callId: this.id,
      settings: deps.settings.stream,
      control,
      logger: log,
      stats: this.stats,
      metrics,
      call: this,
      codec: { name: channel.writeCodec, rate: channel.writeRate },
    });
    this.#playout = new CallPlayout({
      callId: this.id,
      settings: deps.settings.playout,
      control,
      logger: log,
      resampling: deps.resampling,
      pace: deps.pace,
      stats: this.stats,
      metrics,
      call: this,
      playbackIdle: () => this.#playbackIdle(),
      turn: (timings) => book.turn(this.id, timings),
      codec: () => this.#media.codec,
      sendText: (text) => this.#media.sendText(text),
    });
    this.#transcript = new CallTranscript(record, (entry) => book.transcript(this.id, entry), log);
    this.#apology = new CallApology(deps.settings.apology, control, log);
    this.#sink = this.#agentSink();
    this.actions = deps.createActions?.({
      endAfterPlayback: (reason) => this.#endAfterPlayback(reason),
      transferred: (target, method) => {
        this.#transferredTo = `${target} (${method})`;
        return this.end(`transferred to ${this.#transferredTo}`, { hangup: false });
      },
      silence: () => this.#playout.interrupt(),
      live: () => this.state === 'starting' || this.state === 'active',
    });
  }

  /** Both sides of the conversation so far (the record's transcript). */
  get transcript(): TranscriptEntry[] {
    return this.record.transcript;
  }

  /** The URL mod_audio_stream connects to: names the call and carries its secret. */
  get streamUrl(): string {
    return this.#media.url;
  }

  /**
   * Answer (if needed) while deciding how to answer; then connect the agent and the media stream in
   * parallel; end the call if either cannot be had. Outbound calls (and configured greetings) make the
   * agent speak first.
   */
  async start(): Promise<void> {
    const { channel } = this;
    const { control, book } = this.#d;
    const { direction, callerNumber: from, destination: to } = channel;
    this.#log.info({ direction, from, to }, 'call picked up');
    try {
      const [answer, decided] = await Promise.allSettled([
        channel.answered ? Promise.resolve() : control.answer(),
        this.#d.resolveSettings(),
      ]);
      if (this.state !== 'starting') return;
      if (answer.status === 'rejected') return void this.end(`answer failed: ${errorText(answer.reason)}`);
      if (decided.status === 'rejected') return void this.end(`call settings failed: ${errorText(decided.reason)}`);
      const settings = decided.value;
      const actions = this.actions ?? fallbackActions(this.#sink.hangup);
      const { metrics } = this.#d;
      this.#tools = callToolRunner({
        callId: this.id,
        table: settings.toolTable,
        actions,
        book,
        logger: this.#log,
        metrics,
      });
      const { pipeline, voice, language } = settings;
      book.setStatus(this.id, 'answered', { pipeline, voice, language });
      const agent = this.#d.createAgent(settings);
      this.#agent = agent;
      this.agentKind = agent.kind;
      this.#log.info({ agent: agent.kind, voice, language }, 'agent chosen');
      const [agentResult, mediaResult] = await Promise.allSettled([agent.start(this.#sink), this.#media.setUp(agent)]);
      if (this.state !== 'starting') return;
      if (mediaResult.status === 'rejected') {
        return void this.end(`media stream failed: ${errorText(mediaResult.reason)}`);
      }
      if (agentResult.status === 'rejected') {
        return void this.end(`agent failed to start: ${errorText(agentResult.reason)}`);
      }
      this.state = 'active';
      this.#log.info({ streamRate: agent.inputSampleRate }, 'call active');
      this.#startActions(agent, settings);
      // The stream connected but its socket closed while the agent was still starting: handle it now.
      if (!this.#media.connected) this.#media.lost('media socket closed during setup');
      const hint = openingHint(settings, channel.direction);
      if (hint) agent.speakFirst?.(hint);
    } catch (err) {
      void this.end(`call setup failed: ${errorText(err)}`);
    }
  }

  /** ESL events for this channel, routed here by the call manager. */
  onEvent(e: CallEvent): void {
    switch (e.type) {
      case 'stream-connect':
      case 'stream-error':
      case 'stream-disconnect':
        return this.#media.onEvent(e);
      case 'stream-play':
      case 'playback-start':
        return this.#playout.onEvent(e);
      case 'execute-complete':
        this.#apology.onEvent(e);
        return this.#playout.onEvent(e);
      case 'hangup':
        this.#hangupCause = e.cause;
        this.#apology.onEvent(e);
        void this.end(`hangup: ${e.cause}${e.disposition ? ` (${e.disposition})` : ''}`, { hangup: false });
        return;
      case 'dtmf':
        this.#log.debug({ digit: e.digit }, 'dtmf');
        this.#dtmf?.push(e.digit);
        return;
    }
  }

  /** Speak `text` to the caller now (POST /calls/{id}/say). False when the call is not active or its agent cannot. */
  say(text: string): boolean {
    return this.state === 'active' && !!this.#agent && speak(this.#agent, text);
  }

  /** Caller digits and the silence and duration limits of an active call (its own settings). */
  #startActions(agent: Agent, s: CallSettings): void {
    const dtmf = s.dtmf ?? DEFAULT_DTMF;
    const playout = this.#playout;
    const limits = new CallLimits({
      settings: s.limits ?? DEFAULT_LIMITS,
      playing: () => !playout.idle,
      say: (text) => speak(agent, text),
      interrupt: () => this.#sink.interrupted(),
      end: (reason) => void this.end(reason),
      logger: this.#log,
    });
    const first = () => {
      if (!dtmf.bargeIn || playout.idle) return;
      this.#holdAudio = true;
      this.#sink.interrupted();
    };
    const complete = (digits: string) => {
      this.#holdAudio = false;
      const entry = { speaker: 'caller' as const, text: `DTMF: ${digits}`, at: Date.now(), final: true };
      this.record.transcript.push(entry);
      this.#d.book.transcript(this.id, entry);
      this.#d.book.dtmf(this.id, digits);
      this.#log.info({ digits: digits.length }, 'caller digits');
      agent.notify?.(dtmfNotice(digits), { interrupt: dtmf.bargeIn });
    };
    this.#dtmf = new DtmfCollector(dtmf, { first, digit: () => limits.activity('caller'), complete }, this.#log);
    this.#limits = limits;
    limits.start();
  }

  /** A media socket for this call arrived (routed by the call manager). */
  attachMedia(token: string, conn: MediaConnection): MediaAttachResult {
    return this.#media.attach(token, conn);
  }

  /** What the agent talks to. */
  #agentSink(): AgentSink {
    const playout = this.#playout;
    return {
      audio: (pcm, rate) => {
        if (!this.#holdAudio) playout.audio(pcm, rate);
      },
      replyDone: () => {
        this.stats.replies++;
        playout.endReply();
      },
      interrupted: () => {
        this.#limits?.activity('caller');
        this.stats.bargeIns++;
        playout.interrupt();
        this.#transcript.close('agent');
      },
      transcript: (speaker, text, final) => {
        this.#limits?.activity(speaker);
        this.#transcript.update(speaker, text, final);
      },
      hangup: (reason) => this.#endAfterPlayback(reason),
      failed: (cause) => void this.end(`agent failed: ${cause}`, { failed: true }),
      resumed: (info) => {
        const { reason, durationMs } = this.#d.book.resumed(this.id, info);
        this.#log.info({ reason, durationMs }, 'agent resumed its vendor connection');
        this.#d.metrics?.agentResumed(reason, durationMs);
      },
      runTool: (call, signal) =>
        this.#tools?.run(call, signal) ?? Promise.resolve({ ok: false, error: 'the call is not ready for tools yet' }),
      playback: () => playout.playback(),
      replyTimings: (marks) => playout.replyTimings(marks),
    };
  }

  /** Hang up once what is queued for the caller (the goodbye) has played. */
  #endAfterPlayback(reason: string): void {
    this.#log.info({ reason }, 'agent asked to hang up');
    this.#hangupWhenIdle = reason;
    if (this.#playout.idle) void this.end(`agent hung up: ${reason}`);
  }

  #playbackIdle(): void {
    this.#agent?.playbackIdle?.();
    this.#limits?.playbackIdle();
    if (this.#hangupWhenIdle) void this.end(`agent hung up: ${this.#hangupWhenIdle}`);
  }

  /** The ESL connection dropped: playback commands in flight will not be reported. */
  eslDisconnected(): void {
    this.#playout.eslDisconnected();
    this.#apology.cancel();
  }

  /**
   * End the call and release everything it holds. Idempotent. `hangup: false` when FreeSWITCH already
   * hung up (or the channel is gone). `failed`: the agent gave up; an active call first hears the apology
   * prompt, and the call is recorded as failed, whatever FreeSWITCH's hangup cause.
   */
  async end(reason: string, opts: { hangup?: boolean; failed?: boolean } = {}): Promise<void> {
    if (this.state === 'ending' || this.state === 'ended') return;
    const wasActive = this.state === 'active';
    this.state = 'ending';
    this.endReason = reason;
    this.#dtmf?.close();
    this.#limits?.close();
    this.#media.halt(reason);
    this.#tools?.close();
    const { control, book } = this.#d;
    let hangup = opts.hangup !== false;
    if (hangup && opts.failed && wasActive) {
      // What is left of the broken reply would only delay the prompt (and end mid-word).
      this.#playout.interrupt();
      hangup = (await this.#apology.play()) !== 'caller-hung-up';
    }
    // Without ESL nobody can hang the channel up or say how it ended: FreeSWITCH went away (or is unreachable).
    let connectionLost = false;
    if (hangup) {
      connectionLost = await control.hangup().then(
        () => false,
        (err: unknown) => {
          this.#log.warn({ err: errorText(err) }, 'hangup command failed');
          return err instanceof EslNotConnectedError;
        },
      );
      if (!connectionLost) this.#hangupCause ??= 'NORMAL_CLEARING';
    }
    this.#media.close();
    this.#transcript.closeAll();
    // actions.close() waits for a REFER in flight: its result says whether the call was transferred.
    await Promise.allSettled([this.#agent?.close(), this.#playout.close(), this.actions?.close()]);
    this.state = 'ended';
    this.endedAt = Date.now();
    const answered = book.live(this.id)?.answeredAt !== undefined;
    if (connectionLost) {
      this.endReason = `FreeSWITCH connection lost (${reason})`;
      book.setStatus(this.id, 'failed', { endReason: this.endReason, endedAt: this.endedAt });
    } else {
      const hangupCause = this.#hangupCause;
      const { endedAt } = this;
      const status = opts.failed ? 'failed' : finalStatus(hangupCause, answered);
      const endReason = this.#transferredTo ? `transferred to ${this.#transferredTo}` : reason;
      book.setStatus(this.id, status, { hangupCause, endReason, endedAt });
    }
    const level = wasActive || reason.startsWith('hangup') ? 'info' : 'warn';
    this.#log[level]({ reason, durationMs: this.endedAt - this.createdAt, ...this.#summary() }, 'call ended');
    this.#d.onEnded(this);
  }

  #summary() {
    const { framesIn, badFrames, replies, bargeIns, chunkFailures } = this.stats;
    return { framesIn, badFrames, replies, bargeIns, chunkFailures };
  }
}

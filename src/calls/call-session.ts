import type { Agent } from '../agents/agent.ts';
import type { CallEvent, ChannelInfo } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { CallRecord, TranscriptEntry } from '../store/call-record.ts';
import { errorText } from '../errors.ts';
import { CallApology } from './call-apology.ts';
import { hangUpChannel, recordEnding } from './call-ending.ts';
import type { CallControl as CallActionsControl } from './call-control.ts';
import { speak } from './call-limits.ts';
import { CallMedia, type CallState } from './call-media.ts';
import { CallPlayout } from './call-playout.ts';
import { answerWhileDeciding, connectAgent } from './call-setup.ts';
import { openingHint } from './call-settings.ts';
import { CallSink } from './call-sink.ts';
import { callSummary, newCallStats } from './call-stats.ts';
import { CallTranscript } from './call-transcript.ts';
import { fallbackActions } from './call-tools.ts';
import type { MediaAttachResult, MediaConnection } from './media-port.ts';
import type { CallStats, SessionDeps } from './session-deps.ts';

export type { CallState };
export type { CallControl, CallStats, EndedSession, SessionDeps } from './session-deps.ts';

/**
 * One phone call's life: picked up, answered, its agent and media stream connected, active, ended. Everything
 * a call owns is created here and released in `end()`, whoever ends the call. The media stream (CallMedia),
 * the playout of the agent's audio (CallPlayout) and the transcript (CallTranscript) do the rest.
 *
 * A caller's frame: media socket → `MediaSink.audio` (CallMedia) → `agent.pushAudio`. An agent's reply:
 * `AgentSink.audio` (call-sink.ts: CallPlayout behind the digit hold) → PlayoutQueue → file + playback command
 * through ChannelControl. Caller digits and the silence and duration limits are CallInputs.
 */
export class CallSession {
  readonly id: string;
  readonly channel: ChannelInfo;
  readonly record: CallRecord;
  readonly createdAt = Date.now();
  readonly stats: CallStats = newCallStats();
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
  /** What the agent talks to, the caller's digits and the limits, the agent's tools (call-sink.ts). */
  readonly #side: CallSink;
  #agent: Agent | undefined;
  #hangupWhenIdle: string | undefined;
  #hangupCause: string | undefined;
  /** Set once a transfer succeeded: the caller is someone else's now. */
  #transferredTo: string | undefined;

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
    this.#side = new CallSink({
      callId: this.id,
      stats: this.stats,
      playout: this.#playout,
      transcript: this.#transcript,
      record,
      book,
      logger: log,
      metrics,
      endAfterPlayback: (reason) => this.#endAfterPlayback(reason),
      failed: (cause) => void this.end(`agent failed: ${cause}`, { failed: true }),
      end: (reason) => void this.end(reason),
    });
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
      const settings = await answerWhileDeciding(channel, control, () => this.#d.resolveSettings());
      if (this.state !== 'starting') return;
      if (typeof settings === 'string') return void this.end(settings);
      this.#side.useTools(settings.toolTable, this.actions ?? fallbackActions(this.#side.sink.hangup));
      const { pipeline, voice, language } = settings;
      book.setStatus(this.id, 'answered', { pipeline, voice, language });
      const agent = this.#d.createAgent(settings);
      this.#agent = agent;
      this.agentKind = agent.kind;
      this.#log.info({ agent: agent.kind, voice, language }, 'agent chosen');
      const failure = await connectAgent(agent, this.#side.sink, this.#media);
      if (this.state !== 'starting') return;
      if (failure) return void this.end(failure);
      this.state = 'active';
      this.#log.info({ streamRate: agent.inputSampleRate }, 'call active');
      this.#side.inputs.start(agent, settings);
      // The stream connected but its socket closed while the agent was still starting: handle it now.
      if (!this.#media.connected) this.#media.lost('media socket closed during setup');
      const hint = this.#d.takeover ? undefined : openingHint(settings, channel.direction);
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
        this.#side.inputs.digit(e.digit);
        return;
    }
  }

  /** Speak `text` to the caller now (POST /calls/{id}/say). False when the call is not active or its agent cannot. */
  say(text: string): boolean {
    return this.state === 'active' && !!this.#agent && speak(this.#agent, text);
  }

  /** A media socket for this call arrived (routed by the call manager). */
  attachMedia(token: string, conn: MediaConnection): MediaAttachResult {
    return this.#media.attach(token, conn);
  }

  /** Hang up once what is queued for the caller (the goodbye) has played. */
  #endAfterPlayback(reason: string): void {
    this.#log.info({ reason }, 'agent asked to hang up');
    this.#hangupWhenIdle = reason;
    if (this.#playout.idle) void this.end(`agent hung up: ${reason}`);
  }

  #playbackIdle(): void {
    this.#agent?.playbackIdle?.();
    this.#side.inputs.playbackIdle();
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
   * prompt, and the call is recorded as failed, whatever FreeSWITCH's hangup cause. `handover`: another
   * instance carries the call on (cluster): nothing is sent to the channel and no final status is written.
   */
  async end(reason: string, opts: { hangup?: boolean; failed?: boolean; handover?: boolean } = {}): Promise<void> {
    if (this.state === 'ending' || this.state === 'ended') return;
    const wasActive = this.state === 'active';
    this.state = 'ending';
    this.endReason = reason;
    this.#side.inputs.close();
    this.#media.halt(reason);
    this.#side.closeTools();
    if (opts.handover) return this.#handOver(reason);
    const { control, book } = this.#d;
    let hangup = opts.hangup !== false;
    if (hangup && opts.failed && wasActive) {
      // What is left of the broken reply would only delay the prompt (and end mid-word).
      this.#playout.interrupt();
      hangup = (await this.#apology.play()) !== 'caller-hung-up';
    }
    const connectionLost = hangup && (await hangUpChannel(control, this.#log));
    if (hangup && !connectionLost) this.#hangupCause ??= 'NORMAL_CLEARING';
    this.#media.close();
    this.#transcript.closeAll();
    // actions.close() waits for a REFER in flight: its result says whether the call was transferred.
    await Promise.allSettled([this.#agent?.close(), this.#playout.close(), this.actions?.close()]);
    this.state = 'ended';
    this.endedAt = Date.now();
    this.endReason = recordEnding(book, this.id, {
      reason,
      endedAt: this.endedAt,
      connectionLost,
      failed: opts.failed,
      hangupCause: this.#hangupCause,
      transferredTo: this.#transferredTo,
    });
    const level = wasActive || reason.startsWith('hangup') ? 'info' : 'warn';
    this.#log[level]({ reason, ...callSummary(this.stats, this.endedAt - this.createdAt) }, 'call ended');
    this.#d.onEnded(this);
  }

  /** Stop everything held here without touching the channel; the live record is left to the new owner. */
  async #handOver(reason: string): Promise<void> {
    this.#media.close();
    this.#transcript.closeAll();
    await Promise.allSettled([this.#agent?.close(), this.#playout.close(), this.actions?.close()]);
    this.state = 'ended';
    this.endedAt = Date.now();
    this.#d.book.release(this.id);
    this.#log.info({ reason, ...callSummary(this.stats, this.endedAt - this.createdAt) }, 'call handed over');
    this.#d.onEnded(this);
  }
}

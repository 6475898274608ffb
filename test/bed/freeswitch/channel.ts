/**
 * One emulated call leg, as the emulator and the tests see it. Its parts, one job each: the state its events
 * carry (channel-state.ts), its events and variables (channel-events.ts), the answer sequences
 * (channel-answer.ts), the hangup sequence (channel-hangup.ts), the applications, park, sendmsg queue and DTMF
 * (channel-apps.ts), the media path with the caller's microphone and mod_audio_stream (channel-media.ts),
 * `uuid_record` (recording.ts), the playback queue (playback.ts) and what the caller heard (timeline.ts).
 */
import type { AudioStream, StreamStart } from './audio-stream.ts';
import type { TerminateOptions } from './channel-hangup.ts';
import { channelParts, type ChannelParts } from './channel-parts.ts';
import type { AnswerState, CallState, CallerProfile, ChannelHost, ChannelInit } from './channel-types.ts';
import type { CodecName, EventMatch, FireParts, HangupHow } from './channel-types.ts';
import type { FsEvent } from './event-templates.ts';
import type { ChannelRecordings } from './recording.ts';
import type { HeardSegment } from './timeline.ts';

export { CODECS } from './channel-types.ts';
export type { AnswerState, CallState, CallerProfile, ChannelHost, ChannelInit } from './channel-types.ts';
export type { CodecName, EventMatch, FireParts, HangupHow } from './channel-types.ts';

export class EmulatedChannel {
  readonly uuid: string;
  readonly direction: 'inbound' | 'outbound';
  readonly name: string;
  readonly codec: CodecName;
  readonly profile: CallerProfile;
  /** Every event this channel fired, in order. */
  readonly events: FsEvent[];
  /** Each `uuid_audio_stream start` that attached a bug, oldest first. */
  readonly streams: AudioStream[];
  destroyed = false;
  /** What the far end heard of `uuid_send_dtmf`: each command's digits, in order. */
  readonly dtmfSent: string[] = [];
  /** Each `uuid_deflect` (SIP REFER) sent to the far end, with the status it answered. */
  readonly refers: Array<{ uri: string; status: number }> = [];
  /** The leg `uuid_bridge` joined this one to (kept after the bridge ends). */
  bridgedWith: EmulatedChannel | undefined;
  /** @internal Called right after CHANNEL_HANGUP (originate uses it to fail a killed attempt). */
  onHangup: (() => void) | undefined;
  /** `uuid_record` on this channel (recording.ts). */
  readonly recordings: ChannelRecordings;

  readonly #host: ChannelHost;
  /** The collaborators doing the work (channel-parts.ts). */
  readonly #p: ChannelParts;

  constructor(host: ChannelHost, init: ChannelInit) {
    this.#host = host;
    this.uuid = init.uuid;
    this.direction = init.direction;
    this.name = init.name;
    this.codec = init.codec;
    this.profile = init.profile;
    this.#p = channelParts(this, host, init);
    this.recordings = this.#p.recordings;
    this.events = this.#p.events.log;
    this.streams = this.#p.media.streams;
  }

  // ---- state, as tests see it -------------------------------------------------------------------

  get answerState(): AnswerState {
    return this.#p.state.answerState;
  }
  get callState(): CallState {
    return this.#p.state.callState;
  }
  /** Channel-State (CS_EXECUTE while parked). */
  get state(): string {
    return this.#p.state.running;
  }
  get hangupCause(): string | undefined {
    return this.#p.state.hangupCause;
  }
  set hangupCause(cause: string | undefined) {
    this.#p.state.hangupCause = cause;
  }
  get variables(): ReadonlyMap<string, string> {
    return this.#p.events.variables;
  }
  /** The most recent mod_audio_stream bug (also after it stopped), or undefined if none was started. */
  get stream(): AudioStream | undefined {
    return this.#p.media.stream;
  }
  /** Every played file, in order (see timeline.ts). */
  get heard(): readonly HeardSegment[] {
    return this.#p.timeline.segments;
  }
  get playbackIdle(): boolean {
    return this.#p.playback.idle;
  }
  /** The file playing now, if any. */
  get playing(): HeardSegment | undefined {
    return this.#p.playback.playing;
  }
  get hungUp(): boolean {
    return this.#p.hangup.hungUp;
  }

  // ---- test controls --------------------------------------------------------------------------------

  /** Like `uuid_pre_answer`: early media (183). */
  preAnswer(): boolean {
    return this.#p.answer.preAnswer();
  }

  /** Like `uuid_answer` (on an unanswered inbound leg: early media first, then the answer, as captured). */
  answer(): boolean {
    return this.#p.answer.answer();
  }

  /**
   * The far end hangs up: BYE once answered (sip_hangup_disposition=recv_bye, default NORMAL_CLEARING), CANCEL
   * before (recv_cancel, default ORIGINATOR_CANCEL). Resolves after CHANNEL_DESTROY.
   */
  hangup(cause?: string): Promise<void> {
    return this.#p.hangup.farEnd(cause);
  }

  /** DTMF from the caller (RFC 2833): one DTMF event per digit. */
  dtmf(digits: string, durationMs = 280): void {
    if (this.hungUp || !this.#p.state.media)
      throw new Error(`channel ${this.uuid}: no media for DTMF (answer state ${this.#p.state.answerState})`);
    this.#p.apps.dtmf(digits, durationMs);
  }

  /** Queues caller audio (any sample rate; resampled linearly to the stream rate as it is sent). */
  say(pcm: Int16Array, sampleRate: number): void {
    this.#p.media.say(pcm, sampleRate);
  }

  /** Caller audio queued by say() and not yet taken by the media clock, in ms (audio time). */
  get callerQueuedMs(): number {
    return this.#p.media.queuedMs;
  }

  /** Resolves when the queued caller audio has been taken by the media clock. */
  micIdle(timeoutMs = 10_000): Promise<void> {
    return this.#until(`caller audio of ${this.uuid} to drain`, () => !this.#p.media.talking, timeoutMs);
  }

  /** What the caller heard, 8 kHz, silence in the gaps (segments `from..to` of `heard`). */
  heardPcm(from?: number, to?: number): Int16Array {
    return this.#p.timeline.pcm(from, to);
  }

  /** Gaps (ms) between consecutive heard segments `from..to`. */
  heardGaps(from?: number, to?: number): number[] {
    return this.#p.timeline.gaps(from, to);
  }

  /** Total ms of audio heard so far. */
  heardMs(): number {
    return this.#p.timeline.heardMs();
  }

  waitHeardMs(ms: number, timeoutMs = 10_000): Promise<void> {
    const heard = () => this.#p.timeline.heardMs() >= ms;
    return this.#until(`${ms} ms of audio heard on ${this.uuid}`, heard, timeoutMs, 5);
  }

  /** Resolves when nothing plays and nothing is queued. */
  waitPlaybackIdle(timeoutMs = 10_000): Promise<void> {
    return this.#until(`playback idle on ${this.uuid}`, () => this.#p.playback.idle, timeoutMs);
  }

  /** First event (from `fromIndex` in `events`) matching an Event-Name, a `mod_audio_stream::x` subclass, or a predicate. */
  waitForEvent(match: EventMatch, timeoutMs = 5000, fromIndex = 0): Promise<FsEvent> {
    const test = typeof match === 'function' ? match : (e: FsEvent) => e.name === match || e.subclass === match;
    return this.#host.waiters.until(
      `event ${typeof match === 'string' ? match : 'matching predicate'} on ${this.uuid}`,
      () => this.events.slice(fromIndex).find(test),
      timeoutMs,
    );
  }

  waitDestroyed(timeoutMs = 5000): Promise<void> {
    return this.#until(`channel ${this.uuid} destroyed`, () => this.destroyed, timeoutMs);
  }

  // ---- used by the emulator (API commands, sendmsg, originate) ----------------------------------------

  /**
   * @internal Fires an event with this channel's data. An event nobody takes (no subscription, log or listener
   * for it) only takes its sequence number: building it was most of the emulator's cost per played file.
   */
  fire(name: string, parts?: FireParts): FsEvent | undefined {
    return this.#p.events.fire(name, parts);
  }

  /** @internal A new running state, announced with CHANNEL_STATE unless `announce` is false. */
  setRunning(state: string, stateNumber: number, announce = true): void {
    this.#p.events.setRunning(state, stateNumber, announce);
  }

  /** @internal A timer owned by this channel (cleared when it is destroyed). */
  schedule(ms: number, fn: () => void): void {
    this.#p.timers.after(ms, fn);
  }

  /** @internal When the channel was created (µs since the epoch). */
  get createdMicros(): number {
    return this.#p.state.times.created;
  }

  /** @internal The requested next state (Channel-State-Number) before the running state follows. */
  setStateNumber(n: number): void {
    this.#p.state.stateNumber = n;
  }

  /** @internal */
  setCallState(next: CallState): void {
    this.#p.events.setCallState(next);
  }

  /** @internal Sets (or with `undefined`, unsets) a channel variable. */
  setVar(name: string, value: string | undefined): void {
    this.#p.events.setVar(name, value);
  }

  /** @internal The `push` application: a second value turns the variable into FreeSWITCH's `ARRAY::a|:b` form. */
  pushVar(name: string, value: string): void {
    this.#p.events.pushVar(name, value);
  }

  /** @internal `uuid_dump`: the channel data with every variable, as a CHANNEL_DATA event (not fired). */
  dump(): FsEvent {
    return this.#p.events.dump();
  }

  /** @internal Adds a captured variable phase. */
  addTemplate(phase: string): void {
    this.#p.events.addTemplate(phase);
  }

  /** @internal Marks call progress (180 Ringing) times for the caller profile. */
  markProgress(): void {
    this.#p.answer.markProgress();
  }

  /** @internal Media negotiated: media variables, then the read and write CODEC events; joins the media clock. */
  mediaUp(phase: 'inbound.media' | 'outbound.answer'): void {
    this.#p.answer.mediaUp(phase);
  }

  /** @internal Answered outbound leg: CHANNEL_ANSWER, then the caller-id flip FreeSWITCH does (CALL_UPDATE). */
  answerOutbound(): void {
    this.#p.answer.answerOutbound();
  }

  /** @internal The `park` application: CHANNEL_EXECUTE park, CHANNEL_PARK. */
  park(): void {
    this.#p.apps.park();
  }

  /** @internal Leaves `park` (uuid_bridge): what plays stops, CHANNEL_UNPARK and the park's EXECUTE_COMPLETE. */
  unpark(): void {
    this.#p.apps.unpark();
  }

  /** @internal A dialplan application that completes at once (set, answer, ...): EXECUTE, effect, EXECUTE_COMPLETE. */
  runDialplanApp(app: string, data: string, effect: () => void): void {
    this.#p.apps.runDialplanApp(app, data, effect);
  }

  /** @internal `uuid_audio_stream <uuid> start ...` after argument checks; false → -ERR Operation Failed. */
  startAudioStream(start: Omit<StreamStart, 'vars'>): boolean {
    if (this.hungUp || this.stream?.attached) return false;
    if (!this.preAnswer()) return false; // the module pre-answers an unanswered leg
    this.#p.media.start(start);
    return true;
  }

  /** @internal `stop [text]`: text, close 1000, MEDIA_BUG_STOP (no disconnect event). */
  stopAudioStream(text?: string): boolean {
    return this.#p.media.stop(text);
  }

  /** @internal */
  streamSendText(text: string): boolean {
    return this.#p.media.sendText(text);
  }

  /** @internal pause/resume: frames stop/resume, no events. */
  pauseAudioStream(pause: boolean): boolean {
    return this.#p.media.pause(pause);
  }

  /** @internal `uuid_broadcast <uuid> <path> [aleg|bleg|both]`. */
  broadcast(path: string, leg: string): void {
    this.#p.apps.broadcast(path, leg);
  }

  /** @internal `sendmsg <uuid>`; returns the Reply-Text. */
  sendmsg(line: string, headers: Record<string, string>): string {
    return this.#p.apps.sendmsg(line, headers);
  }

  /** @internal */
  breakPlayback(all: boolean): void {
    this.#p.playback.break(all);
  }

  /** @internal `uuid_kill` / sendmsg hangup: from our side (BYE once answered, else a refusal or a CANCEL). */
  kill(cause: string): Promise<void> {
    return this.#p.hangup.kill(cause);
  }

  /**
   * @internal The hangup sequence as captured: CHANNEL_HANGUP, (playback stops), CHANNEL_UNPARK and the park's
   * EXECUTE_COMPLETE if parked, CHANNEL_STATE CS_HANGUP, MEDIA_BUG_STOP if a stream is attached (its WebSocket
   * closes with 1000), CALLSTATE HANGUP, CS_REPORTING, CHANNEL_HANGUP_COMPLETE, CHANNEL_DESTROY, CS_DESTROY.
   * `afterHangup`/`afterComplete` let originate put its BACKGROUND_JOB where FreeSWITCH does.
   */
  terminate(cause: string, how: HangupHow, opts: TerminateOptions = {}): Promise<void> {
    return this.#p.hangup.terminate(cause, how, opts);
  }

  /** @internal Emulator stop/restart: everything released, no events; resolves when the stream sockets are closed. */
  destroy(): Promise<void> {
    return this.#p.hangup.destroy();
  }

  /** @internal One media clock tick by hand (the clock itself ticks the media part: one call less per frame). */
  onFrame(): void {
    this.#p.media.onFrame();
  }

  /** Resolves once `done()` holds, polled as the emulator changes (rejects after `timeoutMs`). */
  #until(what: string, done: () => boolean, timeoutMs: number, pollMs?: number): Promise<void> {
    return this.#host.waiters.until(what, () => (done() ? true : undefined), timeoutMs, pollMs).then(() => {});
  }
}

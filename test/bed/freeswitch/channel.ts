/**
 * One emulated call leg: its state, caller profile and variables (rendered into every event the way
 * FreeSWITCH's switch_channel_event_set_data does), its answer/hangup sequences as captured, the caller's
 * microphone, the mod_audio_stream bug and the playback queue with the record of what the caller heard.
 */
import { randomInt } from 'node:crypto';
import { TimerSet, type Waiters } from './async-tools.ts';
import { resample } from './audio-files.ts';
import { AudioStream, STREAM_VAR_NAMES, type StreamHost, type StreamStart, type StreamVars } from './audio-stream.ts';
import { parseCause, q850 } from './causes.ts';
import { hangupReport, profileHeaders, type CallTimes } from './channel-report.ts';
import { epochMicros, templateVars, type EventFactory, type FsEvent, type Header } from './event-templates.ts';
import type { MediaClock } from './media-clock.ts';
import { Microphone } from './microphone.ts';
import { ChannelVariables } from './channel-variables.ts';
import { ChannelRecordings } from './recording.ts';
import { PlaybackQueue, newAppUuid, type QueuedApp } from './playback.ts';
import type { Settings } from './settings.ts';
import { Timeline, type HeardSegment } from './timeline.ts';

export type CodecName = 'PCMU' | 'PCMA' | 'L16' | 'G722';
export const CODECS: Record<CodecName, { rate: number; bitRate: number; pt: number; bytesPerFrame: number }> = {
  PCMU: { rate: 8000, bitRate: 64000, pt: 0, bytesPerFrame: 160 },
  PCMA: { rate: 8000, bitRate: 64000, pt: 8, bytesPerFrame: 160 },
  L16: { rate: 16000, bitRate: 256000, pt: 96, bytesPerFrame: 640 },
  G722: { rate: 16000, bitRate: 64000, pt: 9, bytesPerFrame: 160 },
};

export type AnswerState = 'ringing' | 'early' | 'answered' | 'hangup';
export type CallState = 'DOWN' | 'RINGING' | 'EARLY' | 'ACTIVE' | 'HANGUP';
const CALL_STATE_NUMBER: Record<CallState, number> = { DOWN: 0, RINGING: 2, EARLY: 3, ACTIVE: 4, HANGUP: 7 };

/** How the call ended on the SIP side: the sip_hangup_disposition FreeSWITCH records. */
export type HangupHow = 'recv_bye' | 'send_bye' | 'recv_refuse' | 'send_refuse' | 'recv_cancel' | 'send_cancel';

/** Events that carry the channel variables (switch_channel_event_set_extended_data); the others only carry channel data. */
const WITH_VARIABLES = new Set([
  'RECORD_START',
  'RECORD_STOP',
  'CHANNEL_CREATE',
  'CHANNEL_ORIGINATE',
  'CHANNEL_PROGRESS',
  'CHANNEL_PROGRESS_MEDIA',
  'CHANNEL_ANSWER',
  'CHANNEL_HANGUP',
  'CHANNEL_HANGUP_COMPLETE',
  'CHANNEL_DESTROY',
  'CHANNEL_EXECUTE',
  'CHANNEL_EXECUTE_COMPLETE',
  'CHANNEL_PARK',
  'CHANNEL_UNPARK',
  'CALL_UPDATE',
  'MEDIA_BUG_START',
  'MEDIA_BUG_STOP',
  'PLAYBACK_START',
  'PLAYBACK_STOP',
  'CUSTOM',
]);
const MEDIA_BUG: Header[] = [
  ['Media-Bug-Function', 'audio_stream'],
  ['Media-Bug-Target', 'N/A'],
];
/** The channel thread notices a local hangup at its next frame; a far-end BYE right away. */
const LOCAL_HANGUP_MS = 20;
const FAR_END_HANGUP_MS = 1;

export interface ChannelHost {
  readonly factory: EventFactory;
  readonly clock: MediaClock;
  readonly waiters: Waiters;
  readonly settings: Settings;
  readonly tmpDir: string;
  fire(event: FsEvent): void;
  /** Whether anything (the event log, an 'event' listener, an ESL subscription) may take such an event. */
  observed(name: string, subclass: string | undefined): boolean;
  /** An event nobody takes was fired (not built). */
  unobserved(): void;
  nextSessionId(): number;
  channelGone(channel: EmulatedChannel): void;
  changed(): void;
}

export interface CallerProfile {
  username?: string;
  dialplan?: string;
  cidName: string;
  cidNum: string;
  origCidName: string;
  origCidNum: string;
  calleeName?: string;
  calleeNum?: string;
  networkAddr?: string;
  ani: string;
  destination: string;
  source: string;
  context: string;
}

export interface ChannelInit {
  uuid: string;
  direction: 'inbound' | 'outbound';
  name: string;
  codec: CodecName;
  profile: CallerProfile;
  /** Values for the `${placeholders}` of the captured variable templates. */
  templateContext: Record<string, string>;
}

export interface FireParts {
  subclass?: string;
  callingKey?: string;
  pre?: Header[];
  post?: Header[];
  body?: string;
}

export type EventMatch = string | ((e: FsEvent) => boolean);

export class EmulatedChannel {
  readonly uuid: string;
  readonly direction: 'inbound' | 'outbound';
  readonly name: string;
  readonly codec: CodecName;
  readonly profile: CallerProfile;
  /** Every event this channel fired, in order. */
  readonly events: FsEvent[] = [];
  /** Each `uuid_audio_stream start` that attached a bug, oldest first. */
  readonly streams: AudioStream[] = [];
  hangupCause: string | undefined;
  destroyed = false;
  /** What the far end heard of `uuid_send_dtmf`: each command's digits, in order. */
  readonly dtmfSent: string[] = [];
  /** Each `uuid_deflect` (SIP REFER) sent to the far end, with the status it answered. */
  readonly refers: Array<{ uri: string; status: number }> = [];
  /** The leg `uuid_bridge` joined this one to (kept after the bridge ends). */
  bridgedWith: EmulatedChannel | undefined;
  /** @internal Called right after CHANNEL_HANGUP (originate uses it to fail a killed attempt). */
  onHangup: (() => void) | undefined;

  readonly #host: ChannelHost;
  readonly #ctx: Record<string, string>;
  readonly #vars = new ChannelVariables();
  readonly #timers = new TimerSet();
  readonly #mic = new Microphone();
  /** `uuid_record` on this channel (recording.ts). */
  readonly recordings = new ChannelRecordings({
    fire: (name, parts) => this.fire(name, parts),
    setVar: (name, value) => this.setVar(name, value),
    variable: (name) => this.#vars.get(name),
    rate: () => CODECS[this.codec].rate,
    played: () => this.#timeline.segments,
    slice8k: (segment, fromMs, ms) => this.#timeline.slice8k(segment, fromMs, ms),
  });
  readonly #timeline: Timeline;
  readonly #playback: PlaybackQueue;
  #running = 'CS_NEW';
  #stateNumber = 0;
  #callState: CallState = 'DOWN';
  #answerState: AnswerState = 'ringing';
  #hitDialplan: boolean;
  #profileReady = false;
  #media = false;
  #parkUuid: string | undefined;
  #digits = '';
  #framesPlayed = 0;
  #wasTalking = false;
  #hangup: Promise<void> | undefined;
  readonly #times: CallTimes = { created: 0, answered: 0, progress: 0, progressMedia: 0, hangup: 0 };

  constructor(host: ChannelHost, init: ChannelInit) {
    this.#host = host;
    this.uuid = init.uuid;
    this.direction = init.direction;
    this.name = init.name;
    this.codec = init.codec;
    this.profile = init.profile;
    this.#ctx = init.templateContext;
    this.#hitDialplan = init.direction === 'inbound';
    this.#times.created = epochMicros();
    this.#ctx['created_us'] = String(this.#times.created);
    const settings = host.settings;
    this.#timeline = new Timeline(settings.recordHeardAudio);
    this.#playback = new PlaybackQueue({
      timers: this.#timers,
      timeline: this.#timeline,
      playbackStartDelayMs: settings.playbackStartDelayMs,
      breakDelayMs: settings.breakDelayMs,
      broadcastLeadMs: () => (this.#mic.talking ? settings.broadcastLeadMs.talking : settings.broadcastLeadMs.silent),
      codecName: () => this.codec,
      alive: () => !this.#hangup,
      ensureMedia: () => {
        if (this.direction === 'inbound') this.preAnswer();
      },
      fire: (name, parts) => this.fire(name, parts),
      setVar: (name, value) => this.setVar(name, value),
      runApp: (app, arg) => this.#runApp(app, arg),
      changed: () => host.changed(),
    });
  }

  // ---- state, as tests see it -------------------------------------------------------------------

  get answerState(): AnswerState {
    return this.#answerState;
  }
  get callState(): CallState {
    return this.#callState;
  }
  /** Channel-State (CS_EXECUTE while parked). */
  get state(): string {
    return this.#running;
  }
  get variables(): ReadonlyMap<string, string> {
    return this.#vars.map;
  }
  /** The most recent mod_audio_stream bug (also after it stopped), or undefined if none was started. */
  get stream(): AudioStream | undefined {
    return this.streams[this.streams.length - 1];
  }
  /** Every played file, in order (see timeline.ts). */
  get heard(): readonly HeardSegment[] {
    return this.#timeline.segments;
  }
  get playbackIdle(): boolean {
    return this.#playback.idle;
  }
  /** The file playing now, if any. */
  get playing(): HeardSegment | undefined {
    return this.#playback.playing;
  }
  get hungUp(): boolean {
    return this.#hangup !== undefined;
  }

  // ---- test controls --------------------------------------------------------------------------------

  /** Like `uuid_pre_answer`: early media (183). */
  preAnswer(): boolean {
    if (this.#hangup) return false;
    if (this.#answerState !== 'ringing') return true;
    this.mediaUp(this.direction === 'inbound' ? 'inbound.media' : 'outbound.answer');
    this.#times.progressMedia = epochMicros();
    this.#answerState = 'early';
    this.setVar('endpoint_disposition', 'EARLY MEDIA');
    this.fire('CHANNEL_PROGRESS_MEDIA');
    this.setCallState('EARLY');
    if (this.direction === 'inbound') this.#addVars(templateVars('inbound.answer', this.#ctx));
    return true;
  }

  /** Like `uuid_answer` (on an unanswered inbound leg: early media first, then the answer, as captured). */
  answer(): boolean {
    if (this.#hangup) return false;
    if (this.#answerState === 'answered') return true;
    if (this.direction === 'inbound') this.preAnswer();
    else this.mediaUp('outbound.answer');
    this.#times.answered = epochMicros();
    this.#answerState = 'answered';
    this.fire('CHANNEL_ANSWER');
    this.setCallState('ACTIVE');
    this.setVar('endpoint_disposition', 'ANSWER');
    // The caller's ACK (to-tag, CSeq) is recorded a moment later: the captured CHANNEL_PARK right after the
    // answer does not have it yet, the MEDIA_BUG_START a few ms later does.
    if (this.direction === 'inbound')
      this.#timers.after(1, () => this.#addVars(templateVars('inbound.confirmed', this.#ctx)));
    this.#host.changed();
    return true;
  }

  /**
   * The far end hangs up: BYE once answered (sip_hangup_disposition=recv_bye, default NORMAL_CLEARING), CANCEL
   * before (recv_cancel, default ORIGINATOR_CANCEL). Resolves after CHANNEL_DESTROY.
   */
  hangup(cause?: string): Promise<void> {
    const answered = this.#answerState === 'answered';
    const how = answered || this.direction === 'outbound' ? 'recv_bye' : 'recv_cancel';
    const fallback = answered || this.direction === 'outbound' ? 'NORMAL_CLEARING' : 'ORIGINATOR_CANCEL';
    return this.terminate(parseCause(cause ?? fallback) ?? cause ?? fallback, how, { delayMs: FAR_END_HANGUP_MS });
  }

  /** DTMF from the caller (RFC 2833): one DTMF event per digit. */
  dtmf(digits: string, durationMs = 280): void {
    if (this.#hangup || !this.#media)
      throw new Error(`channel ${this.uuid}: no media for DTMF (answer state ${this.#answerState})`);
    for (const digit of digits) {
      this.#digits += digit;
      this.fire('DTMF', {
        post: [
          ['DTMF-Digit', digit],
          ['DTMF-Duration', String(Math.round(durationMs * 8))],
          ['DTMF-Source', 'RTP'],
        ],
      });
      // playback's default terminator set is `*`; `none` and `any` are its other two forms (mod_dptools).
      const terminators = this.#vars.get('playback_terminators') ?? '*';
      const stops = terminators === 'any' || (terminators !== 'none' && terminators.includes(digit));
      if (stops && this.#playback.terminate()) this.#vars.set('playback_terminator_used', digit);
    }
  }

  /** Queues caller audio (any sample rate; resampled linearly to the stream rate as it is sent). */
  say(pcm: Int16Array, sampleRate: number): void {
    this.#mic.say(pcm, sampleRate);
    this.#wasTalking = this.#mic.talking;
  }

  /** Caller audio queued by say() and not yet taken by the media clock, in ms (audio time). */
  get callerQueuedMs(): number {
    return this.#mic.queuedMs;
  }

  /** Resolves when the queued caller audio has been taken by the media clock. */
  micIdle(timeoutMs = 10_000): Promise<void> {
    return this.#host.waiters
      .until(`caller audio of ${this.uuid} to drain`, () => (this.#mic.talking ? undefined : true), timeoutMs)
      .then(() => {});
  }

  /** What the caller heard, 8 kHz, silence in the gaps (segments `from..to` of `heard`). */
  heardPcm(from?: number, to?: number): Int16Array {
    return this.#timeline.pcm(from, to);
  }

  /** Gaps (ms) between consecutive heard segments `from..to`. */
  heardGaps(from?: number, to?: number): number[] {
    return this.#timeline.gaps(from, to);
  }

  /** Total ms of audio heard so far. */
  heardMs(): number {
    return this.#timeline.heardMs();
  }

  waitHeardMs(ms: number, timeoutMs = 10_000): Promise<void> {
    return this.#host.waiters
      .until(
        `${ms} ms of audio heard on ${this.uuid}`,
        () => (this.#timeline.heardMs() >= ms ? true : undefined),
        timeoutMs,
        5,
      )
      .then(() => {});
  }

  /** Resolves when nothing plays and nothing is queued. */
  waitPlaybackIdle(timeoutMs = 10_000): Promise<void> {
    return this.#host.waiters
      .until(`playback idle on ${this.uuid}`, () => (this.#playback.idle ? true : undefined), timeoutMs)
      .then(() => {});
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
    return this.#host.waiters
      .until(`channel ${this.uuid} destroyed`, () => (this.destroyed ? true : undefined), timeoutMs)
      .then(() => {});
  }

  // ---- used by the emulator (API commands, sendmsg, originate) ----------------------------------------

  /**
   * @internal Fires an event with this channel's data. An event nobody takes (no subscription, log or listener
   * for it) only takes its sequence number: building it was most of the emulator's cost per played file.
   */
  fire(name: string, parts: FireParts = {}): FsEvent | undefined {
    if (!this.#host.observed(name, parts.subclass)) {
      this.#host.factory.skip();
      this.#host.unobserved();
      return undefined;
    }
    const event = this.#host.factory.make(name, {
      ...parts,
      data: this.#data(name === 'CHANNEL_HANGUP_COMPLETE'),
      ...(WITH_VARIABLES.has(name) && { vars: this.#vars.headers() }),
      uuid: this.uuid,
    });
    if (this.#host.settings.keepEventLog) this.events.push(event);
    this.#host.fire(event);
    return event;
  }

  /** @internal A new running state, announced with CHANNEL_STATE unless `announce` is false. */
  setRunning(state: string, stateNumber: number, announce = true): void {
    this.#running = state;
    this.#stateNumber = stateNumber;
    if (announce) this.fire('CHANNEL_STATE');
    if (state !== 'CS_NEW') this.#profileReady = true;
  }

  /** @internal A timer owned by this channel (cleared when it is destroyed). */
  schedule(ms: number, fn: () => void): void {
    this.#timers.after(ms, fn);
  }

  /** @internal When the channel was created (µs since the epoch). */
  get createdMicros(): number {
    return this.#times.created;
  }

  /** @internal The requested next state (Channel-State-Number) before the running state follows. */
  setStateNumber(n: number): void {
    this.#stateNumber = n;
  }

  /** @internal */
  setCallState(next: CallState): void {
    const original = this.#callState;
    this.#callState = next;
    this.fire('CHANNEL_CALLSTATE', {
      pre: [
        ['Original-Channel-Call-State', original],
        ['Channel-Call-State-Number', String(CALL_STATE_NUMBER[next])],
      ],
    });
  }

  /** @internal Sets (or with `undefined`, unsets) a channel variable. */
  setVar(name: string, value: string | undefined): void {
    if (value === undefined || value === '') {
      this.#vars.delete(name);
    } else this.#vars.set(name, value);
  }

  /** @internal The `push` application: a second value turns the variable into FreeSWITCH's `ARRAY::a|:b` form. */
  pushVar(name: string, value: string): void {
    const existing = this.#vars.get(name);
    if (existing === undefined) this.setVar(name, value);
    else this.setVar(name, `${existing.startsWith('ARRAY::') ? existing : `ARRAY::${existing}`}|:${value}`);
  }

  /** @internal `uuid_dump`: the channel data with every variable, as a CHANNEL_DATA event (not fired). */
  dump(): FsEvent {
    return this.#host.factory.make('CHANNEL_DATA', {
      data: this.#data(false),
      vars: this.#vars.headers(),
      calling: ['mod_commands.c', 'uuid_dump_function', '6468'],
      uuid: this.uuid,
    });
  }

  /** @internal Adds a captured variable phase. */
  addTemplate(phase: string): void {
    this.#addVars(templateVars(phase, this.#ctx));
  }

  /** @internal Marks call progress (180 Ringing) times for the caller profile. */
  markProgress(): void {
    this.#times.progress = epochMicros();
  }

  /** @internal Media negotiated: media variables, then the read and write CODEC events; joins the media clock. */
  mediaUp(phase: 'inbound.media' | 'outbound.answer'): void {
    if (this.#media) return;
    this.#media = true;
    const c = CODECS[this.codec];
    const overrides: Record<string, string> = {
      rtp_audio_recv_pt: String(c.pt),
      rtp_use_codec_name: this.codec,
      rtp_use_codec_rate: String(c.rate),
      rtp_last_audio_codec_string: `${this.codec}@${c.rate}h@20i@1c`,
      read_codec: this.codec,
      original_read_codec: this.codec,
      read_rate: String(c.rate),
      original_read_rate: String(c.rate),
      write_codec: this.codec,
      write_rate: String(c.rate),
      rtp_use_pt: String(c.pt),
      rtp_use_ssrc: String(randomInt(1, 2 ** 31)),
      local_media_port: String(16384 + 2 * randomInt(0, 8000)),
    };
    this.#addVars(templateVars(phase, this.#ctx).map(([k, v]): Header => [k, overrides[k] ?? v]));
    const rate = String(c.rate);
    const bitRate = String(c.bitRate);
    this.fire('CODEC', {
      callingKey: 'CODEC:read',
      post: [
        ['channel-read-codec-name', this.codec],
        ['channel-read-codec-rate', rate],
        ['channel-read-codec-bit-rate', bitRate],
      ],
    });
    this.fire('CODEC', { callingKey: 'CODEC:write', post: [['Channel-Write-codec-bit-rate', bitRate]] });
    this.#host.clock.add(this);
  }

  /** @internal Answered outbound leg: CHANNEL_ANSWER, then the caller-id flip FreeSWITCH does (CALL_UPDATE). */
  answerOutbound(): void {
    this.mediaUp('outbound.answer');
    this.#times.answered = epochMicros();
    this.#answerState = 'answered';
    this.fire('CHANNEL_ANSWER');
    this.setCallState('ACTIVE');
    this.#addVars(templateVars('outbound.call_update', this.#ctx));
    // Observed: after answer the outbound leg's caller id becomes "Outbound Call" / the destination.
    const p = this.profile;
    p.calleeName = p.origCidName;
    p.calleeNum = p.origCidNum;
    p.cidName = 'Outbound Call';
    p.cidNum = p.destination;
    this.#hitDialplan = true;
    this.fire('CALL_UPDATE', { pre: [['Direction', 'RECV']] });
    this.#host.changed();
  }

  /** @internal The `park` application: CHANNEL_EXECUTE park, CHANNEL_PARK. */
  park(): void {
    this.#parkUuid = newAppUuid();
    this.setVar('current_application_data', undefined);
    this.setVar('current_application', 'park');
    this.fire('CHANNEL_EXECUTE', {
      post: [
        ['Application', 'park'],
        ['Application-UUID', this.#parkUuid],
      ],
    });
    this.fire('CHANNEL_PARK');
  }

  /** @internal Leaves `park` (uuid_bridge): what plays stops, CHANNEL_UNPARK and the park's EXECUTE_COMPLETE. */
  unpark(): void {
    this.#playback.break(true);
    if (!this.#parkUuid) return;
    const parkUuid = this.#parkUuid;
    this.#parkUuid = undefined;
    this.fire('CHANNEL_UNPARK');
    this.fire('CHANNEL_EXECUTE_COMPLETE', {
      post: [
        ['Application', 'park'],
        ['Application-Response', '_none_'],
        ['Application-UUID', parkUuid],
      ],
    });
  }

  /** @internal A dialplan application that completes at once (set, answer, ...): EXECUTE, effect, EXECUTE_COMPLETE. */
  runDialplanApp(app: string, data: string, effect: () => void): void {
    const appUuid = newAppUuid();
    this.setVar('current_application_data', data || undefined);
    this.setVar('current_application', app);
    const headers: Header[] = [
      ['Application', app],
      ['Application-Data', data],
    ];
    this.fire('CHANNEL_EXECUTE', { post: [...headers, ['Application-UUID', appUuid]] });
    effect();
    this.fire('CHANNEL_EXECUTE_COMPLETE', {
      post: [...headers, ['Application-Response', '_none_'], ['Application-UUID', appUuid]],
    });
  }

  /** @internal `uuid_audio_stream <uuid> start ...` after argument checks; false → -ERR Operation Failed. */
  startAudioStream(start: Omit<StreamStart, 'vars'>): boolean {
    if (this.#hangup || this.stream?.attached) return false;
    if (!this.preAnswer()) return false; // the module pre-answers an unanswered leg
    const vars: StreamVars = {};
    for (const n of STREAM_VAR_NAMES) {
      const v = this.#vars.get(n);
      if (v !== undefined) vars[n] = v;
    }
    const stream = new AudioStream(this.#streamHost(), { ...start, vars });
    this.streams.push(stream);
    this.fire('MEDIA_BUG_START', { pre: MEDIA_BUG });
    return true;
  }

  /** @internal `stop [text]`: text, close 1000, MEDIA_BUG_STOP (no disconnect event). */
  stopAudioStream(text?: string): boolean {
    const s = this.stream;
    if (!s?.attached) return false;
    s.stop(text);
    this.fire('MEDIA_BUG_STOP', { pre: MEDIA_BUG });
    return true;
  }

  /** @internal */
  streamSendText(text: string): boolean {
    const s = this.stream;
    if (!s?.attached) return false;
    s.sendText(text);
    return true;
  }

  /** @internal pause/resume: frames stop/resume, no events. */
  pauseAudioStream(pause: boolean): boolean {
    const s = this.stream;
    if (!s?.attached) return false;
    s.paused = pause;
    return true;
  }

  /** @internal `uuid_broadcast <uuid> <path> [aleg|bleg|both]`. */
  broadcast(path: string, leg: string): void {
    if (leg === 'bleg' || this.#hangup) return; // no b-leg on a parked channel
    const sep = path.indexOf('::');
    const app = sep > 0 ? path.slice(0, sep) : 'playback';
    const arg = sep > 0 ? path.slice(sep + 2) : path;
    this.#playback.enqueue({
      app,
      arg,
      appUuid: newAppUuid(),
      via: 'broadcast',
      eventLock: true,
      queuedAt: performance.now(),
      commandHeaders: [
        ['call-command', 'execute'],
        ['execute-app-name', app],
        ['execute-app-arg', arg],
        ['event-lock', 'true'],
        ['lead-frames', '5'],
      ],
    });
  }

  /** @internal `sendmsg <uuid>`; returns the Reply-Text. */
  sendmsg(line: string, headers: Record<string, string>): string {
    const get = (name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
    const command = (get('call-command') ?? '').toLowerCase();
    if (command === 'execute' && get('execute-app-name')) {
      const item: QueuedApp = {
        app: get('execute-app-name')!,
        arg: get('execute-app-arg') ?? '',
        appUuid: get('event-uuid') ?? newAppUuid(),
        via: 'sendmsg',
        eventLock: (get('event-lock') ?? '').toLowerCase() === 'true',
        queuedAt: performance.now(),
        commandHeaders: [['Command', line], ...Object.entries(headers)],
      };
      if (!this.#hangup) this.#playback.enqueue(item);
    } else if (command === 'hangup') {
      void this.kill(get('hangup-cause') ?? '');
    }
    return '+OK';
  }

  /** @internal */
  breakPlayback(all: boolean): void {
    this.#playback.break(all);
  }

  /** @internal `uuid_kill` / sendmsg hangup: from our side (BYE once answered, else a refusal or a CANCEL). */
  kill(cause: string): Promise<void> {
    const how =
      this.#answerState === 'answered' ? 'send_bye' : this.direction === 'inbound' ? 'send_refuse' : 'send_cancel';
    return this.terminate(parseCause(cause) ?? 'NORMAL_CLEARING', how, { delayMs: LOCAL_HANGUP_MS });
  }

  /**
   * @internal The hangup sequence as captured: CHANNEL_HANGUP, (playback stops), CHANNEL_UNPARK and the park's
   * EXECUTE_COMPLETE if parked, CHANNEL_STATE CS_HANGUP, MEDIA_BUG_STOP if a stream is attached (its WebSocket
   * closes with 1000), CALLSTATE HANGUP, CS_REPORTING, CHANNEL_HANGUP_COMPLETE, CHANNEL_DESTROY, CS_DESTROY.
   * `afterHangup`/`afterComplete` let originate put its BACKGROUND_JOB where FreeSWITCH does.
   */
  terminate(
    cause: string,
    how: HangupHow,
    opts: {
      delayMs?: number;
      sip?: { status: number; phrase: string };
      afterHangup?: () => void;
      afterComplete?: () => void;
    } = {},
  ): Promise<void> {
    if (this.#hangup) return this.#hangup;
    let resolveDone!: () => void;
    this.#hangup = new Promise((resolve) => (resolveDone = resolve));
    const hangupAt = performance.now();
    this.hangupCause = cause;
    this.#answerState = 'hangup';
    this.#stateNumber = 10;
    this.#times.hangup = epochMicros();
    this.#host.clock.remove(this);
    if (how === 'recv_bye') this.#sipTerm(200);
    if (how === 'recv_refuse' && opts.sip) {
      this.setVar('sip_hangup_disposition', 'recv_refuse');
      this.setVar('sip_invite_failure_status', String(opts.sip.status));
      this.setVar('sip_invite_failure_phrase', opts.sip.phrase);
      this.#sipTerm(opts.sip.status);
    }
    this.fire('CHANNEL_HANGUP');
    this.onHangup?.();
    opts.afterHangup?.();
    const finish = () => {
      if (how === 'recv_bye' || how === 'recv_cancel' || how === 'send_refuse')
        this.setVar('sip_hangup_disposition', how);
      this.#playback.hangup(hangupAt);
      if (this.#parkUuid) {
        this.fire('CHANNEL_UNPARK');
        this.fire('CHANNEL_EXECUTE_COMPLETE', {
          post: [
            ['Application', 'park'],
            ['Application-Response', '_none_'],
            ['Application-UUID', this.#parkUuid],
          ],
        });
      }
      this.recordings.hangup();
      this.setRunning('CS_HANGUP', 10);
      if (this.stream?.attached) {
        this.stream.stop();
        this.fire('MEDIA_BUG_STOP', { pre: MEDIA_BUG });
      }
      this.setCallState('HANGUP');
      this.setRunning('CS_REPORTING', 11);
      this.#addVars(
        hangupReport({
          how,
          cause,
          times: this.#times,
          profile: this.profile,
          digits: this.#digits,
          lastApp: this.#vars.get('current_application') ?? '',
          bytesPerPacket: CODECS[this.codec].bytesPerFrame + 12,
          packetsOut: this.#framesPlayed,
        }),
      );
      this.fire('CHANNEL_HANGUP_COMPLETE', { pre: [['Hangup-Cause', cause]] });
      opts.afterComplete?.();
      this.#stateNumber = 12;
      this.fire('CHANNEL_DESTROY');
      this.setRunning('CS_DESTROY', 12);
      this.#timers.clear();
      this.destroyed = true;
      this.#host.channelGone(this);
      this.#host.changed();
      resolveDone();
    };
    const delay = opts.delayMs ?? 0;
    if (delay > 0) this.#timers.after(delay, finish);
    else finish();
    this.#host.changed();
    return this.#hangup;
  }

  /** @internal Emulator stop/restart: everything released, no events; resolves when the stream sockets are closed. */
  destroy(): Promise<void> {
    const closed = Promise.all(this.streams.map((s) => s.destroy()));
    this.#timers.clear();
    this.#host.clock.remove(this);
    this.#hangup ??= Promise.resolve();
    this.destroyed = true;
    return closed.then(() => {});
  }

  /** @internal Media clock tick: 20 ms of caller audio, to the stream if one is attached. */
  onFrame(): void {
    this.#mediaFrame();
    const talking = this.#mic.talking;
    if (this.#wasTalking && !talking) this.#host.changed();
    this.#wasTalking = talking;
    if (this.#playback.playing) this.#framesPlayed++;
  }

  // ---- internals ------------------------------------------------------------------------------------

  /** `record` false: the connect burst, frames beyond real time that a recording (wall clock) does not hold. */
  #mediaFrame(record = true): void {
    const s = this.stream;
    const active = s && (s.state === 'connecting' || s.state === 'connected');
    const rate = active ? s.rate : CODECS[this.codec].rate;
    const samples = rate / 50;
    // A view of the queued audio or shared silence: read only, copied before it is kept.
    const read = this.#mic.take(samples, rate);
    // What the caller hears only goes into mixed and stereo streams.
    if (active) s.pushFrame(read, s.mix === 'mono' ? undefined : this.#writtenFrame(rate, samples));
    if (record && this.recordings.recording) {
      const r = CODECS[this.codec].rate;
      this.recordings.frame(rate === r ? read.slice() : resample(read, rate, r));
    }
  }

  /** What the caller hears during this frame (for mixed/stereo streams), at `rate`. */
  #writtenFrame(rate: number, samples: number): Int16Array | undefined {
    const seg = this.#playback.playing;
    if (!seg) return undefined;
    const audio = this.#timeline.slice8k(seg, performance.now() - seg.startedAt, 20);
    const out = resample(audio, 8000, rate);
    if (out.length === samples) return out;
    const fixed = new Int16Array(samples);
    fixed.set(out.subarray(0, samples));
    return fixed;
  }

  #streamHost(): StreamHost {
    const settings = this.#host.settings;
    return {
      uuid: this.uuid,
      tmpDir: this.#host.tmpDir,
      timers: this.#timers,
      handshakeTimeoutMs: settings.wsHandshakeTimeoutMs,
      playDelayMs: settings.streamAudioPlayDelayMs,
      metadataAfterFrames: settings.metadataAfterFrames,
      connectBurstFrames: settings.connectBurstFrames,
      fireCustom: (subclass, body) => this.fire('CUSTOM', { subclass, body, callingKey: 'CUSTOM' }),
      bugClosed: () => this.fire('MEDIA_BUG_STOP', { pre: MEDIA_BUG }),
      burst: (n) => {
        for (let i = 0; i < n; i++) this.#mediaFrame(false);
      },
      changed: () => this.#host.changed(),
    };
  }

  #runApp(app: string, arg: string): void {
    switch (app) {
      case 'set':
      case 'export': {
        const eq = arg.indexOf('=');
        if (eq > 0) this.setVar(arg.slice(0, eq), arg.slice(eq + 1));
        break;
      }
      case 'unset':
        this.setVar(arg, undefined);
        break;
      case 'push': {
        const eq = arg.indexOf('=');
        if (eq > 0) this.pushVar(arg.slice(0, eq), arg.slice(eq + 1));
        break;
      }
      case 'answer':
        this.answer();
        break;
      case 'pre_answer':
        this.preAnswer();
        break;
      case 'hangup':
        void this.kill(arg);
        break;
      default:
        break; // park, and applications the emulator does not model, complete at once
    }
  }

  #sipTerm(status: number): void {
    this.setVar('sip_term_status', String(status));
    this.setVar('proto_specific_hangup_cause', `sip:${status}`);
    this.setVar('sip_term_cause', String(q850(this.hangupCause ?? 'NORMAL_CLEARING')));
  }

  #addVars(vars: Header[]): void {
    for (const [k, v] of vars) {
      if (k === 'session_id') this.#vars.set(k, String(this.#host.nextSessionId()));
      else this.setVar(k, v);
    }
  }

  #data(causeFirst: boolean): Header[] {
    const h: Header[] = [
      ['Channel-State', this.#running],
      ['Channel-Call-State', this.#callState],
      ['Channel-State-Number', String(this.#stateNumber)],
      ['Channel-Name', this.name],
      ['Unique-ID', this.uuid],
      ['Call-Direction', this.direction],
      ['Presence-Call-Direction', this.direction],
      ['Channel-HIT-Dialplan', String(this.#hitDialplan)],
      ['Channel-Call-UUID', this.uuid],
      ['Answer-State', this.#answerState],
    ];
    if (this.hangupCause && !causeFirst) h.push(['Hangup-Cause', this.hangupCause]);
    if (this.#media) {
      const c = CODECS[this.codec];
      h.push(
        ['Channel-Read-Codec-Name', this.codec],
        ['Channel-Read-Codec-Rate', String(c.rate)],
        ['Channel-Read-Codec-Bit-Rate', String(c.bitRate)],
        ['Channel-Write-Codec-Name', this.codec],
        ['Channel-Write-Codec-Rate', String(c.rate)],
        ['Channel-Write-Codec-Bit-Rate', String(c.bitRate)],
      );
    }
    if (this.#profileReady) h.push(...profileHeaders(this.direction, this.uuid, this.name, this.profile, this.#times));
    return h;
  }
}

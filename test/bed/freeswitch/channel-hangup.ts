/**
 * The end of a channel: a far-end hangup, one from our side (`uuid_kill`, sendmsg hangup), the captured hangup
 * sequence they share, and the silent release when the emulator stops.
 */
import type { TimerSet } from './async-tools.ts';
import type { EmulatedChannel } from './channel.ts';
import type { ChannelApps } from './channel-apps.ts';
import type { ChannelEvents } from './channel-events.ts';
import type { ChannelMedia } from './channel-media.ts';
import { hangupReport } from './channel-report.ts';
import type { ChannelState } from './channel-state.ts';
import { CODECS, type ChannelHost, type HangupHow } from './channel-types.ts';
import { parseCause, q850 } from './causes.ts';
import { epochMicros } from './event-templates.ts';
import type { ChannelRecordings } from './recording.ts';

/** The channel thread notices a local hangup at its next frame; a far-end BYE right away. */
const LOCAL_HANGUP_MS = 20;
const FAR_END_HANGUP_MS = 1;

export interface TerminateOptions {
  delayMs?: number;
  sip?: { status: number; phrase: string };
  afterHangup?: () => void;
  afterComplete?: () => void;
}

export interface HangupParts {
  host: ChannelHost;
  channel: EmulatedChannel;
  state: ChannelState;
  events: ChannelEvents;
  timers: TimerSet;
  media: ChannelMedia;
  apps: ChannelApps;
  recordings: ChannelRecordings;
}

export class ChannelHangup {
  readonly #parts: HangupParts;
  /** Set at the hangup; resolves after CHANNEL_DESTROY. */
  #done: Promise<void> | undefined;

  constructor(parts: HangupParts) {
    this.#parts = parts;
  }

  get hungUp(): boolean {
    return this.#done !== undefined;
  }

  /** The far end hangs up: BYE once answered (or on an outbound leg), CANCEL before. */
  farEnd(cause: string | undefined): Promise<void> {
    const { state } = this.#parts;
    const bye = state.answerState === 'answered' || state.direction === 'outbound';
    const how = bye ? 'recv_bye' : 'recv_cancel';
    const fallback = bye ? 'NORMAL_CLEARING' : 'ORIGINATOR_CANCEL';
    return this.terminate(parseCause(cause ?? fallback) ?? cause ?? fallback, how, { delayMs: FAR_END_HANGUP_MS });
  }

  /** From our side: BYE once answered, else a refusal (inbound) or a CANCEL (outbound). */
  kill(cause: string): Promise<void> {
    const { state } = this.#parts;
    const how =
      state.answerState === 'answered' ? 'send_bye' : state.direction === 'inbound' ? 'send_refuse' : 'send_cancel';
    return this.terminate(parseCause(cause) ?? 'NORMAL_CLEARING', how, { delayMs: LOCAL_HANGUP_MS });
  }

  /** See EmulatedChannel.terminate for the sequence. */
  terminate(cause: string, how: HangupHow, opts: TerminateOptions): Promise<void> {
    if (this.#done) return this.#done;
    const { host, channel, state, events, timers } = this.#parts;
    let resolveDone!: () => void;
    this.#done = new Promise((resolve) => (resolveDone = resolve));
    const hangupAt = performance.now();
    state.hangupCause = cause;
    state.answerState = 'hangup';
    state.stateNumber = 10;
    state.times.hangup = epochMicros();
    host.clock.remove(this.#parts.media);
    if (how === 'recv_bye') this.#sipTerm(200);
    if (how === 'recv_refuse' && opts.sip) {
      events.setVar('sip_hangup_disposition', 'recv_refuse');
      events.setVar('sip_invite_failure_status', String(opts.sip.status));
      events.setVar('sip_invite_failure_phrase', opts.sip.phrase);
      this.#sipTerm(opts.sip.status);
    }
    events.fire('CHANNEL_HANGUP');
    channel.onHangup?.();
    opts.afterHangup?.();
    const finish = () => {
      this.#finish(cause, how, hangupAt, opts);
      resolveDone();
    };
    const delay = opts.delayMs ?? 0;
    if (delay > 0) timers.after(delay, finish);
    else finish();
    host.changed();
    return this.#done;
  }

  /** Emulator stop/restart: everything released, no events; resolves when the stream sockets are closed. */
  destroy(): Promise<void> {
    const { host, channel, timers, media } = this.#parts;
    const closed = media.destroy();
    timers.clear();
    host.clock.remove(media);
    this.#done ??= Promise.resolve();
    channel.destroyed = true;
    return closed.then(() => {});
  }

  /** The rest of the sequence, once the channel thread noticed the hangup. */
  #finish(cause: string, how: HangupHow, hangupAt: number, opts: TerminateOptions): void {
    const { host, channel, state, events, timers, media, apps, recordings } = this.#parts;
    if (how === 'recv_bye' || how === 'recv_cancel' || how === 'send_refuse')
      events.setVar('sip_hangup_disposition', how);
    apps.hangup(hangupAt);
    recordings.hangup();
    events.setRunning('CS_HANGUP', 10, true);
    media.stop();
    events.setCallState('HANGUP');
    events.setRunning('CS_REPORTING', 11, true);
    events.addVars(
      hangupReport({
        how,
        cause,
        times: state.times,
        profile: state.profile,
        digits: apps.digits,
        lastApp: events.variable('current_application') ?? '',
        bytesPerPacket: CODECS[state.codec].bytesPerFrame + 12,
        packetsOut: media.framesPlayed,
      }),
    );
    events.fire('CHANNEL_HANGUP_COMPLETE', { pre: [['Hangup-Cause', cause]] });
    opts.afterComplete?.();
    state.stateNumber = 12;
    events.fire('CHANNEL_DESTROY');
    events.setRunning('CS_DESTROY', 12, true);
    timers.clear();
    channel.destroyed = true;
    host.channelGone(channel);
    host.changed();
  }

  #sipTerm(status: number): void {
    const { events, state } = this.#parts;
    events.setVar('sip_term_status', String(status));
    events.setVar('proto_specific_hangup_cause', `sip:${status}`);
    events.setVar('sip_term_cause', String(q850(state.hangupCause ?? 'NORMAL_CLEARING')));
  }
}

/**
 * What runs on a channel: dialplan applications (CHANNEL_EXECUTE, effect, CHANNEL_EXECUTE_COMPLETE), `park`,
 * the applications queued by `sendmsg ... execute` and `uuid_broadcast` (PlaybackQueue plays them), and the
 * caller's DTMF, which the playback terminators act on.
 */
import type { EmulatedChannel } from './channel.ts';
import type { ChannelEvents } from './channel-events.ts';
import type { Header } from './event-templates.ts';
import { newAppUuid, type PlaybackQueue, type QueuedApp } from './playback.ts';

export class ChannelApps {
  readonly #channel: EmulatedChannel;
  readonly #events: ChannelEvents;
  readonly #playback: PlaybackQueue;
  /** The running `park`'s Application-UUID. */
  #parkUuid: string | undefined;
  /** Every DTMF digit the caller sent (the CDR's digits_dialed). */
  #digits = '';

  constructor(channel: EmulatedChannel, events: ChannelEvents, playback: PlaybackQueue) {
    this.#channel = channel;
    this.#events = events;
    this.#playback = playback;
  }

  get digits(): string {
    return this.#digits;
  }

  /** DTMF from the caller (RFC 2833): one DTMF event per digit; a playback terminator stops the file playing. */
  dtmf(digits: string, durationMs: number): void {
    for (const digit of digits) {
      this.#digits += digit;
      this.#events.fire('DTMF', {
        post: [
          ['DTMF-Digit', digit],
          ['DTMF-Duration', String(Math.round(durationMs * 8))],
          ['DTMF-Source', 'RTP'],
        ],
      });
      // playback's default terminator set is `*`; `none` and `any` are its other two forms (mod_dptools).
      const terminators = this.#events.variable('playback_terminators') ?? '*';
      const stops = terminators === 'any' || (terminators !== 'none' && terminators.includes(digit));
      if (stops && this.#playback.terminate()) this.#events.setVar('playback_terminator_used', digit);
    }
  }

  /** Applications other than playback/sleep, as the queue runs them: at once. */
  run(app: string, arg: string): void {
    const channel = this.#channel;
    switch (app) {
      case 'set':
      case 'export': {
        const eq = arg.indexOf('=');
        if (eq > 0) this.#events.setVar(arg.slice(0, eq), arg.slice(eq + 1));
        break;
      }
      case 'unset':
        this.#events.setVar(arg, undefined);
        break;
      case 'push': {
        const eq = arg.indexOf('=');
        if (eq > 0) this.#events.pushVar(arg.slice(0, eq), arg.slice(eq + 1));
        break;
      }
      case 'answer':
        channel.answer();
        break;
      case 'pre_answer':
        channel.preAnswer();
        break;
      case 'hangup':
        void channel.kill(arg);
        break;
      default:
        break; // park, and applications the emulator does not model, complete at once
    }
  }

  /** A dialplan application that completes at once (set, answer, ...): EXECUTE, effect, EXECUTE_COMPLETE. */
  runDialplanApp(app: string, data: string, effect: () => void): void {
    const appUuid = newAppUuid();
    this.#events.setVar('current_application_data', data || undefined);
    this.#events.setVar('current_application', app);
    const headers: Header[] = [
      ['Application', app],
      ['Application-Data', data],
    ];
    this.#events.fire('CHANNEL_EXECUTE', { post: [...headers, ['Application-UUID', appUuid]] });
    effect();
    this.#events.fire('CHANNEL_EXECUTE_COMPLETE', {
      post: [...headers, ['Application-Response', '_none_'], ['Application-UUID', appUuid]],
    });
  }

  /** The `park` application: CHANNEL_EXECUTE park, CHANNEL_PARK. */
  park(): void {
    this.#parkUuid = newAppUuid();
    this.#events.setVar('current_application_data', undefined);
    this.#events.setVar('current_application', 'park');
    this.#events.fire('CHANNEL_EXECUTE', {
      post: [
        ['Application', 'park'],
        ['Application-UUID', this.#parkUuid],
      ],
    });
    this.#events.fire('CHANNEL_PARK');
  }

  /** Leaves `park` (uuid_bridge): what plays stops, CHANNEL_UNPARK and the park's EXECUTE_COMPLETE. */
  unpark(): void {
    this.#playback.break(true);
    if (!this.#parkUuid) return;
    const parkUuid = this.#parkUuid;
    this.#parkUuid = undefined;
    this.#parkCompleted(parkUuid);
  }

  /** The hangup's part: the file playing stops at `at`, and a running park completes (it stays recorded as such). */
  hangup(at: number): void {
    this.#playback.hangup(at);
    if (this.#parkUuid) this.#parkCompleted(this.#parkUuid);
  }

  /** `uuid_broadcast <uuid> <path> [aleg|bleg|both]`. */
  broadcast(path: string, leg: string): void {
    if (leg === 'bleg' || this.#channel.hungUp) return; // no b-leg on a parked channel
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

  /** `sendmsg <uuid>`; returns the Reply-Text. */
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
      if (!this.#channel.hungUp) this.#playback.enqueue(item);
    } else if (command === 'hangup') {
      void this.#channel.kill(get('hangup-cause') ?? '');
    }
    return '+OK';
  }

  #parkCompleted(parkUuid: string): void {
    this.#events.fire('CHANNEL_UNPARK');
    this.#events.fire('CHANNEL_EXECUTE_COMPLETE', {
      post: [
        ['Application', 'park'],
        ['Application-Response', '_none_'],
        ['Application-UUID', parkUuid],
      ],
    });
  }
}

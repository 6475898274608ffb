/**
 * A channel's events and what they carry: builds and fires each event from the channel's state (channel data)
 * and variables, keeps the channel's event log, and makes the changes FreeSWITCH announces (running state,
 * call state) together with their event. The variables live here because they are rendered into the events.
 */
import { ChannelVariables } from './channel-variables.ts';
import type { ChannelState } from './channel-state.ts';
import type { CallState, ChannelHost, FireParts } from './channel-types.ts';
import { templateVars, type FsEvent, type Header } from './event-templates.ts';

const CALL_STATE_NUMBER: Record<CallState, number> = { DOWN: 0, RINGING: 2, EARLY: 3, ACTIVE: 4, HANGUP: 7 };

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

export class ChannelEvents {
  /** Every event the channel fired, in order (when the emulator keeps an event log). */
  readonly log: FsEvent[] = [];
  readonly #host: ChannelHost;
  readonly #state: ChannelState;
  readonly #vars = new ChannelVariables();
  /** Values for the `${placeholders}` of the captured variable templates. */
  readonly #ctx: Record<string, string>;

  constructor(host: ChannelHost, state: ChannelState, templateContext: Record<string, string>) {
    this.#host = host;
    this.#state = state;
    this.#ctx = templateContext;
    this.#ctx['created_us'] = String(state.times.created);
  }

  get variables(): ReadonlyMap<string, string> {
    return this.#vars.map;
  }

  variable(name: string): string | undefined {
    return this.#vars.get(name);
  }

  /**
   * Fires an event with the channel's data. An event nobody takes (no subscription, log or listener for it)
   * only takes its sequence number: building it was most of the emulator's cost per played file.
   */
  fire(name: string, parts: FireParts = {}): FsEvent | undefined {
    const host = this.#host;
    if (!host.observed(name, parts.subclass)) {
      host.factory.skip();
      host.unobserved();
      return undefined;
    }
    const event = host.factory.make(name, {
      ...parts,
      data: this.#state.data(name === 'CHANNEL_HANGUP_COMPLETE'),
      ...(WITH_VARIABLES.has(name) && { vars: this.#vars.headers() }),
      uuid: this.#state.uuid,
    });
    if (host.settings.keepEventLog) this.log.push(event);
    host.fire(event);
    return event;
  }

  /** `uuid_dump`: the channel data with every variable, as a CHANNEL_DATA event (not fired). */
  dump(): FsEvent {
    return this.#host.factory.make('CHANNEL_DATA', {
      data: this.#state.data(false),
      vars: this.#vars.headers(),
      calling: ['mod_commands.c', 'uuid_dump_function', '6468'],
      uuid: this.#state.uuid,
    });
  }

  /** A new running state, announced with CHANNEL_STATE unless `announce` is false. */
  setRunning(running: string, stateNumber: number, announce: boolean): void {
    const state = this.#state;
    state.running = running;
    state.stateNumber = stateNumber;
    if (announce) this.fire('CHANNEL_STATE');
    if (running !== 'CS_NEW') state.profileReady = true;
  }

  setCallState(next: CallState): void {
    const original = this.#state.callState;
    this.#state.callState = next;
    this.fire('CHANNEL_CALLSTATE', {
      pre: [
        ['Original-Channel-Call-State', original],
        ['Channel-Call-State-Number', String(CALL_STATE_NUMBER[next])],
      ],
    });
  }

  /** Sets (or with `undefined` or '', unsets) a channel variable. */
  setVar(name: string, value: string | undefined): void {
    if (value === undefined || value === '') {
      this.#vars.delete(name);
    } else this.#vars.set(name, value);
  }

  /** The `push` application: a second value turns the variable into FreeSWITCH's `ARRAY::a|:b` form. */
  pushVar(name: string, value: string): void {
    const existing = this.#vars.get(name);
    if (existing === undefined) this.setVar(name, value);
    else this.setVar(name, `${existing.startsWith('ARRAY::') ? existing : `ARRAY::${existing}`}|:${value}`);
  }

  /** Adds a captured variable phase, with this call's values in place of some captured ones (`overrides`). */
  addTemplate(phase: string, overrides?: Record<string, string>): void {
    this.addVars(templateVars(phase, this.#ctx), overrides);
  }

  /** Sets captured variables in order; each `session_id` takes the emulator's next session number. */
  addVars(vars: Header[], overrides?: Record<string, string>): void {
    for (const [k, v] of vars) {
      if (k === 'session_id') this.#vars.set(k, String(this.#host.nextSessionId()));
      else this.setVar(k, overrides?.[k] ?? v);
    }
  }
}

import { arrayValues, type ChannelInfo } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { BROWSER_MARKER, BROWSER_TICKET_VARIABLE, type BrowserTickets, type TicketVerdict } from './browser-tickets.ts';
import { MARKER_VARIABLE } from './marker.ts';

/** Why a browser call was refused: its ticket's verdict, or `disabled` when this instance issues no tickets. */
export type BrowserRefusal = Exclude<TicketVerdict, 'ok'> | 'disabled';

export interface BrowserAdmission {
  /** Absent: browser calls are off, every one is refused. */
  browserTickets?: Pick<BrowserTickets, 'redeem'>;
  metrics?: Metrics;
}

/** How a refused channel is hung up (ChannelControl: a validated `uuid_kill`). */
export type RefusedChannel = { hangup(cause?: string): Promise<void> };

/** FreeSWITCH's SIP profile for browsers (freeswitch/conf/sip_profiles/browser.xml). */
export const BROWSER_SIP_PROFILE = 'browser';

/**
 * A call from the browser side: marked `callbridge=browser` by the browser dialplan (the latest value counts, as
 * in marker.ts), or received on the browser SIP profile whatever context it reached. The second covers requests
 * that leave the browser context: sofia routes an INVITE whose URI names a gateway (`;gw=NAME`, `gw+NAME`) to
 * that gateway's context. mod_sofia sets `sofia_profile_name` itself; no SIP header can (X- headers land in sip_h_*).
 */
export function isBrowserCall(channel: ChannelInfo): boolean {
  const profile = channel.variable('sofia_profile_name');
  if (channel.direction === 'inbound' && profile === BROWSER_SIP_PROFILE) return true;
  const raw = channel.variable(MARKER_VARIABLE);
  if (typeof raw !== 'string') return false;
  return arrayValues(raw).at(-1)!.trim().toLowerCase() === BROWSER_MARKER;
}

/** Channels admitted, remembered so that taking one again (a resync, a call left parked and retaken) is no reuse. */
const ADMITTED_MAX = 10_000;

/**
 * Whether a parked channel may be taken. Calls from the browser profile must carry a ticket that redeems (issued
 * to the console, once, not expired); any other marked call passes. A refused call is hung up with CALL_REJECTED
 * before anything else is sent to it (no answer, no stream), logged by reason (never the ticket) and counted.
 * Every path that takes a channel (CHANNEL_PARK, the resync after a reconnect) comes through here, so a reconnect
 * cannot skip the check. The channel that redeemed a ticket passes again without it (the same call, taken again);
 * any other channel presenting that ticket is refused as `used`.
 */
export class BrowserGate {
  /** Uuids of admitted browser channels, oldest first (bounded: the oldest are forgotten). */
  readonly #admitted = new Set<string>();

  admit(channel: ChannelInfo, control: RefusedChannel, log: Logger, d: BrowserAdmission): boolean {
    if (!isBrowserCall(channel) || this.#admitted.has(channel.uuid)) return true;
    const ticket = channel.variable(BROWSER_TICKET_VARIABLE);
    const refusal: BrowserRefusal | 'ok' = d.browserTickets ? d.browserTickets.redeem(ticket) : 'disabled';
    if (refusal === 'ok') {
      if (this.#admitted.size >= ADMITTED_MAX) this.#admitted.delete(this.#admitted.values().next().value!);
      this.#admitted.add(channel.uuid);
      log.info({ from: channel.callerNumber }, 'browser call admitted: its ticket redeemed');
      return true;
    }
    d.metrics?.browserCallsRefused.inc({ reason: refusal });
    log.warn({ reason: refusal, from: channel.callerNumber }, 'refusing a browser call: no valid ticket');
    control.hangup('CALL_REJECTED').catch((err: Error) => {
      log.warn({ err: err.message }, 'could not hang up a refused browser call');
    });
    return false;
  }
}

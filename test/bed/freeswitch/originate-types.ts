/**
 * What a test sees of an originate and decides about it (`emulator.onOriginate`), and what runOriginate needs
 * from the emulator. originate.ts re-exports them.
 */
import type { ChannelInit, CodecName, EmulatedChannel } from './channel.ts';
import type { Settings } from './settings.ts';

export interface OriginateRequest {
  /** The dial string without the `{...}` blocks, e.g. `sofia/gateway/gw1/15551234567`. */
  dialString: string;
  /** Variables from the `{...}` / `[...]` blocks, in order. */
  variables: Record<string, string>;
  /** origination_uuid, or the one FreeSWITCH picked. */
  uuid: string;
  /** Destination user/number from the dial string. */
  destination: string;
  /** `park` for `&park()`; an extension for dialplan transfers. */
  application: string;
  timeoutSec: number;
  ignoreEarlyMedia: boolean;
}

/** What happens to an originated call (decided by `emulator.onOriginate`). Times are from the originate. */
export type OriginatePlan =
  | {
      result: 'answer';
      /** Default 50. */
      afterMs?: number;
      /** 180 Ringing first: false for none, or when (ms). Default 20 (or at once if answering sooner). */
      ringingAfterMs?: number | false;
      /** 183 with early media at this time; without ignore_early_media the originate succeeds there. */
      earlyMediaAfterMs?: number;
      codec?: CodecName;
      /** The callee hangs up (BYE) this long after answering. */
      hangupAfterMs?: number;
      hangupCause?: string;
    }
  /** 486 Busy Here → USER_BUSY. */
  | { result: 'busy'; afterMs?: number; ringingAfterMs?: number | false }
  /** Rings until originate_timeout → NO_ANSWER. */
  | { result: 'no-answer'; ringingAfterMs?: number | false }
  /** Nothing listening (503) → NORMAL_TEMPORARY_FAILURE, default after 20 ms. */
  | { result: 'unreachable'; afterMs?: number }
  /** Any other refusal: `cause` such as CALL_REJECTED, with the SIP status FreeSWITCH would have seen. */
  | { result: 'reject'; cause: string; sipStatus?: number; afterMs?: number; ringingAfterMs?: number | false }
  /** Fails before any channel exists: `-ERR <cause>` (e.g. GATEWAY_DOWN). */
  | { result: 'error'; cause: string };

export interface OriginateContext {
  settings: Settings;
  plan(req: OriginateRequest): OriginatePlan;
  newChannel(init: ChannelInit): EmulatedChannel;
}

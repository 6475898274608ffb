import { randomUUID } from 'node:crypto';
import type { ChannelControl } from '../freeswitch/channel-control.ts';
import { type BridgeTarget, UnsafeEslValueError } from '../freeswitch/commands.ts';
import { errorText } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CallActions, TransferOutcome } from './call-actions.ts';
import { MARKER_VARIABLE } from './marker.ts';

/** What the session lends its CallControl: its own ways of ending the call. */
export interface CallControlHooks {
  /** Hang up once everything queued for the caller has played (the session's "agent hung up" path). */
  endAfterPlayback(reason: string): void;
  /**
   * The caller now belongs to someone else: end the session (agent, playout, media socket) without hanging
   * up. Sets the session ending synchronously; the returned promise settles when it has ended.
   */
  transferred(target: string, method: 'bridge' | 'refer'): Promise<void>;
  /** Drop the agent's queued and playing audio (before the caller is joined to the B leg). */
  silence(): void;
  /** False once the call is ending or ended. */
  live(): boolean;
}

export interface CallControlDeps extends CallControlHooks {
  channel: Pick<
    ChannelControl,
    'uuid' | 'originateLeg' | 'bridgeTo' | 'hangupLeg' | 'deflect' | 'sendDtmf' | 'stopStream' | 'setVariables'
  >;
  /** The gateway numbers are dialled through: the call's own, else DEFAULT_GATEWAY. */
  gateway: string | undefined;
  /** The sofia profile `sip:` targets are dialled through. */
  sipProfile: string;
  /** originate_timeout of the B leg; the whole attempt is given up 5 s later. */
  originateTimeoutSeconds: number;
  callerIdNumber: string | undefined;
  logger: Logger;
}

/** FreeSWITCH waits 10 s for the NOTIFY after a REFER (captured 9.3–9.8 s when refused); a little more here. */
const REFER_TIMEOUT_MS = 15_000;

const failed = (reason: Extract<TransferOutcome, { ok: false }>['reason'], detail: string): TransferOutcome => ({
  ok: false,
  reason,
  detail,
});

/** How the BACKGROUND_JOB's `-ERR <CAUSE>` of the B leg's originate reads as an outcome. */
function legOutcome(cause: string): TransferOutcome {
  switch (cause) {
    case 'USER_BUSY':
      return failed('busy', cause);
    case 'NO_ANSWER':
    case 'NO_USER_RESPONSE':
    case 'ALLOTTED_TIMEOUT':
    case 'ORIGINATOR_CANCEL':
      return failed('no-answer', cause);
    case 'CALL_REJECTED':
    case 'UNALLOCATED_NUMBER':
    case 'NO_ROUTE_DESTINATION':
    case 'INVALID_NUMBER_FORMAT':
    case 'SUBSCRIBER_ABSENT':
    case 'USER_NOT_REGISTERED':
      return failed('rejected', cause);
    default:
      return failed('failed', cause);
  }
}

/**
 * What the agent (tools) and the call-control API can make one call do besides talking: end after the
 * goodbye, blind transfer (bridge or REFER), DTMF. Every value reaches FreeSWITCH through the validated
 * builders of commands.ts; a refused value becomes an `invalid` outcome (or a rejection) with nothing sent.
 *
 * Bridge: `bgapi originate … &park()` of the B leg; once its BACKGROUND_JOB says `+OK` the agent's audio is
 * dropped, `uuid_bridge` joins the caller to it, the session ends without hanging up and the media stream is
 * stopped (its bug would otherwise stream the bridged call). `-ERR USER_BUSY`/`NO_ANSWER`/… leave the caller
 * with the agent. REFER: `bgapi uuid_deflect`; FreeSWITCH ends the channel (BLIND_TRANSFER) either way.
 */
export class CallControl implements CallActions {
  readonly #d: CallControlDeps;
  readonly #log: Logger;
  /** The B leg being dialled, hung up if the call ends meanwhile. */
  #leg: string | undefined;
  /** A REFER whose result the session waits for before it records how the call ended. */
  #referJob: Promise<void> | undefined;
  #transferring = false;
  #closed = false;

  constructor(deps: CallControlDeps) {
    this.#d = deps;
    this.#log = deps.logger;
  }

  endAfterPlayback(reason: string): void {
    this.#d.endAfterPlayback(reason);
  }

  async transfer(target: string, opts: { readonly method?: 'bridge' | 'refer' } = {}): Promise<TransferOutcome> {
    const method = opts.method ?? 'bridge';
    if (this.#closed || !this.#d.live()) return failed('failed', 'the call has ended');
    if (this.#transferring) return failed('failed', 'a transfer is already in progress');
    this.#transferring = true;
    try {
      const outcome = method === 'refer' ? await this.#refer(target) : await this.#bridge(target);
      this.#log.info({ target: String(target).slice(0, 80), method, ...outcome }, 'transfer');
      return outcome;
    } finally {
      this.#transferring = false;
    }
  }

  async sendDtmf(digits: string): Promise<void> {
    if (this.#closed || !this.#d.live()) throw new Error('the call has ended');
    await this.#d.channel.sendDtmf(digits);
    this.#log.info({ digits }, 'dtmf sent');
  }

  /** The session is ending: a B leg still ringing is cancelled; a REFER in flight is waited for (bounded). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#leg) this.#d.channel.hangupLeg(this.#leg).catch(() => {});
    await this.#referJob;
  }

  #bridgeTarget(target: string): BridgeTarget | string {
    if (typeof target !== 'string') return 'target must be a string';
    if (target.startsWith('sip:')) return { kind: 'sip', profile: this.#d.sipProfile, uri: target };
    if (!this.#d.gateway) return 'no gateway to dial numbers through: set DEFAULT_GATEWAY';
    return { kind: 'number', gateway: this.#d.gateway, number: target };
  }

  async #bridge(target: string): Promise<TransferOutcome> {
    const { channel } = this.#d;
    const to = this.#bridgeTarget(target);
    if (typeof to === 'string') return failed('invalid', to);
    const legId = randomUUID();
    const timeoutSeconds = this.#d.originateTimeoutSeconds;
    let job: Promise<string>;
    try {
      job = channel.originateLeg(
        { uuid: legId, target: to, timeoutSeconds, callerIdNumber: this.#d.callerIdNumber },
        (timeoutSeconds + 5) * 1000,
      );
    } catch (err) {
      if (err instanceof UnsafeEslValueError) return failed('invalid', err.message);
      throw err;
    }
    this.#leg = legId;
    let result: string;
    try {
      result = await job;
    } catch (err) {
      // No result in time (or ESL lost): the leg may still be ringing somewhere.
      channel.hangupLeg(legId).catch(() => {});
      return failed('failed', errorText(err));
    } finally {
      this.#leg = undefined;
    }
    if (!result.startsWith('+OK')) {
      if (this.#closed) return failed('failed', 'the call ended during the transfer');
      return legOutcome(
        result
          .replace(/^-ERR\s*/, '')
          .trim()
          .split(/\s/)[0] || 'UNKNOWN',
      );
    }
    if (this.#closed || !this.#d.live()) {
      channel.hangupLeg(legId, 'NORMAL_CLEARING').catch(() => {});
      return failed('failed', 'the call ended before the transfer target answered');
    }
    this.#d.silence();
    try {
      await channel.bridgeTo(legId);
    } catch (err) {
      channel.hangupLeg(legId, 'NORMAL_CLEARING').catch(() => {});
      return failed('failed', `bridge failed: ${errorText(err)}`);
    }
    // Not awaited: ending closes the agent, which may be the one waiting for this outcome.
    this.#d.transferred(target, 'bridge').catch((err: unknown) => {
      this.#log.warn({ err: errorText(err) }, 'ending the session after the transfer failed');
    });
    // The media bug survives the bridge (captured): stop it, or the bridged call keeps streaming to us. And
    // unmark the channel, or a resync after an ESL drop would take the bridged caller back as a parked call.
    const [stopped, unmarked] = await Promise.allSettled([
      channel.stopStream(),
      channel.setVariables({ [MARKER_VARIABLE]: '0' }),
    ]);
    for (const r of [stopped, unmarked]) {
      if (r.status === 'rejected') this.#log.warn({ err: errorText(r.reason) }, 'cleanup after the transfer failed');
    }
    return { ok: true, method: 'bridge' };
  }

  async #refer(target: string): Promise<TransferOutcome> {
    if (typeof target !== 'string' || !target.startsWith('sip:')) {
      return failed('invalid', 'REFER needs a sip: URI target');
    }
    let job: Promise<string>;
    try {
      job = this.#d.channel.deflect(target, REFER_TIMEOUT_MS);
    } catch (err) {
      if (err instanceof UnsafeEslValueError) return failed('invalid', err.message);
      throw err;
    }
    // Settles only once the outcome is handled, so a session ending meanwhile records the transfer.
    let handled!: () => void;
    this.#referJob = new Promise<void>((resolve) => (handled = resolve));
    try {
      const result = await job;
      // The NOTIFY's sipfrag: the referred call's progress (1xx) or answer (2xx). `+OK:no reply`: refused (405,
      // 501, ...) or never answered; FreeSWITCH hangs the channel up anyway (captured).
      if (/^\+OK:SIP\/2\.0 [12]\d\d/.test(result)) {
        this.#d.transferred(target, 'refer').catch(() => {});
        return { ok: true, method: 'refer' };
      }
      return failed('rejected', `the far end did not accept the REFER (${result.trim() || 'no result'})`);
    } catch (err) {
      return failed('failed', errorText(err));
    } finally {
      this.#referJob = undefined;
      handled();
    }
  }
}
/** Why a call-control request (transfer, DTMF) could not be delivered to a call. */
export class CallUnavailableError extends Error {
  readonly kind: 'unknown' | 'ended' | 'not-ready';
  constructor(kind: 'unknown' | 'ended' | 'not-ready', message: string) {
    super(message);
    this.name = 'CallUnavailableError';
    this.kind = kind;
  }
}

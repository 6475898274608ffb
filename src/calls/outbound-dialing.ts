import { kill } from '../freeswitch/commands.ts';
import { EslNotConnectedError, type EslClient } from '../freeswitch/esl.ts';
import type { CallEvent } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import { finalStatus, type CallRecord } from '../store/call-record.ts';
import type { CallBook } from './call-book.ts';
import { OriginateError, outboundCall, type OriginateRequest, type OutboundSettings } from './outbound-call.ts';

export interface DialingDeps {
  esl: EslClient;
  book: CallBook;
  logger: Logger;
  outbound: OutboundSettings;
  /** The FreeSWITCH node the calls are placed on, written on each record. */
  node?: string;
  /** Cluster mode: the call must be ours before FreeSWITCH parks it. */
  claim?(callId: string): Promise<boolean>;
}

/**
 * Outbound calls from `originate` until they park (answered: the call manager takes them) or end unanswered.
 * Their ringing/answer/hangup events land here; an originate whose result was lost with ESL waits for the
 * reconnect's channel listing (confirm / giveUp) or its own timeout.
 */
export class OutboundDialing {
  readonly #d: DialingDeps;
  readonly #dialing = new Set<string>();
  /** Calls whose originate result was lost with the ESL connection, with the timer that gives up on them. */
  readonly #unconfirmed = new Map<string, NodeJS.Timeout>();

  constructor(deps: DialingDeps) {
    this.#d = deps;
  }

  get size(): number {
    return this.#dialing.size;
  }

  has(id: string): boolean {
    return this.#dialing.has(id);
  }

  unconfirmed(): string[] {
    return [...this.#unconfirmed.keys()];
  }

  /**
   * Register the call under its origination_uuid (its events can arrive before the BACKGROUND_JOB), then
   * `bgapi originate`. Resolves once the command is on its way; the record follows the call.
   */
  async originate(req: OriginateRequest): Promise<CallRecord> {
    const { esl, book, logger } = this.#d;
    const call = outboundCall(req, this.#d.outbound, esl.connected);
    const { id, gateway, timeoutSeconds: timeout } = call;
    if (this.#d.node) call.record.node = this.#d.node;
    const claimed = await this.#d.claim?.(id).catch(() => false);
    if (claimed === false) throw new OriginateError('unavailable', 'this instance could not claim the call (cluster)');
    book.add(call.record);
    this.#dialing.add(id);
    book.setStatus(id, 'dialing');
    const log = logger.child({ call: id });
    log.info({ to: req.to, gateway }, 'placing call');
    esl.bgapi(call.command, (timeout + 15) * 1000).then(
      (result) => {
        if (result.startsWith('+OK')) return;
        const cause =
          result
            .replace(/^-ERR\s*/, '')
            .trim()
            .split(/\s/)[0] || 'UNKNOWN';
        this.#dialing.delete(id);
        book.setStatus(id, finalStatus(cause, false), { hangupCause: cause, endReason: `originate: ${cause}` });
        log.info({ cause }, 'call not connected');
      },
      (err: Error) => {
        if (err instanceof EslNotConnectedError && this.#dialing.has(id)) {
          // The command may have reached FreeSWITCH: what it holds after the reconnect decides.
          log.warn(
            { err: err.message },
            'ESL dropped before the originate result; checking FreeSWITCH after the reconnect',
          );
          const giveUp = () => this.giveUp(id, 'ESL did not come back in time');
          this.#unconfirmed.set(id, setTimeout(giveUp, (timeout + 15) * 1000));
          return;
        }
        this.#dialing.delete(id);
        book.setStatus(id, 'failed', { endReason: `originate: ${err.message}` });
        log.warn({ err: err.message }, 'originate failed');
      },
    );
    return call.record;
  }

  /** Ringing, answer and hang-up of a call still dialing. */
  onEvent(e: CallEvent): void {
    if (!this.#dialing.has(e.uuid)) return;
    const { book } = this.#d;
    if (e.type === 'progress') book.setStatus(e.uuid, 'ringing');
    else if (e.type === 'answer') book.setStatus(e.uuid, 'answered');
    else if (e.type === 'hangup') {
      this.parked(e.uuid);
      const answered = book.live(e.uuid)?.answeredAt !== undefined;
      book.setStatus(e.uuid, finalStatus(e.cause, answered), { hangupCause: e.cause, endReason: `hangup: ${e.cause}` });
    }
  }

  /** The call reached park (or ended): no longer dialing. */
  parked(id: string): void {
    this.#dialing.delete(id);
    this.confirm(id);
  }

  /** Its channel exists after a reconnect: its own events carry it on. */
  confirm(id: string): void {
    clearTimeout(this.#unconfirmed.get(id));
    this.#unconfirmed.delete(id);
  }

  giveUp(id: string, why: string): void {
    this.confirm(id);
    if (!this.#dialing.delete(id)) return;
    const endReason = `originate: FreeSWITCH connection lost before the result; ${why}`;
    this.#d.book.setStatus(id, 'failed', { endReason });
    this.#d.logger.warn({ call: id, why }, 'outbound call given up: its originate result was lost with ESL');
  }

  /** Hang up a call still dialing; false when it is not. */
  async cancel(id: string): Promise<boolean> {
    if (!this.#dialing.has(id)) return false;
    await this.#d.esl.api(kill(id, 'ORIGINATOR_CANCEL')).catch(() => {});
    return true;
  }

  shutdown(): void {
    for (const id of this.unconfirmed()) this.giveUp(id, 'callbridge shutting down');
  }
}

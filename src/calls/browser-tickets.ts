import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The SIP header the console's browser puts its ticket in (on the INVITE). */
export const BROWSER_TICKET_HEADER = 'X-Callbridge-Ticket';
/** FreeSWITCH hands an INVITE's X- headers to the channel as `sip_h_<header>` variables. */
export const BROWSER_TICKET_VARIABLE = `sip_h_${BROWSER_TICKET_HEADER}`;
/** The marker (`callbridge=browser`) the browser dialplan sets before parking. */
export const BROWSER_MARKER = 'browser';

export type TicketVerdict = 'ok' | 'missing' | 'invalid' | 'expired' | 'used';

export interface BrowserTicketOptions {
  /** Shared by every callbridge instance behind one FreeSWITCH; absent: random per process. */
  secret?: string;
  ttlMs: number;
  now?: () => number;
  /** How many redeemed tickets are remembered (against reuse) at most. */
  maxOutstanding?: number;
}

const MAX_TICKET_LENGTH = 200;
const TICKET_SHAPE = /^[a-z0-9]{1,11}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/;
const NONCE_BYTES = 16;

/**
 * Short-lived, single-use credentials that let the console's browser call the agent:
 * `<expiresAt base36>.<nonce base64url>.<HMAC-SHA256(secret, "expiresAt.nonce") base64url>`.
 * Issuing keeps no state; redeeming remembers each redeemed nonce until its ticket expires.
 */
export class BrowserTickets {
  readonly #key: Buffer;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #max: number;
  /** Redeemed nonces → their ticket's expiry (insertion order = redemption order). */
  readonly #redeemed = new Map<string, number>();

  constructor(opts: BrowserTicketOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError('ttlMs must be positive');
    this.#key = opts.secret ? Buffer.from(opts.secret, 'utf8') : randomBytes(32);
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
    this.#max = Math.max(1, opts.maxOutstanding ?? 10_000);
  }

  issue(): { ticket: string; expiresAt: number } {
    const expiresAt = Math.floor(this.#now() + this.#ttlMs);
    const payload = `${expiresAt.toString(36)}.${randomBytes(NONCE_BYTES).toString('base64url')}`;
    return { ticket: `${payload}.${this.#sign(payload).toString('base64url')}`, expiresAt };
  }

  redeem(ticket: string | undefined): TicketVerdict {
    const now = this.#now();
    this.#prune(now);
    if (ticket === undefined || ticket.trim() === '') return 'missing';
    if (ticket.length > MAX_TICKET_LENGTH || !TICKET_SHAPE.test(ticket)) return 'invalid';
    const [expiry, nonce, signature] = ticket.split('.') as [string, string, string];
    const given = Buffer.from(signature, 'base64url');
    const expected = this.#sign(`${expiry}.${nonce}`);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    const expiresAt = Number.parseInt(expiry, 36);
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= now) return 'expired';
    if (this.#redeemed.has(nonce)) return 'used';
    // Full of live tickets: forget the oldest redemption (it expires soonest) rather than grow without bound.
    // Only someone who can get tickets anyway (an authenticated console) can fill it.
    if (this.#redeemed.size >= this.#max) this.#redeemed.delete(this.#redeemed.keys().next().value!);
    this.#redeemed.set(nonce, expiresAt);
    return 'ok';
  }

  /** How many redeemed tickets are remembered now (for tests and metrics). */
  get remembered(): number {
    return this.#redeemed.size;
  }

  #sign(payload: string): Buffer {
    return createHmac('sha256', this.#key).update(payload).digest();
  }

  /**
   * Tickets share one TTL, so redemption order is close to expiry order: drop expired entries from the
   * oldest on. One that expired behind a live one goes later (an expired ticket is refused before reuse matters).
   */
  #prune(now: number): void {
    for (const [nonce, expiresAt] of this.#redeemed) {
      if (expiresAt > now) return;
      this.#redeemed.delete(nonce);
    }
  }
}

import { createHash, createHmac } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { safeEqual } from '../secrets.ts';

export const CONSOLE_COOKIE = 'callbridge_console';
/** Header a cookie-authenticated request that changes something must carry (a cross-site form cannot set it). */
export const CONSOLE_CSRF_HEADER = 'X-Callbridge-Console';

/**
 * Console sign-ins: a cookie `<expiresAtMs>.<HMAC-SHA256 base64url>` keyed from API_TOKEN, so nothing is stored
 * server-side and a changed token ends every sign-in. The token itself never leaves the POST that proves it.
 */
export class ConsoleSessions {
  readonly #key: Buffer;
  readonly #maxAgeMs: number;
  readonly #now: () => number;

  constructor(opts: { apiToken: string; hours: number; now?: () => number }) {
    // A key of its own, so a cookie's signature is not a signature made directly with the API token.
    this.#key = createHash('sha256').update(`callbridge console session\0${opts.apiToken}`).digest();
    this.#maxAgeMs = opts.hours * 3_600_000;
    this.#now = opts.now ?? Date.now;
  }

  get maxAgeSeconds(): number {
    return Math.round(this.#maxAgeMs / 1000);
  }

  /** A new cookie value, valid for the configured hours. */
  issue(): string {
    const expiresAt = this.#now() + this.#maxAgeMs;
    return `${expiresAt}.${this.#sign(expiresAt)}`;
  }

  /** True for a value this process (or one with the same API_TOKEN) issued that has not expired. */
  valid(value: string | undefined): boolean {
    const m = /^(\d{13,16})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
    if (!m) return false;
    const expiresAt = Number(m[1]);
    if (!safeEqual(m[2]!, this.#sign(expiresAt))) return false;
    const now = this.#now();
    return expiresAt > now && expiresAt <= now + this.#maxAgeMs;
  }

  #sign(expiresAt: number): string {
    return createHmac('sha256', this.#key).update(String(expiresAt)).digest('base64url');
  }
}

/**
 * Wrong sign-in tokens, counted per process over a sliding minute: past `max`, every attempt is refused for
 * a while (right or wrong), so the sign-in cannot be used to guess the token.
 */
export class SignInLimiter {
  readonly #failures: number[] = [];
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(opts: { max?: number; windowMs?: number; now?: () => number } = {}) {
    this.#max = opts.max ?? 10;
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Seconds until attempts are taken again, or 0 when they are now. */
  blockedForSeconds(): number {
    const now = this.#now();
    while (this.#failures.length && this.#failures[0]! <= now - this.#windowMs) this.#failures.shift();
    if (this.#failures.length < this.#max) return 0;
    return Math.max(1, Math.ceil((this.#failures[0]! + this.#windowMs - now) / 1000));
  }

  failed(): void {
    this.#failures.push(this.#now());
    if (this.#failures.length > this.#max) this.#failures.splice(0, this.#failures.length - this.#max);
  }
}

/** How a request proved itself: the bearer token, or a console sign-in cookie (which needs the CSRF header to change things). */
export type RequestAuth = 'bearer' | 'cookie' | undefined;

/** Checks a request against API_TOKEN: `Authorization: Bearer <token>`, or a valid console cookie. */
export class ApiAuth {
  readonly #token: string;
  readonly sessions: ConsoleSessions;

  constructor(apiToken: string, sessionHours: number) {
    this.#token = apiToken;
    this.sessions = new ConsoleSessions({ apiToken, hours: sessionHours });
  }

  /** True when `given` is the API token (constant time). */
  isToken(given: string): boolean {
    return safeEqual(given, this.#token);
  }

  of(c: Context): RequestAuth {
    const bearer = c.req.header('authorization')?.replace(/^Bearer\s+/i, '');
    if (bearer !== undefined && this.isToken(bearer)) return 'bearer';
    if (this.sessions.valid(getCookie(c, CONSOLE_COOKIE))) return 'cookie';
    return undefined;
  }
}

/** Methods a cookie may use without the CSRF header: they change nothing. */
export const isSafeMethod = (method: string): boolean => method === 'GET' || method === 'HEAD';

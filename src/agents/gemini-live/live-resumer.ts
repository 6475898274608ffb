/**
 * Opening the connection that replaces a lost or retiring one, with the newest resumable handle: capped
 * attempts inside a time budget, a short backoff between them, and no retry when the service refused for good
 * (an unknown or expired handle, a setup or key it rejects), which it says with a 1007/1008 close or an HTTP
 * 4xx on the upgrade.
 */
import { errorText } from '../../errors.ts';
import { refusedForGood } from '../connect-retry.ts';
import type { LiveConnection, LiveConnectionEvents } from './live-connection.ts';

/** At most this many connects per resumption, however large the budget. */
export const MAX_RESUME_ATTEMPTS = 4;
const BACKOFF_MS = [100, 300, 700];

/** A resumption that cannot succeed; `message` says why (it becomes the cause of sink.failed). */
export class ResumeFailed extends Error {}

export interface ResumeAttempt {
  /** A new connection set up to resume `handle`. */
  connection(handle: string): LiveConnection;
  events(conn: LiveConnection): LiveConnectionEvents;
  /** Longest wait for one connect. */
  connectTimeoutMs: number;
}

/**
 * What a close of the connection in use means: `why` it is resumed (goAway, ping-timeout, drop, the code), or
 * no `why` when it cannot be: 1007/1008 say the service refuses the request itself (setup, key, a message), so
 * a resumption would be refused too. `cause` describes the close.
 */
export function closeOutcome(code: number, reason: string, switching: boolean): { why?: string; cause: string } {
  const cause = `gemini live closed: ${`${code} ${reason}`.trim()}`;
  if (code === 1007 || code === 1008) return { cause };
  if (switching) return { why: 'goAway', cause };
  if (code === 1006) return { why: reason.startsWith('ping timeout') ? 'ping-timeout' : 'drop', cause };
  return { why: String(code), cause };
}

/** The service refused the handle or the setup itself: trying again gets the same answer. */
function permanent(message: string): boolean {
  return /\(code 100[78]\)/.test(message) || refusedForGood(message);
}

export class LiveResumer {
  #stopped = false;
  #current: LiveConnection | undefined;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Connects made by the last `resume` (for logs). */
  attempts = 0;

  /**
   * An open connection resuming `handle`, within `budgetMs` of `since` (performance.now()). Rejects with
   * ResumeFailed (why it cannot be resumed), or with any error once `stop()` was called.
   */
  async resume(
    handle: string | undefined,
    since: number,
    budgetMs: number,
    how: ResumeAttempt,
  ): Promise<LiveConnection> {
    this.attempts = 0;
    if (handle === undefined) throw new ResumeFailed('the service sent no resumable handle');
    let last = '';
    for (;;) {
      const left = since + budgetMs - performance.now();
      if (this.#stopped) throw new Error('gemini live: closed while resuming');
      if (left <= 0 || this.attempts >= MAX_RESUME_ATTEMPTS) {
        throw new ResumeFailed(`${this.attempts} attempt(s) in ${budgetMs} ms failed, the last: ${last || 'none'}`);
      }
      this.attempts++;
      const conn = how.connection(handle);
      this.#current = conn;
      try {
        await conn.open(how.events(conn), Math.max(200, Math.min(how.connectTimeoutMs, left)));
        this.#current = undefined;
        if (this.#stopped) {
          await conn.close();
          throw new Error('gemini live: closed while resuming');
        }
        return conn;
      } catch (e) {
        this.#current = undefined;
        if (this.#stopped) throw e;
        last = errorText(e).replace(/^gemini live: /, '');
        if (permanent(last)) throw new ResumeFailed(`the service refused the resumption: ${last}`);
      }
      const pause = BACKOFF_MS[Math.min(this.attempts - 1, BACKOFF_MS.length - 1)]!;
      await this.#sleep(Math.min(pause, Math.max(0, since + budgetMs - performance.now())));
    }
  }

  /** Stop any resumption in progress: its connect is closed, its backoff cut short. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#wake?.();
    await this.#current?.close(true);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    }).then(() => {
      this.#wake = undefined;
      this.#timer = undefined;
    });
  }
}

/**
 * A switch the service asked for (`goAway`): made at the next moment that loses nothing, or, if none comes, by
 * the timer `marginMs` before the service's deadline.
 */
/** A goAway switch waits for a safe moment until this long before the service's deadline. */
const SWITCH_MARGIN_MS = 1000;

export class PlannedSwitch {
  #since: number | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** performance.now() of the goAway, while a switch is wanted. */
  get since(): number | undefined {
    return this.#since;
  }

  /** Want a switch within `leftMs`; `due` runs shortly before that (unless cancelled first). */
  plan(leftMs: number, due: (since: number) => void): void {
    const since = performance.now();
    this.#since = since;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        if (this.#since !== undefined) due(since);
      },
      Math.max(0, leftMs - SWITCH_MARGIN_MS),
    );
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#since = undefined;
  }
}

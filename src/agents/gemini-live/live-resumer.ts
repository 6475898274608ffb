/**
 * Opening the connection that replaces a lost or retiring one, with the newest resumable handle: capped
 * attempts inside a time budget, a short backoff between them, and no retry when the service refused for good
 * (an unknown or expired handle, a setup or key it rejects), which it says with a 1007/1008 close or an HTTP
 * 4xx on the upgrade.
 */
import { errorText } from '../../errors.ts';
import { refusedForGood } from '../vendor-socket.ts';
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
  async resume(handle: string, since: number, budgetMs: number, how: ResumeAttempt): Promise<LiveConnection> {
    this.attempts = 0;
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

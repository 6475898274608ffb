/**
 * Connecting to a vendor: a bounded wait for the connection, and the rule for whether a failed connect (or an
 * HTTP status) is worth a second try.
 */

/**
 * One connect, bounded in time, which close() can cut short (`abort`). A connection that completes after the
 * wait was given up goes to `late` so it is closed rather than leaked; a late failure is swallowed.
 */
export class ConnectWait<T> {
  readonly result: Promise<T>;
  #timer: NodeJS.Timeout | undefined;
  #reject: ((e: Error) => void) | undefined;
  #givenUp = false;

  constructor(opening: Promise<T>, ms: number, timeoutError: () => Error, late?: (value: T) => void) {
    opening.then(
      (v) => {
        if (this.#givenUp) late?.(v);
      },
      () => {},
    );
    const bound = new Promise<never>((_, reject) => {
      this.#reject = reject;
      this.#timer = setTimeout(() => reject(timeoutError()), ms);
    });
    this.result = Promise.race([opening, bound]).then(
      (v) => {
        this.#settle();
        return v;
      },
      (e: unknown) => {
        this.#settle();
        this.#givenUp = true;
        throw e;
      },
    );
  }

  /** Stop waiting: `result` rejects with `err` (if it has not settled yet). */
  abort(err: Error): void {
    this.#reject?.(err);
  }

  #settle(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#reject = undefined;
  }
}

/** `p`, or a rejection `<what> within <ms> ms` if it takes longer; the timer never outlives the wait. */
export function withinMs<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new ConnectWait(p, ms, () => new Error(`${what} within ${ms} ms`)).result;
}

/** A WebSocket upgrade the vendor refused for a reason a retry cannot fix (bad request, key, permission, path). */
export function refusedForGood(message: string): boolean {
  return /Unexpected server response: 40[0134]\b/.test(message);
}

/** An HTTP status (undefined: none, a network fault) after which trying again may help. */
export function retryableStatus(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

/**
 * `attempt()`, and once more when its failure is retryable and `stillWanted()`; `onRetry` hears the first
 * failure. Connects are retried once: a second refusal is a fault the caller reports, not a loop.
 */
export async function connectWithRetry<T>(
  attempt: () => Promise<T>,
  retryable: (e: unknown) => boolean,
  onRetry: (e: unknown) => void,
): Promise<T> {
  try {
    return await attempt();
  } catch (e) {
    if (!retryable(e)) throw e;
    onRetry(e);
    return attempt();
  }
}

/** Timers and waits that can all be cancelled at once, so `FreeSwitchEmulator.stop()` leaves nothing running. */

export class TimerSet {
  #timers = new Set<NodeJS.Timeout>();

  /** Re-armed timers by the handle `after` returned (see there). */
  #rearmed = new Map<NodeJS.Timeout, NodeJS.Timeout>();

  /**
   * `fn` after `ms`, never early: Node starts a timer from the event loop's cached clock, which lags
   * `performance.now()` by however long the current turn has run, so a busy turn makes it fire early. Such a
   * timer is armed again for the rest, under the same handle (cancel() takes the first one).
   */
  after(ms: number, fn: () => void): NodeJS.Timeout {
    const due = performance.now() + ms;
    const fire = () => {
      const left = due - performance.now();
      if (left > 0) {
        const again = setTimeout(fire, Math.ceil(left));
        this.#rearmed.set(t, again);
        return;
      }
      this.#timers.delete(t);
      this.#rearmed.delete(t);
      fn();
    };
    const t = setTimeout(fire, Math.max(0, ms));
    this.#timers.add(t);
    return t;
  }

  every(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setInterval(fn, ms);
    this.#timers.add(t);
    return t;
  }

  cancel(t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    clearInterval(t);
    clearTimeout(this.#rearmed.get(t));
    this.#rearmed.delete(t);
    this.#timers.delete(t);
  }

  clear(): void {
    for (const t of this.#timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    for (const t of this.#rearmed.values()) clearTimeout(t);
    this.#rearmed.clear();
    this.#timers.clear();
  }

  get size(): number {
    return this.#timers.size;
  }
}

export class WaitTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WaitTimeoutError';
  }
}

interface Waiter {
  check(): boolean;
  reject(err: Error): void;
}

/**
 * Condition waits re-checked whenever something changes (`poke()`), each with a timeout that rejects with a
 * message saying what was awaited. `cancelAll()` rejects the pending ones (used by stop()).
 */
export class Waiters {
  #waiters = new Set<Waiter>();

  /** Resolves with the first non-undefined `probe()`; `pollMs` also re-checks on a timer (for time-based conditions). */
  until<T>(describe: string, probe: () => T | undefined, timeoutMs: number, pollMs?: number): Promise<T> {
    const first = probe();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.#waiters.delete(waiter);
      };
      const timer = setTimeout(() => {
        done();
        reject(new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${describe}`));
      }, timeoutMs);
      const waiter: Waiter = {
        check: () => {
          const value = probe();
          if (value === undefined) return false;
          done();
          resolve(value);
          return true;
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const poll = pollMs ? setInterval(() => waiter.check(), pollMs) : undefined;
      this.#waiters.add(waiter);
    });
  }

  poke(): void {
    for (const w of [...this.#waiters]) w.check();
  }

  cancelAll(reason: string): void {
    for (const w of [...this.#waiters]) w.reject(new Error(reason));
  }
}

/** Timers and waits that can all be cancelled at once, so `FreeSwitchEmulator.stop()` leaves nothing running. */

export class TimerSet {
  #timers = new Set<NodeJS.Timeout>();

  after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(
      () => {
        this.#timers.delete(t);
        fn();
      },
      Math.max(0, ms),
    );
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
    this.#timers.delete(t);
  }

  clear(): void {
    for (const t of this.#timers) {
      clearTimeout(t);
      clearInterval(t);
    }
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

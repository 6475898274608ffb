/** What a test double records, in order, with waits for an event that has happened or is still to come. */
export class EventLog<E extends { t: string }> {
  readonly events: E[] = [];
  #waiters: { pred: (e: E) => boolean; resolve: (e: E) => void }[] = [];

  protected push(e: E): void {
    this.events.push(e);
    const due = this.#waiters.filter((w) => w.pred(e));
    this.#waiters = this.#waiters.filter((w) => !w.pred(e));
    for (const w of due) w.resolve(e);
  }

  of<T extends E['t']>(t: T): Extract<E, { t: T }>[] {
    return this.events.filter((e): e is Extract<E, { t: T }> => e.t === t);
  }

  /** The first event (recorded or future) matching pred. */
  waitFor(pred: (e: E) => boolean, timeoutMs = 2000, what = 'matching event'): Promise<E> {
    const found = this.events.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.pred !== pred);
        reject(
          new Error(`sink: no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.events.map((e) => e.t))}`),
        );
      }, timeoutMs);
      this.#waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(t);
          resolve(e);
        },
      });
    });
  }
}

import { errorText } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CallRecord } from './call-record.ts';
import type { CallStore } from './call-store.ts';

export interface HistoryWriterOptions {
  store: CallStore;
  logger: Logger;
  /** Attempts per record before it is given up (logged as lost). Default 6 (about half a minute of retries). */
  maxAttempts?: number;
  /** Wait before the first retry, doubled each time up to 30 s. Default 500 ms. */
  retryBaseMs?: number;
  /** Records waiting to be saved at most; beyond, the oldest is given up (logged). Default 1000. */
  maxPending?: number;
}

interface Pending {
  record: CallRecord;
  attempts: number;
  saving: boolean;
  /** Saved again once the running attempt ends: the record changed while it was being written. */
  again: boolean;
  retry?: NodeJS.Timeout;
}

/**
 * Saves ended calls to the store without making anyone wait: each record stays readable from memory
 * (`get`, `records`) until its save went through; a failed save is retried with backoff, a bounded number
 * of times; at most `maxPending` records wait; `flush` (on shutdown) tries the waiting ones at once.
 */
export class HistoryWriter {
  readonly #o: Required<HistoryWriterOptions>;
  /** By call id, oldest first. */
  readonly #pending = new Map<string, Pending>();
  #emptied: Array<() => void> = [];
  #flushing = false;
  readonly stats = { saved: 0, retried: 0, lost: 0 };

  constructor(opts: HistoryWriterOptions) {
    this.#o = { maxAttempts: 6, retryBaseMs: 500, maxPending: 1000, ...opts };
  }

  /** The record of `id` while it waits to be saved. */
  get(id: string): CallRecord | undefined {
    return this.#pending.get(id)?.record;
  }

  /** Every record waiting to be saved. */
  records(): CallRecord[] {
    return [...this.#pending.values()].map((p) => p.record);
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Save `record` (again, if it is already waiting: its latest state is what ends up stored). */
  save(record: CallRecord): void {
    const waiting = this.#pending.get(record.id);
    if (waiting) {
      waiting.record = record;
      waiting.attempts = 0;
      if (waiting.saving) waiting.again = true;
      return;
    }
    if (this.#pending.size >= this.#o.maxPending) this.#giveUpOldest();
    const entry: Pending = { record, attempts: 0, saving: false, again: false };
    this.#pending.set(record.id, entry);
    void this.#attempt(entry);
  }

  /**
   * Try every waiting record now (no more backoff) and wait until none is left or `timeoutMs` passed.
   * Resolves to how many were still unsaved (logged as lost).
   */
  async flush(timeoutMs: number): Promise<number> {
    this.#flushing = true;
    for (const entry of this.#pending.values()) {
      if (entry.retry) {
        clearTimeout(entry.retry);
        void this.#attempt(entry);
      }
    }
    if (this.#pending.size) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([new Promise<void>((resolve) => this.#emptied.push(resolve)), timeout]);
      clearTimeout(timer);
    }
    const left = [...this.#pending.values()];
    for (const entry of left) {
      clearTimeout(entry.retry);
      this.#lose(entry, 'still unsaved at shutdown');
    }
    return left.length;
  }

  async #attempt(entry: Pending): Promise<void> {
    entry.retry = undefined;
    entry.saving = true;
    entry.again = false;
    entry.attempts++;
    let failure: unknown;
    try {
      await this.#o.store.save(entry.record);
    } catch (err) {
      failure = err ?? new Error('save failed');
    }
    entry.saving = false;
    if (this.#pending.get(entry.record.id) !== entry) return; // given up meanwhile
    if (failure === undefined && !entry.again) {
      this.stats.saved++;
      this.#pending.delete(entry.record.id);
      return this.#settle();
    }
    if (failure === undefined) return this.#attempt(entry); // changed while being written
    const log = { call: entry.record.id, attempt: entry.attempts, err: errorText(failure) };
    if (entry.attempts >= this.#o.maxAttempts) return this.#lose(entry, `${entry.attempts} attempts failed`, log);
    this.stats.retried++;
    const delayMs = this.#flushing ? 100 : Math.min(30_000, this.#o.retryBaseMs * 2 ** (entry.attempts - 1));
    this.#o.logger.warn({ ...log, retryInMs: delayMs }, 'could not save the call to history; retrying');
    entry.retry = setTimeout(() => void this.#attempt(entry), delayMs);
    entry.retry.unref();
  }

  #giveUpOldest(): void {
    const oldest = this.#pending.values().next().value;
    if (!oldest) return;
    clearTimeout(oldest.retry);
    this.#lose(oldest, `more than ${this.#o.maxPending} calls waiting to be saved`);
  }

  #lose(entry: Pending, why: string, log: Record<string, unknown> = { call: entry.record.id }): void {
    this.#pending.delete(entry.record.id);
    this.stats.lost++;
    // A write already under way may still land; this one is no longer held nor retried.
    this.#o.logger.error({ ...log, why }, 'call lost from history: it could not be saved');
    this.#settle();
  }

  #settle(): void {
    if (this.#pending.size) return;
    const waiting = this.#emptied;
    this.#emptied = [];
    for (const resolve of waiting) resolve();
  }
}

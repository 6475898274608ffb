import type { Logger } from '../log.ts';

/**
 * Logs refused media connections without letting a flood flood the log: the first few of each interval are
 * logged one by one, the rest only counted and summed up in one line when the interval ends (or on close).
 * The Prometheus counter, not the log, is the place to count them all.
 */
export class RefusalLog {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #perInterval: number;
  #logged = 0;
  #suppressed = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(logger: Logger, opts: { intervalMs?: number; perInterval?: number } = {}) {
    this.#logger = logger;
    this.#intervalMs = opts.intervalMs ?? 10_000;
    this.#perInterval = opts.perInterval ?? 5;
  }

  refused(reason: string, fields: Record<string, unknown>, msg: string): void {
    this.#timer ??= setTimeout(() => this.flush(), this.#intervalMs).unref();
    if (this.#logged < this.#perInterval) {
      this.#logged++;
      this.#logger.warn(fields, msg);
      return;
    }
    this.#suppressed.set(reason, (this.#suppressed.get(reason) ?? 0) + 1);
  }

  /** One line for what was not logged in this interval; the next interval starts afresh. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#logged = 0;
    if (this.#suppressed.size === 0) return;
    const byReason = Object.fromEntries(this.#suppressed);
    const total = [...this.#suppressed.values()].reduce((a, b) => a + b, 0);
    this.#suppressed.clear();
    this.#logger.warn(
      { suppressed: total, byReason, intervalMs: this.#intervalMs },
      `${total} more media connections refused (not logged one by one; see callbridge_media_sockets_refused_total)`,
    );
  }
}

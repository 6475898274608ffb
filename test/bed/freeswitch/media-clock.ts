/**
 * One media clock for the whole emulator: a single drift-corrected timer that, every frame interval, lets
 * every channel with media up take its 20 ms of caller audio (and send it to mod_audio_stream). Hundreds of
 * emulated calls therefore cost one timer, not hundreds.
 */

export interface FrameListener {
  onFrame(): void;
}

/** Frames missed because the event loop was blocked are caught up, at most this many at once. */
const MAX_CATCH_UP = 10;

export class MediaClock {
  readonly intervalMs: number;
  #listeners = new Set<FrameListener>();
  #timer: NodeJS.Timeout | undefined;
  #origin = 0;
  #ticks = 0;
  /** Ticks given up (counted, no frame taken) because the loop was more than MAX_CATCH_UP ticks behind. */
  #dropped = 0;
  #countedAt = 0;
  /** How late ticks ran (a load generator that falls behind would make callbridge look slow). */
  readonly lateness = { maxMs: 0, over10ms: 0, ticks: 0 };

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  add(l: FrameListener): void {
    this.#listeners.add(l);
    if (!this.#timer) {
      this.#origin = performance.now();
      this.#ticks = 0;
      this.#schedule();
    }
  }

  remove(l: FrameListener): void {
    this.#listeners.delete(l);
    if (!this.#listeners.size) this.stop();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
  }

  /**
   * For tests of the pacing: the clock's origin, the ticks run so far and when the last run counted the ticks
   * owed (performance.now()). After every run `ticks === floor((countedAt - origin) / intervalMs)`; `dropped`
   * of those ticks took no frame (the loop had stalled for more than MAX_CATCH_UP intervals).
   */
  get position(): { origin: number; ticks: number; dropped: number; countedAt: number; intervalMs: number } {
    return {
      origin: this.#origin,
      ticks: this.#ticks,
      dropped: this.#dropped,
      countedAt: this.#countedAt,
      intervalMs: this.intervalMs,
    };
  }

  #schedule(): void {
    const due = this.#origin + (this.#ticks + 1) * this.intervalMs;
    this.#timer = setTimeout(() => this.#run(), Math.max(0, due - performance.now()));
  }

  #run(): void {
    const late = performance.now() - (this.#origin + (this.#ticks + 1) * this.intervalMs);
    this.lateness.ticks++;
    if (late > this.lateness.maxMs) this.lateness.maxMs = late;
    if (late > 10) this.lateness.over10ms++;
    this.#countedAt = performance.now();
    const owed = Math.floor((this.#countedAt - this.#origin) / this.intervalMs) - this.#ticks;
    if (owed > MAX_CATCH_UP) {
      // too far behind: drop the excess (counted, so a pacing check can tell a stall from a lost frame)
      this.#ticks += owed - MAX_CATCH_UP;
      this.#dropped += owed - MAX_CATCH_UP;
    }
    for (let i = 0; i < Math.min(owed, MAX_CATCH_UP); i++) {
      this.#ticks++;
      for (const l of [...this.#listeners]) l.onFrame();
    }
    if (this.#listeners.size) this.#schedule();
    else this.#timer = undefined;
  }
}

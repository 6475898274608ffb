const CLOCK_SLOTS = 512; // 512 frames: ≈ 20 s at the default 40 ms, 10 s at 20 ms

/**
 * Wall-clock arrival time of caller audio, per frame, for the last 512 frames: maps a time the recognizer
 * gives (seconds of its stream) to performance.now(), for the turn's "caller stopped" mark. Preallocated:
 * `mark` runs once per caller frame.
 */
export class AudioClock {
  readonly #ends = new Float64Array(CLOCK_SLOTS);
  readonly #at = new Float64Array(CLOCK_SLOTS);
  #n = 0;

  mark(samplesEnd: number, now: number): void {
    const i = this.#n++ & (CLOCK_SLOTS - 1);
    this.#ends[i] = samplesEnd;
    this.#at[i] = now;
  }

  /** When sample `s` (counted from the start of the call) arrived, or undefined if too old / not yet. */
  timeOf(s: number, rate: number): number | undefined {
    const ends = this.#ends;
    const count = Math.min(this.#n, CLOCK_SLOTS);
    for (let k = 1; k <= count; k++) {
      const i = (this.#n - k) & (CLOCK_SLOTS - 1);
      const prev = k < count ? ends[(this.#n - k - 1) & (CLOCK_SLOTS - 1)]! : -Infinity;
      if (s <= ends[i]! && s > prev) return this.#at[i]! - ((ends[i]! - s) / rate) * 1000;
    }
    return undefined;
  }
}

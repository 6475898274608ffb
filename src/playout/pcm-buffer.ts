/**
 * Converted audio at a reply's file rate, not yet cut into files: one buffer per queue, grown when needed and
 * reused, so audio arriving 25–50 times a second is copied once on its way in and once into its file.
 */
export class PcmBuffer {
  #buf: Int16Array;
  #len = 0;

  constructor(initialSamples: number) {
    this.#buf = new Int16Array(initialSamples);
  }

  /** Samples held. */
  get length(): number {
    return this.#len;
  }

  append(samples: Int16Array): void {
    if (this.#len + samples.length > this.#buf.length) {
      const bigger = new Int16Array(Math.max(this.#buf.length * 2, this.#len + samples.length));
      bigger.set(this.#buf.subarray(0, this.#len));
      this.#buf = bigger;
    }
    this.#buf.set(samples, this.#len);
    this.#len += samples.length;
  }

  /**
   * The first `want` samples: a view (valid until the buffer changes), or, with fewer held, a copy of them padded
   * with silence (a reply's last piece).
   */
  head(want: number): Int16Array {
    const n = Math.min(want, this.#len);
    if (n === want) return this.#buf.subarray(0, n);
    const padded = new Int16Array(want);
    padded.set(this.#buf.subarray(0, n));
    return padded;
  }

  /** Forget the first `n` samples (cut into a file). */
  shift(n: number): void {
    const k = Math.min(n, this.#len);
    this.#buf.copyWithin(0, k, this.#len);
    this.#len -= k;
  }

  clear(): void {
    this.#len = 0;
  }
}

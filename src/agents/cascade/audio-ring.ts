/**
 * The last few seconds of caller audio, by absolute sample position, so that a new speech-to-text stream can be
 * sent what the lost one never transcribed: the audio after its last result and the audio that arrived while
 * the new one was connecting. Fixed size (the oldest audio is overwritten); writing is one copy, no allocation.
 */
export class AudioRing {
  readonly #buf: Buffer;
  /** Bytes ever written (the ring holds the last `#buf.length` of them). */
  #written = 0;

  constructor(bytes: number) {
    this.#buf = Buffer.alloc(bytes & ~1);
  }

  /** Sample position after the last sample written (= samples written so far). */
  get endSample(): number {
    return Math.floor(this.#written / 2);
  }

  /** Position of the oldest sample still held. */
  get startSample(): number {
    return Math.floor(Math.max(0, this.#written - this.#buf.length) / 2);
  }

  /** Hot path: one frame of 16-bit PCM. */
  write(frame: Buffer): void {
    const buf = this.#buf;
    const cap = buf.length;
    const src = frame.length > cap ? frame.subarray(frame.length - cap) : frame;
    const pos = (this.#written + frame.length - src.length) % cap;
    const first = Math.min(src.length, cap - pos);
    src.copy(buf, pos, 0, first);
    if (first < src.length) src.copy(buf, 0, first);
    this.#written += frame.length;
  }

  /** Where audio from sample `from` really starts: no earlier than the oldest sample held, no later than now. */
  clamp(from: number): number {
    return Math.min(Math.max(from, this.startSample), this.endSample);
  }

  /**
   * The audio from sample `from` (raised to the oldest held) to now, as one or two views into the ring: valid
   * until the next write, so send them at once. Returns the position it really starts at.
   */
  since(from: number, out: (pcm: Buffer) => void): number {
    const start = this.clamp(from);
    const cap = this.#buf.length;
    const bytes = (this.endSample - start) * 2;
    if (bytes > 0) {
      const pos = (start * 2) % cap;
      const first = Math.min(bytes, cap - pos);
      out(this.#buf.subarray(pos, pos + first));
      if (first < bytes) out(this.#buf.subarray(0, bytes - first));
    }
    return start;
  }
}

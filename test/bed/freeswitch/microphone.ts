/**
 * The caller's (or, on an outbound leg, the callee's) side of the call: audio queued by tests with
 * `channel.say()`, taken 20 ms at a time by the media clock. When nothing is queued the frames are silence,
 * as FreeSWITCH keeps reading frames while the call is up.
 */

interface Chunk {
  pcm: Int16Array;
  rate: number;
}

export class Microphone {
  #chunks: Chunk[] = [];
  /** Read position (in samples of the first chunk; fractional when resampling). */
  #pos = 0;

  say(pcm: Int16Array, sampleRate: number): void {
    if (pcm.length) this.#chunks.push({ pcm, rate: sampleRate });
  }

  /** True while queued audio remains (the caller is "sending audio"). */
  get talking(): boolean {
    return this.#chunks.length > 0;
  }

  /** Queued audio left, in ms. */
  get queuedMs(): number {
    let ms = 0;
    for (const [i, c] of this.#chunks.entries()) ms += ((c.pcm.length - (i === 0 ? this.#pos : 0)) * 1000) / c.rate;
    return Math.max(0, ms);
  }

  /**
   * The next `samples` samples at `rate` (linear interpolation when the queued audio has another rate). Read
   * only: when nothing is queued it is a shared silent frame, and when the queued audio has that rate and holds
   * the whole frame it is a view of it (the media clock then copies nothing per frame).
   */
  take(samples: number, rate: number): Int16Array {
    const chunk = this.#chunks[0];
    if (!chunk) return silence(samples);
    if (chunk.rate === rate && Number.isInteger(this.#pos) && chunk.pcm.length - this.#pos > samples) {
      const start = this.#pos;
      this.#pos += samples;
      return chunk.pcm.subarray(start, start + samples);
    }
    const out = new Int16Array(samples);
    let i = 0;
    while (i < samples && this.#chunks.length) {
      const chunk = this.#chunks[0]!;
      const { pcm } = chunk;
      if (chunk.rate === rate) {
        const start = Math.floor(this.#pos);
        const n = Math.min(samples - i, pcm.length - start);
        out.set(pcm.subarray(start, start + n), i);
        i += n;
        this.#pos = start + n;
      } else {
        const step = chunk.rate / rate;
        while (i < samples && this.#pos < pcm.length) {
          const j = Math.floor(this.#pos);
          const a = pcm[j]!;
          const b = pcm[Math.min(j + 1, pcm.length - 1)]!;
          out[i++] = Math.round(a + (b - a) * (this.#pos - j));
          this.#pos += step;
        }
      }
      if (this.#pos >= pcm.length) {
        this.#chunks.shift();
        this.#pos = 0;
      }
    }
    return out;
  }

  clear(): void {
    this.#chunks = [];
    this.#pos = 0;
  }
}

const silentFrames = new Map<number, Int16Array>();
function silence(samples: number): Int16Array {
  let frame = silentFrames.get(samples);
  if (!frame) {
    frame = new Int16Array(samples);
    silentFrames.set(samples, frame);
  }
  return frame;
}

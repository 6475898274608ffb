/**
 * Caller frames kept for a possible replay after a resumption, copied into 64 KiB slabs that a process-wide
 * pool hands out and takes back. Kept as strings (their base64 messages) they were the largest thing the
 * garbage collector copied: each lives until a resumption handle covers it (seconds), so every scavenge in
 * between moved it; kept as a Buffer each, they made new external memory per frame and with it extra
 * mark-compacts (measured: README Performance). Slabs are reused, so in steady state a frame costs one copy
 * into memory that already exists and nothing for the collector.
 *
 * Frames are appended in order and released from the front: a frame's place is a number (slab sequence ×
 * SLAB_BYTES + offset), so the ring that indexes frames keeps plain numbers, no objects.
 */
export const SLAB_BYTES = 64 * 1024;
/** Slabs kept for reuse when no call holds them (at most 16 MiB). */
const MAX_POOLED = 256;
const pool: Buffer[] = [];

function takeSlab(bytes: number): Buffer {
  if (bytes <= SLAB_BYTES) return pool.pop() ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
  return Buffer.allocUnsafeSlow(bytes); // an oversized frame gets a slab of its own, never pooled
}

function giveSlab(slab: Buffer): void {
  if (slab.length === SLAB_BYTES && pool.length < MAX_POOLED) pool.push(slab);
}

/** Slabs waiting in the pool (diagnostics and tests). */
export const pooledSlabs = (): number => pool.length;

export class FrameLog {
  /** Slabs in use, oldest first; `#firstSeq` is the sequence number of `#slabs[0]`. */
  #slabs: Buffer[] = [];
  #firstSeq = 0;
  /** Bytes used in the newest slab. */
  #used = 0;

  /** Copy `frame` in; returns its place (for `view` and `releaseBefore`). */
  append(frame: Buffer): number {
    const n = frame.length;
    let tail = this.#slabs[this.#slabs.length - 1];
    if (tail === undefined || this.#used + n > tail.length) {
      tail = takeSlab(n);
      this.#slabs.push(tail);
      this.#used = 0;
    }
    const seq = this.#firstSeq + this.#slabs.length - 1;
    frame.copy(tail, this.#used);
    const at = seq * SLAB_BYTES + this.#used;
    // An oversized frame fills its own slab: a place's offset always stays below SLAB_BYTES.
    this.#used = n > SLAB_BYTES ? tail.length : this.#used + n;
    return at;
  }

  /** The `length` bytes appended at `at` (a view: valid until they are released). */
  view(at: number, length: number): Buffer {
    const seq = Math.floor(at / SLAB_BYTES);
    const off = at - seq * SLAB_BYTES;
    return this.#slabs[seq - this.#firstSeq]!.subarray(off, off + length);
  }

  /** Give back every slab wholly before place `at` (the oldest frame still kept); the newest slab stays. */
  releaseBefore(at: number): void {
    const seq = Math.floor(at / SLAB_BYTES);
    while (this.#firstSeq < seq && this.#slabs.length > 1) {
      giveSlab(this.#slabs.shift()!);
      this.#firstSeq++;
    }
  }

  /** Nothing is kept any more: every slab goes back to the pool (the next frame starts a fresh one). */
  releaseAll(): void {
    for (const slab of this.#slabs) giveSlab(slab);
    this.#firstSeq += this.#slabs.length;
    this.#slabs = [];
    this.#used = 0;
  }
}

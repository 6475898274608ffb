import type { ArrivalPace } from './arrival-pace.ts';

export interface CutSizes {
  /** Largest first file of a reply: it starts playing as soon as it is written. */
  firstChunkMs: number;
  /** Size of later files once FreeSWITCH has `lowWaterMs` queued. */
  chunkMs: number;
  /** With less than this queued ahead, whatever whole frames are buffered are sent at once. */
  lowWaterMs: number;
  /** Never queue more than this ahead of what has played: queued files keep playing if we die. */
  maxAheadMs: number;
}

/** `CutPolicy.next`: nothing to cut until more audio arrives. */
export const HOLD = 0;

/**
 * When to cut buffered audio into a file, and how much. The first file of a reply goes out at once (after the
 * lead, for replies arriving in real time: see arrival-pace.ts); later ones grow to `chunkMs` while enough is
 * queued, are cut smaller when FreeSWITCH runs low, and never take FreeSWITCH beyond `maxAheadMs`.
 *
 * Called on every pump (each piece of agent audio, each finished file): plain numbers in and out.
 */
export class CutPolicy {
  readonly #s: CutSizes;
  readonly #pace: ArrivalPace;

  constructor(sizes: CutSizes, pace: ArrivalPace) {
    this.#s = sizes;
    this.#pace = pace;
  }

  /**
   * What to cut now, given `bufferedMs` not yet cut and `aheadMs` queued in FreeSWITCH: a positive number is
   * the ms to cut (whole frames, except a closing reply's padded remainder); HOLD: wait for more audio; a
   * negative number: nothing now, look again in that many ms (negated).
   * `starting`: FreeSWITCH has nothing of ours; `last`: the reply has ended, what is buffered is all of it.
   */
  next(bufferedMs: number, aheadMs: number, starting: boolean, last: boolean): number {
    // Whole frames; at a reply's end its remainder too, padded, in the same file (not a file of its own).
    const availMs = last ? Math.ceil(bufferedMs / 20) * 20 : Math.max(20, Math.floor(bufferedMs / 20) * 20);
    // A reply arriving in real time starts once its lead is here (none for bursts: the first audio goes at once).
    if (starting && !last && bufferedMs < this.#pace.leadMs()) return HOLD;
    const s = this.#s;
    const guard = this.#pace.guardMs(s.lowWaterMs);
    let take: number;
    if (starting) take = Math.min(availMs, s.firstChunkMs);
    else if (availMs >= s.chunkMs) take = s.chunkMs;
    else if (aheadMs <= guard || last) take = availMs;
    else return -(aheadMs - guard);
    if (!starting && aheadMs + take > s.maxAheadMs) return -(aheadMs + take - s.maxAheadMs);
    return take;
  }
}

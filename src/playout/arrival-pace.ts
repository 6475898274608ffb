/**
 * How agent audio arrives, and what that means for cutting it into files.
 *
 * A reply that arrives faster than real time (a burst) builds its own lead: FreeSWITCH soon has up to
 * `maxAheadMs` queued, files grow to `chunkMs`, and the first file goes out as soon as the first audio is
 * here. A reply that arrives in real time never gets ahead of playback: whatever delay separates arrival from
 * playback at its start stays for the whole reply. With the first file out at once that delay is about one
 * command's start latency, so every arriving piece had to become its own file at once, and a piece late by
 * more than the delay left FreeSWITCH with nothing to play (measured: see README "How playback works" and
 * Performance).
 *
 * So the queue remembers how replies arrive. When they come in real time, a reply starts only once a lead sized
 * from the observed lateness of pieces is buffered, and later files are cut when FreeSWITCH is down to a guard
 * sized the same way: files are then about `lead - jitter` long and a late piece still finds audio queued.
 * Bursts keep the immediate start (their lateness is never positive). The memory (PaceMemory) is owned by
 * whoever creates the queues, one per callbridge instance, shared by its calls: the same model answers every
 * call, so a new call starts with what earlier replies showed.
 */

/** Extra lead beyond the observed jitter: roughly the length of each file once a real-time reply plays. */
const LEAD_MARGIN_MS = 100;
/** The guard beyond the jitter: a command, a file write and a timer's lateness. */
const GUARD_MARGIN_MS = 20;
const MAX_LEAD_MS = 400;
/** A reply that arrives at less than this many times real time is paced (real time), not a burst. */
const PACED_RATE = 1.5;
/** Replies shorter than this say little about pace. */
const MIN_OBSERVED_MS = 300;

/** What earlier replies showed (shared by the queues it is given to: those of one callbridge instance). */
export class PaceMemory {
  /** ~1 when recent replies arrived in real time, ~0 when in bursts. */
  #paced = 0;
  /** Lateness to absorb (ms), smoothed over paced replies: rises at once, decays slowly. */
  #jitterMs = 0;

  get paced(): boolean {
    return this.#paced >= 0.5;
  }

  get jitterMs(): number {
    return this.#jitterMs;
  }

  observe(paced: boolean, jitterMs: number): void {
    this.#paced = this.#paced * 0.5 + (paced ? 0.5 : 0);
    if (!paced) return;
    this.#jitterMs = jitterMs >= this.#jitterMs ? jitterMs : this.#jitterMs * 0.75 + jitterMs * 0.25;
  }
}

/**
 * One reply's arrival, observed as it comes: how much later than a real-time schedule each piece is compared with
 * the earliest piece so far. Plain numbers, updated on the hot path without allocating.
 */
export class ArrivalPace {
  readonly #memory: PaceMemory;
  #firstAt = 0;
  #lastAt = 0;
  #lastMs = 0;
  #receivedMs = 0;
  #minLate = 0;
  #jitterMs = 0;
  #open = false;

  constructor(memory: PaceMemory) {
    this.#memory = memory;
  }

  /** A reply's audio arrived: `ms` of it, at `now`. */
  arrived(ms: number, now: number): void {
    if (!this.#open) {
      this.#open = true;
      this.#firstAt = now;
      this.#receivedMs = 0;
      this.#minLate = 0;
      this.#jitterMs = 0;
    }
    // How late this piece is against real time from the first piece; the spread above the earliest is jitter.
    const late = now - this.#firstAt - this.#receivedMs;
    if (late < this.#minLate) this.#minLate = late;
    else if (late - this.#minLate > this.#jitterMs) this.#jitterMs = late - this.#minLate;
    this.#receivedMs += ms;
    this.#lastAt = now;
    this.#lastMs = ms;
  }

  /** The reply ended (or was interrupted): remember its pace. */
  ended(): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#receivedMs < MIN_OBSERVED_MS) return;
    const rate = this.#receivedMs / Math.max(1, this.#lastAt - this.#firstAt + this.#lastMs);
    this.#memory.observe(rate < PACED_RATE, this.#jitterMs);
  }

  /** Jitter to plan for: the larger of what earlier replies showed and what this one shows so far. */
  get #jitter(): number {
    return Math.max(this.#memory.jitterMs, this.#jitterMs);
  }

  /** Audio to hold before a reply's first file: none when replies come in bursts (the fast start). */
  leadMs(): number {
    if (!this.#memory.paced) return 0;
    return Math.min(MAX_LEAD_MS, this.#jitter + LEAD_MARGIN_MS);
  }

  /** Cut what is buffered once FreeSWITCH has no more than this queued (`lowWaterMs` for bursts). */
  guardMs(lowWaterMs: number): number {
    if (!this.#memory.paced) return lowWaterMs;
    return Math.min(MAX_LEAD_MS, this.#jitter + GUARD_MARGIN_MS);
  }
}

/**
 * The bench's callers, made cheap so that the load generator is never the limit of a capacity figure:
 * speech precomputed once per stream rate (shared buffers: the emulator's microphone then copies 20 ms slices
 * instead of interpolating every sample of every frame), every caller's turns driven by one 20 ms tick per
 * process instead of a timer per turn, and the process's own event-loop lag recorded so that a late frame can
 * be blamed on the right side (see LoopLag).
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { EmulatedChannel } from '../test/bed/index.ts';

/** Wall-clock interval, ms (performance.timeOrigin-based, comparable across processes). */
export type Interval = [from: number, to: number];

export const epochNow = (): number => performance.timeOrigin + performance.now();

// Recorded speech (espeak-ng, test/fixtures): the cascade's Silero VAD needs real speech to detect barge-in.
const RECORDED = readFileSync(new URL('../test/fixtures/speech-8k.raw', import.meta.url));
const RECORDED_8K = new Int16Array(RECORDED.buffer, RECORDED.byteOffset, RECORDED.length >> 1);
/** A turn's speech and a barge-in's, in ms of the recording. */
const SPEECH_MS: Interval = [0, 1400];
const SHORT_MS: Interval = [1400, 1900];

/** The caller's two utterances at one sample rate. */
export interface Utterances {
  rate: number;
  speech: Int16Array;
  short: Int16Array;
}

const byRate = new Map<number, Utterances>();

/** The utterances at `rate`, resampled once per process (the interpolation the emulator would do per frame). */
export function utterances(rate: number): Utterances {
  let u = byRate.get(rate);
  if (!u) {
    const at = (ms: Interval) => resampleLinear(RECORDED_8K.subarray(ms[0] * 8, ms[1] * 8), 8000, rate);
    u = { rate, speech: at(SPEECH_MS), short: at(SHORT_MS) };
    byRate.set(rate, u);
  }
  return u;
}

/** The emulator microphone's own linear interpolation, run once instead of on every frame. */
function resampleLinear(pcm: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return pcm.slice();
  const step = from / to;
  const out = new Int16Array(Math.floor(pcm.length / step));
  let pos = 0;
  for (let i = 0; i < out.length; i++, pos += step) {
    const j = Math.floor(pos);
    const a = pcm[j]!;
    const b = pcm[Math.min(j + 1, pcm.length - 1)]!;
    out[i] = Math.round(a + (b - a) * (pos - j));
  }
  return out;
}

/**
 * Every caller's pending actions on one timer: a bucket per 20 ms tick. Hundreds of callers then cost one
 * timer callback per tick instead of a setTimeout (and its handle) per turn.
 */
export class TurnClock {
  static readonly TICK_MS = 20;
  #buckets = new Map<number, (() => void)[]>();
  #origin = performance.now();
  #done = 0;
  #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => this.#run(), TurnClock.TICK_MS);
  }

  /** Runs `fn` on the first tick at least `ms` from now. */
  after(ms: number, fn: () => void): void {
    const tick = Math.max(this.#done + 1, Math.ceil((performance.now() + ms - this.#origin) / TurnClock.TICK_MS));
    const bucket = this.#buckets.get(tick);
    if (bucket) bucket.push(fn);
    else this.#buckets.set(tick, [fn]);
  }

  /** Drops every pending action (hang-up of all calls). */
  clear(): void {
    this.#buckets.clear();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#buckets.clear();
  }

  #run(): void {
    const now = Math.floor((performance.now() - this.#origin) / TurnClock.TICK_MS);
    for (let t = this.#done + 1; t <= now; t++) {
      const bucket = this.#buckets.get(t);
      if (!bucket) continue;
      this.#buckets.delete(t);
      for (const fn of bucket) fn();
    }
    this.#done = now;
  }
}

/** The caller: talks ~1.4 s, waits for the answer; on some turns talks over it ~0.7 s in (a barge-in). */
export function converse(ch: EmulatedChannel, clock: TurnClock, replyMs: number, bargeInShare: number): void {
  // The stream's rate once it started (callbridge asks for 16 kHz on the Gemini Live path), else the codec's.
  const say = (pick: (u: Utterances) => Int16Array) => {
    const u = utterances(ch.stream?.rate ?? 8000);
    ch.say(pick(u), u.rate);
  };
  const turn = () => {
    if (ch.hungUp) return;
    say((u) => u.speech);
    const replyStartsIn = 1400 + 600; // speech, then the fake's 500 ms end-of-turn silence (+ margin)
    if (Math.random() < bargeInShare) {
      clock.after(replyStartsIn + 700, () => {
        if (!ch.hungUp) say((u) => u.short);
      });
      clock.after(replyStartsIn + 700 + 500 + 1500, turn);
    } else clock.after(replyStartsIn + replyMs + 1000, turn);
  };
  clock.after(Math.random() * 3000, turn);
}

/** p50/p99/max, ms. */
export interface LagSpread {
  p50: number;
  p99: number;
  max: number;
}

/**
 * This process's event-loop lag: the perf_hooks histogram for p50/p99/max (less its 10 ms resolution), and a log of stalls (a 10 ms probe
 * that ran more than `stallMs` late: the loop was blocked over that interval) so that a late frame seen by a
 * fake can be checked against what this process was doing at that moment.
 */
export class LoopLag {
  #histogram = monitorEventLoopDelay({ resolution: 10 });
  #stalls: Interval[] = [];
  #probe: NodeJS.Timeout;
  #due = performance.now() + 10;
  readonly stallMs: number;

  constructor(stallMs = 10) {
    this.stallMs = stallMs;
    this.#histogram.enable();
    this.#probe = setInterval(() => {
      const now = performance.now();
      const late = now - this.#due;
      if (late > this.stallMs && this.#stalls.length < 100_000) {
        const end = performance.timeOrigin + now;
        this.#stalls.push([end - late, end]);
      }
      this.#due = now + 10;
    }, 10);
    this.#probe.unref();
  }

  reset(): void {
    this.#histogram.reset();
    this.#stalls = [];
  }

  get spread(): LagSpread {
    const h = this.#histogram;
    // The histogram holds the probe's whole period: its resolution (10 ms) is not lag.
    const ms = (ns: number) => (h.count ? Math.max(0, ns / 1e6 - 10) : Number.NaN);
    return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
  }

  get stalls(): Interval[] {
    return this.#stalls;
  }

  stop(): void {
    clearInterval(this.#probe);
    this.#histogram.disable();
  }
}

/** Late frames whose gap overlaps a stall of a load generator process are the load generator's. */
export function blameLate(late: Interval[], stalls: Interval[]): { loadgen: number; callbridge: number } {
  const sorted = [...stalls].sort((a, b) => a[0] - b[0]);
  let loadgen = 0;
  for (const [from, to] of late) {
    if (sorted.some(([s, e]) => s < to && e > from)) loadgen++;
  }
  return { loadgen, callbridge: late.length - loadgen };
}

import type { ResamplerPools } from './resampler-pools.ts';

/**
 * Resampling of agent audio for playback, per reply: a stream keeps its filter state across the reply's
 * chunks (no clicks at chunk edges). Output arrives through `onOutput`, in order; the last call has
 * `last: true` (after `end()`, carrying the filter's tail). Two implementations: inline (on the calling
 * thread) and a DSP worker thread (src/media/dsp-worker.ts) that keeps the filtering and the WASM converters'
 * creation off the event loop.
 */
export interface ResampleStream {
  /** Samples at the input rate. The caller may reuse its buffer after return. */
  push(samples: Int16Array): void;
  /** No more input: flush the tail; `onOutput(tail, true)` follows. */
  end(): void;
  /** Abandon the stream (barge-in, hangup): no more output for it. */
  drop(): void;
}

export type ResampleOutput = (samples: Int16Array, last: boolean) => void;

export interface Resampling {
  /** Streams open now (a leak check: 0 when no reply is being resampled). */
  readonly active: number;
  /** A stream, or undefined when no converter can be had right now (the caller falls back). */
  open(inRate: number, outRate: number, onOutput: ResampleOutput): ResampleStream | undefined;
  close(): Promise<void>;
}

/** Resampling on the calling thread, with converters leased from the pools (tests; DSP_THREADS=0). */
export class InlineResampling implements Resampling {
  readonly #pools: ResamplerPools;
  active = 0;
  constructor(pools: ResamplerPools) {
    this.#pools = pools;
  }

  open(inRate: number, outRate: number, onOutput: ResampleOutput): ResampleStream | undefined {
    const pool = this.#pools.get(inRate, outRate);
    const r = pool.tryAcquire();
    if (!r) return undefined;
    let done = false;
    this.active++;
    const finish = () => {
      done = true;
      this.active--;
    };
    return {
      push: (samples) => {
        if (!done) onOutput(r.process(samples), false);
      },
      end: () => {
        if (done) return;
        finish();
        const tail = r.flush();
        pool.release(r, true);
        onOutput(tail, true);
      },
      drop: () => {
        if (done) return;
        finish();
        pool.release(r, false);
      },
    };
  }

  async close(): Promise<void> {}
}

import type { ResamplerPools } from './converter-pool.ts';
import type { ResampleOutput, ResampleStream, Resampling } from './resampling.ts';

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

import { ResamplerPool, type ConverterName } from './resampler.ts';

/** One converter pool per rate pair, created on first use. */
export class ResamplerPools {
  readonly #pools = new Map<string, ResamplerPool>();
  readonly #converter: ConverterName;
  readonly #minSpare: number;
  readonly #max: number | undefined;

  constructor(opts: { converter: ConverterName; minSpare?: number; max?: number }) {
    this.#converter = opts.converter;
    this.#minSpare = opts.minSpare ?? 2;
    this.#max = opts.max;
  }

  get(inRate: number, outRate: number): ResamplerPool {
    const key = `${inRate}:${outRate}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new ResamplerPool(inRate, outRate, { converter: this.#converter, minSpare: this.#minSpare, max: this.#max });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Create and warm converters we know we will need, before the first call arrives. */
  async warm(pairs: ReadonlyArray<readonly [number, number, number]>): Promise<void> {
    for (const [i, o, count] of pairs) await this.get(i, o).warm(count);
  }

  /** Converters in all pools, leased and free. */
  get stats(): { leased: number; free: number } {
    let leased = 0;
    let free = 0;
    for (const p of this.#pools.values()) {
      leased += p.stats.leased;
      free += p.stats.free;
    }
    return { leased, free };
  }

  destroy(): void {
    for (const p of this.#pools.values()) p.destroy();
    this.#pools.clear();
  }
}

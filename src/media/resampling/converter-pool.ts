import {
  createResampler,
  canCreateNow,
  createResamplerNow,
  isPooled,
  prepareConverters,
  type ConverterName,
  type Resampler,
} from './converter.ts';

/**
 * Each libsamplerate instance is its own WASM module: it costs memory, creating one blocks the event loop for
 * milliseconds, and so do its first calls (V8 compiles every instance lazily; measured: see README Performance).
 * Holding one per call for the whole call would cost more memory than the rest of the call, yet a call only resamples while a
 * reply is arriving. So converters are leased per reply (stateful across that reply's chunks) and returned
 * flushed. A lease never waits: spares are created ahead of need, one at a time, their warm-up spread over
 * turns of the event loop. If none is free the caller falls back (see PlayoutQueue).
 *
 * Speex converters (`isPooled` false) are a few kB and made in microseconds: the pool then keeps none, makes
 * one per lease and destroys it on release (no cap: memory stays small), so it only counts leases.
 */
export class ResamplerPool {
  readonly inRate: number;
  readonly outRate: number;
  readonly converter: ConverterName;
  #free: Resampler[] = [];
  #leased = 0;
  #growing = false;
  #minSpare: number;
  /** Most converters this pool ever holds (leased + free): bounds memory without churn. */
  #max: number;
  #destroyed = false;
  readonly #pooled: boolean;

  constructor(
    inRate: number,
    outRate: number,
    opts: { converter?: ConverterName; minSpare?: number; max?: number } = {},
  ) {
    this.inRate = inRate;
    this.outRate = outRate;
    this.converter = opts.converter ?? 'SINC_FASTEST';
    this.#minSpare = opts.minSpare ?? 2;
    this.#max = Math.max(1, opts.max ?? 64);
    this.#pooled = isPooled(this.converter);
    // Unpooled converters need their thread's module: loaded once, then every lease is made at once.
    if (!this.#pooled) void prepareConverters(this.converter).catch(() => {});
  }

  get #total(): number {
    return this.#free.length + this.#leased + (this.#growing ? 1 : 0);
  }

  get stats(): { free: number; leased: number } {
    return { free: this.#free.length, leased: this.#leased };
  }

  /** Spares wanted now: at least minSpare, and a quarter of what is leased (replies come in waves). */
  #wanted(): number {
    return Math.max(this.#minSpare, Math.ceil(this.#leased / 4));
  }

  async #create(warmTurns: boolean): Promise<Resampler> {
    const r = await createResampler(this.inRate, this.outRate, this.converter);
    // Run the slow first calls now (silence leaves the filter state clean), one per event-loop turn when
    // calls are live so none of them waits more than a few ms behind it.
    for (let i = 0; i < 8; i++) {
      r.flush();
      if (warmTurns) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return r;
  }

  /** Create spares in the background, one at a time, until `#wanted()` are free (never beyond the cap). */
  #grow(): void {
    if (this.#growing || this.#destroyed || this.#free.length >= this.#wanted() || this.#total >= this.#max) return;
    this.#growing = true;
    setImmediate(() => {
      this.#create(true).then(
        (r) => {
          this.#growing = false;
          if (this.#destroyed) return r.destroy();
          this.#free.push(r);
          this.#grow();
        },
        () => {
          this.#growing = false;
        },
      );
    });
  }

  /** Create `count` converters now (at start, before calls arrive). */
  async warm(count = this.#minSpare): Promise<void> {
    if (!this.#pooled) return prepareConverters(this.converter);
    while (this.#free.length < count && !this.#destroyed) this.#free.push(await this.#create(false));
  }

  /**
   * A converter, created now if none is free (the DSP worker: there, waiting blocks no call's audio path);
   * undefined at the cap.
   */
  async acquire(): Promise<Resampler | undefined> {
    if (!this.#pooled) {
      await prepareConverters(this.converter);
      return this.tryAcquire();
    }
    const ready = this.tryAcquire();
    if (ready || this.#total >= this.#max) return ready;
    this.#leased++;
    try {
      return await this.#create(false);
    } catch (err) {
      this.#leased--;
      throw err;
    }
  }

  /** A ready converter, or undefined when none is free (one is then being made for next time). */
  tryAcquire(): Resampler | undefined {
    if (!this.#pooled) {
      if (this.#destroyed || !canCreateNow(this.converter)) return undefined;
      const r = createResamplerNow(this.inRate, this.outRate, this.converter);
      this.#leased++;
      return r;
    }
    const r = this.#free.pop();
    if (r) this.#leased++;
    this.#grow();
    return r;
  }

  /**
   * Return a converter. `flushed` says the caller already took its tail with `flush()` (a reply that ended);
   * otherwise (an interrupted reply) the leftover is flushed here and thrown away.
   */
  release(r: Resampler, flushed: boolean): void {
    this.#leased--;
    if (!this.#pooled) return r.destroy();
    // Converters are kept, never destroyed while the pool lives: destroy() frees the C state but the WASM
    // memory only goes with a GC, and create/destroy churn grows RSS without bound (README Performance). The
    // cap on the total bounds memory instead.
    if (this.#destroyed) {
      r.destroy();
      return;
    }
    if (!flushed) r.flush();
    this.#free.push(r);
  }

  destroy(): void {
    this.#destroyed = true;
    for (const r of this.#free) r.destroy();
    this.#free = [];
  }
}

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
      pool = new ResamplerPool(inRate, outRate, {
        converter: this.#converter,
        minSpare: this.#minSpare,
        max: this.#max,
      });
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

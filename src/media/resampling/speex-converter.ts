import loadSpeexModule, { type SpeexModule } from '@echogarden/speex-resampler-wasm/simd';
import type { Resampler } from './converter-names.ts';

/**
 * SpeexDSP's resampler (the one FreeSWITCH uses), compiled to WASM. Unlike libsamplerate-js, where every
 * converter is a WASM module of its own (~1.6 MB), all Speex converters of a thread share one module and
 * each is only its filter state (a few kB in the module's heap), created and destroyed in microseconds:
 * one per reply, no pool (README Performance).
 */
let module: SpeexModule | undefined;
let loading: Promise<SpeexModule> | undefined;

/** The thread's Speex module, loaded once. */
export function loadSpeex(): Promise<SpeexModule> {
  loading ??= loadSpeexModule().then((m) => {
    module = m;
    return m;
  });
  return loading;
}

/** The module is loaded on this thread: converters can be made synchronously. */
export function speexLoaded(): boolean {
  return module !== undefined;
}

/** Scratch space in the module heap shared by every converter of the thread (calls are synchronous). */
class Scratch {
  /** in_len, out_len (uint32 each), then error code. */
  readonly lens: number;
  #inPtr = 0;
  #inCap = 0;
  #outPtr = 0;
  #outCap = 0;
  constructor(m: SpeexModule) {
    this.lens = m._malloc(12);
  }
  input(m: SpeexModule, samples: number): number {
    if (samples > this.#inCap) {
      if (this.#inPtr) m._free(this.#inPtr);
      this.#inCap = Math.max(samples, 4800);
      this.#inPtr = m._malloc(this.#inCap * 2);
    }
    return this.#inPtr;
  }
  output(m: SpeexModule, samples: number): number {
    if (samples > this.#outCap) {
      if (this.#outPtr) m._free(this.#outPtr);
      this.#outCap = Math.max(samples, 4800);
      this.#outPtr = m._malloc(this.#outCap * 2);
    }
    return this.#outPtr;
  }
}
let scratch: Scratch | undefined;

/** A stateful Speex converter at `quality` 0–10 (SpeexDSP's scale; FreeSWITCH uses 2 for calls). */
export class SpeexResampler implements Resampler {
  readonly inRate: number;
  readonly outRate: number;
  #st: number;
  #out = new Int16Array(0);

  /** Synchronous once `loadSpeex()` has resolved on this thread. */
  constructor(inRate: number, outRate: number, quality: number) {
    if (!module) throw new Error('Speex module not loaded: await loadSpeex() first');
    const m = module;
    scratch ??= new Scratch(m);
    this.inRate = inRate;
    this.outRate = outRate;
    this.#st = m._speex_resampler_init(1, inRate, outRate, quality, scratch.lens + 8);
    if (!this.#st) throw new Error(`Speex resampler ${inRate} → ${outRate} Hz (quality ${quality}) failed`);
    // Without this the output starts with the filter's delay of silence (a few ms more first-audio latency).
    m._speex_resampler_skip_zeros(this.#st);
  }

  process(samples: Int16Array): Int16Array {
    const m = module!;
    const s = scratch!;
    const maxOut = Math.ceil((samples.length * this.outRate) / this.inRate) + 16;
    if (this.#out.length < maxOut) this.#out = new Int16Array(maxOut * 2);
    const inPtr = s.input(m, samples.length);
    const outPtr = s.output(m, maxOut);
    // Views are taken after any malloc: a growing heap replaces the module's buffers.
    m.HEAP16.set(samples, inPtr >> 1);
    let consumed = 0;
    let produced = 0;
    while (consumed < samples.length) {
      const lens = m.HEAPU32;
      lens[s.lens >> 2] = samples.length - consumed;
      lens[(s.lens >> 2) + 1] = maxOut;
      m._speex_resampler_process_int(this.#st, 0, inPtr + consumed * 2, s.lens, outPtr, s.lens + 4);
      const used = m.HEAPU32[s.lens >> 2]!;
      const made = m.HEAPU32[(s.lens >> 2) + 1]!;
      if (made > this.#out.length - produced) this.#grow(produced + made);
      this.#out.set(m.HEAP16.subarray(outPtr >> 1, (outPtr >> 1) + made), produced);
      produced += made;
      consumed += used;
      if (used === 0 && made === 0) break; // nothing moves: never loop forever
    }
    return this.#out.subarray(0, produced);
  }

  #grow(need: number): void {
    const bigger = new Int16Array(need * 2);
    bigger.set(this.#out);
    this.#out = bigger;
  }

  /** Push the filter's delayed tail out with 20 ms of silence (more than any quality's half filter length). */
  flush(): Int16Array {
    return this.process(new Int16Array(Math.round(this.inRate / 50)));
  }

  destroy(): void {
    if (!this.#st) return;
    module!._speex_resampler_destroy(this.#st);
    this.#st = 0;
  }
}

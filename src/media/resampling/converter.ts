import lsr from '@alexanderolsen/libsamplerate-js';
import { float32ToInt16Into, int16ToFloat32 } from '../pcm.ts';
import type { ConverterName, Resampler, SpeexName } from './converter-names.ts';
import { loadSpeex, SpeexResampler, speexLoaded } from './speex-converter.ts';

export type { ConverterName, Resampler } from './converter-names.ts';

const { create, ConverterType } = lsr;
type Src = Awaited<ReturnType<typeof create>>;

type LibsamplerateName = Exclude<ConverterName, SpeexName>;

/**
 * Speex converters are cheap to make (microseconds, a few kB, synchronous once the thread's module is
 * loaded): one per stream. libsamplerate ones are costly: pooled (converter-pool.ts).
 */
export function isPooled(converter: ConverterName): boolean {
  return !converter.startsWith('SPEEX_');
}

function speexQuality(converter: ConverterName): number {
  return Number(converter.slice('SPEEX_'.length));
}

/** Load what `createResamplerNow` needs on this thread (the Speex module). */
export async function prepareConverters(converter: ConverterName): Promise<void> {
  if (!isPooled(converter)) await loadSpeex();
}

/** `createResamplerNow` works on this thread now. */
export function canCreateNow(converter: ConverterName): boolean {
  return !isPooled(converter) && speexLoaded();
}

/** A new unpooled (Speex) converter, synchronously; `prepareConverters` must have resolved on this thread. */
export function createResamplerNow(inRate: number, outRate: number, converter: ConverterName): Resampler {
  if (isPooled(converter)) throw new Error(`${converter} converters are created asynchronously (pooled)`);
  return new SpeexResampler(inRate, outRate, speexQuality(converter));
}

const CONVERTERS: Record<LibsamplerateName, number> = {
  SINC_FASTEST: ConverterType.SRC_SINC_FASTEST,
  SINC_MEDIUM_QUALITY: ConverterType.SRC_SINC_MEDIUM_QUALITY,
  SINC_BEST_QUALITY: ConverterType.SRC_SINC_BEST_QUALITY,
  LINEAR: ConverterType.SRC_LINEAR,
};

/** One stateful libsamplerate converter (`full()` API), a WASM module of its own (~1.6 MB). */
export class LibsamplerateResampler implements Resampler {
  readonly inRate: number;
  readonly outRate: number;
  #src: Src;
  #floatIn = new Float32Array(0);
  #floatOut = new Float32Array(0);
  #intOut = new Int16Array(0);
  #written = { frames: 0 };

  constructor(src: Src, inRate: number, outRate: number) {
    this.#src = src;
    this.inRate = inRate;
    this.outRate = outRate;
  }

  /** Resample a block of samples; returns a view into a reused buffer. */
  process(samples: Int16Array): Int16Array {
    if (this.#floatIn.length < samples.length) this.#floatIn = new Float32Array(samples.length * 2);
    const maxOut = Math.ceil((samples.length * this.outRate) / this.inRate) + 64;
    if (this.#floatOut.length < maxOut) {
      this.#floatOut = new Float32Array(maxOut * 2);
      this.#intOut = new Int16Array(maxOut * 2);
    }
    const input = this.#floatIn.subarray(0, samples.length);
    int16ToFloat32(samples, input);
    this.#src.full(input, this.#floatOut, this.#written);
    const n = this.#written.frames;
    float32ToInt16Into(this.#floatOut.subarray(0, n), this.#intOut);
    return this.#intOut.subarray(0, n);
  }

  /**
   * Push the filter's delayed tail out with 20 ms of silence (the sinc filters' delay is well inside one
   * frame). Afterwards the history is all zeros, which is the same as a fresh converter apart from a phase
   * offset nobody can hear.
   */
  flush(): Int16Array {
    return this.process(new Int16Array(Math.round(this.inRate / 50)));
  }

  destroy(): void {
    this.#src.destroy();
  }
}

/** A new converter from `inRate` to `outRate` (a libsamplerate one's WASM module is compiled lazily: see ResamplerPool). */
export async function createResampler(inRate: number, outRate: number, converter: ConverterName): Promise<Resampler> {
  if (!isPooled(converter)) {
    await loadSpeex();
    return createResamplerNow(inRate, outRate, converter);
  }
  const src = await create(1, inRate, outRate, { converterType: CONVERTERS[converter as LibsamplerateName] as never });
  return new LibsamplerateResampler(src, inRate, outRate);
}

/** The RESAMPLER choices (config.ts needs the names, not the WASM) and the stream converter contract. */
export const LIBSAMPLERATE_CONVERTERS = ['SINC_FASTEST', 'SINC_MEDIUM_QUALITY', 'SINC_BEST_QUALITY', 'LINEAR'] as const;
/** SpeexDSP's resampler at quality 0–10 (see speex-converter.ts). */
export const SPEEX_CONVERTERS = [
  'SPEEX_0',
  'SPEEX_1',
  'SPEEX_2',
  'SPEEX_3',
  'SPEEX_4',
  'SPEEX_5',
  'SPEEX_6',
  'SPEEX_7',
  'SPEEX_8',
  'SPEEX_9',
  'SPEEX_10',
] as const;
export const CONVERTER_NAMES = [...LIBSAMPLERATE_CONVERTERS, ...SPEEX_CONVERTERS] as const;
export type ConverterName = (typeof CONVERTER_NAMES)[number];
export type SpeexName = (typeof SPEEX_CONVERTERS)[number];

/**
 * A stateful converter for one stream: filter state carries from one `process` to the next, so chunk edges
 * do not click. Output views are only valid until the next call on the same converter.
 */
export interface Resampler {
  readonly inRate: number;
  readonly outRate: number;
  /** Resample a block of samples; returns a view into a reused buffer. */
  process(samples: Int16Array): Int16Array;
  /** The filter's delayed tail; afterwards the converter is as good as new. */
  flush(): Int16Array;
  destroy(): void;
}

/** The RESAMPLER choices, apart from the converters themselves (config.ts needs the names, not the WASM). */
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

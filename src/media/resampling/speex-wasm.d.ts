/** The Emscripten module of @echogarden/speex-resampler-wasm (SpeexDSP's resampler; the package ships no types). */
declare module '@echogarden/speex-resampler-wasm/simd' {
  export interface SpeexModule {
    HEAP16: Int16Array;
    HEAPU32: Uint32Array;
    HEAP32: Int32Array;
    HEAPU8: Uint8Array;
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    _speex_resampler_init(channels: number, inRate: number, outRate: number, quality: number, errPtr: number): number;
    _speex_resampler_process_int(
      st: number,
      channel: number,
      inPtr: number,
      inLenPtr: number,
      outPtr: number,
      outLenPtr: number,
    ): number;
    _speex_resampler_skip_zeros(st: number): number;
    _speex_resampler_reset_mem(st: number): number;
    _speex_resampler_get_input_latency(st: number): number;
    _speex_resampler_destroy(st: number): void;
  }
  const factory: (moduleArg?: object) => Promise<SpeexModule>;
  export default factory;
}

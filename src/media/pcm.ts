/** 16-bit little-endian mono PCM helpers. Everything here works on whole buffers, never per sample in JS hot loops we can avoid. */

export const BYTES_PER_SAMPLE = 2;

/** Bytes in `ms` milliseconds of 16-bit mono PCM at `rate`. */
export function pcmBytes(rate: number, ms: number): number {
  return Math.round((rate * ms) / 1000) * BYTES_PER_SAMPLE;
}

/**
 * An Int16Array view over a Buffer's bytes. Views need an even byteOffset; Node pools small buffers at
 * arbitrary offsets, so copy when the offset is odd (rare: only for buffers we did not allocate).
 */
export function int16View(buf: Buffer): Int16Array {
  if (buf.byteOffset % 2 === 0) return new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
  const copy = new Int16Array(buf.length >> 1);
  Buffer.from(copy.buffer).set(buf.subarray(0, copy.length * 2));
  return copy;
}

export function int16ToFloat32(src: Int16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = src[i]! / 32768;
  return dst;
}

/** Float −1..1 → clamped Int16, written into `dst` starting at `offset`. */
export function float32ToInt16Into(src: Float32Array, dst: Int16Array, offset = 0): void {
  for (let i = 0; i < src.length; i++) {
    const v = src[i]! * 32768;
    dst[offset + i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v | 0;
  }
}

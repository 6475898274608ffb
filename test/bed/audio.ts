/** Test audio: tones and a frequency estimate, so tests can tell which audio the caller heard. */

export function tone(freq: number, ms: number, rate: number, amplitude = 8000): Int16Array {
  const n = Math.round((rate * ms) / 1000);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(Math.sin((2 * Math.PI * freq * i) / rate) * amplitude);
  return out;
}

export function silence(ms: number, rate: number): Int16Array {
  return new Int16Array(Math.round((rate * ms) / 1000));
}

export function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** What `convertInChunks` needs of a resampler (src/media/resampling's Resampler has it). */
export interface ChunkConverter {
  process(input: Int16Array): Int16Array;
  flush(): Int16Array;
}

/** Convert `input` in chunks of the given sizes (the rest in one more), then flush: everything given back. */
export function convertInChunks(r: ChunkConverter, input: Int16Array, sizes: number[]): Int16Array {
  const parts: Int16Array[] = [];
  let at = 0;
  for (const n of sizes) {
    parts.push(r.process(input.subarray(at, at + n)).slice());
    at += n;
  }
  if (at < input.length) parts.push(r.process(input.subarray(at)).slice());
  parts.push(r.flush().slice());
  return concat(...parts);
}

/** Dominant frequency by zero crossings (good enough for one pure tone). */
export function estimateFrequency(samples: Int16Array, rate: number): number {
  let crossings = 0;
  for (let i = 1; i < samples.length; i++) if (samples[i - 1]! < 0 !== samples[i]! < 0) crossings++;
  return (crossings / 2) * (rate / samples.length);
}

export function rms(samples: Int16Array): number {
  let s = 0;
  for (let i = 0; i < samples.length; i++) s += samples[i]! * samples[i]!;
  return Math.sqrt(s / Math.max(1, samples.length));
}

/** RMS of the 16-bit LE samples in bytes [start, end) of `buf`: no copy, and any byte offset (an Int16Array view needs an even one). */
export function rmsInt16LE(buf: Buffer, start = 0, end = buf.length): number {
  let sum = 0;
  let n = 0;
  for (let i = start; i + 1 < end; i += 2) {
    const v = buf.readInt16LE(i);
    sum += v * v;
    n++;
  }
  return n === 0 ? 0 : Math.sqrt(sum / n);
}

export function asInt16(buf: Buffer): Int16Array {
  const copy = Buffer.from(buf);
  return new Int16Array(copy.buffer, copy.byteOffset, copy.length >> 1);
}

/** The audio the fake speaks: a tone in the requested encoding (G.711 gets silence). */

function bytesPerSample(encoding: string): number {
  return encoding === 'pcm_f32le' ? 4 : encoding === 'pcm_s16le' ? 2 : 1;
}

/** `ms` of a tone in the given encoding. */
export function tone(ms: number, rate: number, encoding: string, hz: number, phase0: number): Buffer {
  const n = Math.round((rate * ms) / 1000);
  const bps = bytesPerSample(encoding);
  const out = Buffer.alloc(n * bps);
  for (let i = 0; i < n; i++) {
    const v = Math.sin((2 * Math.PI * hz * (phase0 + i)) / rate) * 0.25;
    if (encoding === 'pcm_s16le') out.writeInt16LE(Math.round(v * 32767), i * 2);
    else if (encoding === 'pcm_f32le') out.writeFloatLE(v, i * 4);
    else out[i] = encoding === 'pcm_mulaw' ? 0xff : 0xd5; // G.711 silence is fine for a fake
  }
  return out;
}

/**
 * Speech-like test audio: a voiced source (a few harmonics of a gliding pitch) shaped by a ~4 Hz syllable
 * envelope, loud enough for energy-based turn detection. Deterministic, so runs are comparable.
 */
export function speechLike(ms: number, rate: number, seed = 1): Int16Array {
  const n = Math.round((rate * ms) / 1000);
  const out = new Int16Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const pitch = 120 + 30 * Math.sin(2 * Math.PI * 0.7 * t + seed);
    phase += (2 * Math.PI * pitch) / rate;
    const voiced = Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.3 * Math.sin(3 * phase) + 0.2 * Math.sin(5 * phase);
    const syllables = 0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t + seed);
    out[i] = Math.round(voiced * syllables * 6000);
  }
  return out;
}

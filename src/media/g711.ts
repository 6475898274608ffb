import alawmulaw from 'alawmulaw';

export type G711Law = 'PCMU' | 'PCMA';

/** Encode 16-bit PCM samples to G.711 bytes (one byte per sample) with alawmulaw. */
export function encodeG711(law: G711Law, samples: Int16Array): Uint8Array {
  return law === 'PCMU' ? alawmulaw.mulaw.encode(samples) : alawmulaw.alaw.encode(samples);
}

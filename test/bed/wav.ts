/**
 * RIFF/WAVE in and out for the bed's users: reading a caller's recording (any rate, channels mixed down,
 * through the same decoder the emulator plays files with) and writing 16-bit PCM, mono or interleaved stereo.
 */
import { readFileSync } from 'node:fs';
import { parseWav } from './freeswitch/audio-files.ts';

export interface WavAudio {
  /** Mono samples (channels mixed down). */
  pcm: Int16Array;
  sampleRate: number;
}

export function readWav(path: string): WavAudio {
  const { pcm, sampleRate } = parseWav(readFileSync(path));
  return { pcm, sampleRate };
}

/** 16-bit PCM WAV of one or more equally long channels (a shorter channel is padded with silence). */
export function encodeWav(channels: readonly Int16Array[], sampleRate: number): Buffer {
  const count = channels.length;
  const frames = Math.max(0, ...channels.map((c) => c.length));
  const dataBytes = frames * count * 2;
  const out = Buffer.alloc(44 + dataBytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(count, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * count * 2, 28);
  out.writeUInt16LE(count * 2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < count; c++) out.writeInt16LE(channels[c]![i] ?? 0, 44 + (i * count + c) * 2);
  }
  return out;
}

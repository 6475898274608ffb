/**
 * What FreeSWITCH makes of a file given to `playback`, by extension (mod_sndfile / mod_native_file):
 * `.r8`/`.raw` 16-bit 8 kHz, `.r16` 16 kHz, `.wav` (RIFF, any rate), `.PCMU`/`.PCMA` raw G.711 (upper case only,
 * sent as-is in the call's codec), `.r24`/`.r32` read as 24/32-bit samples (noise). Anything else (`.r48`,
 * lower-case `.pcmu`, `.mp3` without mod_shout, missing file) cannot be opened: FILE NOT FOUND.
 * Also the audio helpers the emulator needs: G.711 decoding and linear resampling.
 */
import { readFileSync } from 'node:fs';

export interface DecodedFile {
  /** Samples at `sampleRate`, mono. */
  pcm: Int16Array;
  sampleRate: number;
  /** Played as garbage: what the caller hears is not the intended audio. */
  noise?: boolean;
  /** .PCMU/.PCMA on a call using another codec. */
  mismatch?: boolean;
}

export class FileNotFound extends Error {}

/** Decodes `path` the way the channel would play it; `codec` is the call's codec (PCMU, PCMA, L16, G722). */
export async function decodeForPlayback(path: string, codec: string): Promise<DecodedFile> {
  const silence = /^silence_stream:\/\/(\d+)/.exec(path);
  if (silence) return { pcm: new Int16Array(Math.round(Number(silence[1]) * 8)), sampleRate: 8000 };
  const ext = /\.([^./]+)$/.exec(path)?.[1] ?? '';
  const kind = FORMATS[ext];
  if (!kind) throw new FileNotFound(`unsupported file type .${ext}`);
  let bytes: Buffer;
  try {
    // Synchronous: a playback file is small and on tmpfs in the bench; the promise API's open/stat/read/close
    // round trips were a sixth of the emulator's CPU with hundreds of calls.
    bytes = readFileSync(path);
  } catch {
    throw new FileNotFound(`cannot open ${path}`);
  }
  try {
    return kind(bytes, codec);
  } catch (err) {
    throw err instanceof FileNotFound ? err : new FileNotFound(`cannot decode ${path}: ${String(err)}`);
  }
}

const FORMATS: Record<string, (b: Buffer, codec: string) => DecodedFile> = {
  r8: (b) => ({ pcm: int16le(b), sampleRate: 8000 }),
  raw: (b) => ({ pcm: int16le(b), sampleRate: 8000 }),
  r16: (b) => ({ pcm: int16le(b), sampleRate: 16000 }),
  r24: (b) => ({ pcm: wideSamples(b, 3), sampleRate: 24000, noise: true }),
  r32: (b) => ({ pcm: wideSamples(b, 4), sampleRate: 32000, noise: true }),
  wav: (b) => parseWav(b),
  PCMU: (b, codec) => native(b, codec, 'PCMU'),
  PCMA: (b, codec) => native(b, codec, 'PCMA'),
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function int16le(b: Buffer): Int16Array {
  const out = new Int16Array(b.length >> 1);
  // One copy of the bytes on a little-endian host (every host the bed runs on); per sample otherwise.
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(b.subarray(0, out.length * 2));
  else for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(i * 2);
  return out;
}

/** 24/32-bit little-endian samples; keeping the top 16 bits of 16-bit audio read this way gives noise. */
function wideSamples(b: Buffer, width: 3 | 4): Int16Array {
  const out = new Int16Array(Math.floor(b.length / width));
  for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(i * width + width - 2);
  return out;
}

/** mod_native_file hands the bytes to the channel's codec: right only if the call uses that codec. */
function native(b: Buffer, codec: string, fileCodec: 'PCMU' | 'PCMA'): DecodedFile {
  const callCodec = codec === 'PCMA' ? 'PCMA' : 'PCMU';
  const table = callCodec === 'PCMA' ? ALAW_TABLE : ULAW_TABLE;
  const pcm = new Int16Array(b.length);
  for (let i = 0; i < b.length; i++) pcm[i] = table[b[i]!]!;
  return codec === fileCodec ? { pcm, sampleRate: 8000 } : { pcm, sampleRate: 8000, noise: true, mismatch: true };
}

export function parseWav(b: Buffer): DecodedFile {
  if (b.length < 12 || b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE')
    throw new FileNotFound('not a RIFF/WAVE file');
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ' && body + 16 <= b.length) {
      let format = b.readUInt16LE(body);
      if (format === 0xfffe && size >= 26) format = b.readUInt16LE(body + 24); // WAVE_FORMAT_EXTENSIBLE sub-format
      fmt = {
        format,
        channels: b.readUInt16LE(body + 2),
        rate: b.readUInt32LE(body + 4),
        bits: b.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new FileNotFound('WAV data before fmt chunk');
      const data = b.subarray(body, Math.min(b.length, body + size));
      return { pcm: downmix(wavSamples(data, fmt.format, fmt.bits), fmt.channels), sampleRate: fmt.rate };
    }
    off = body + size + (size & 1);
  }
  throw new FileNotFound('WAV without data chunk');
}

function wavSamples(data: Buffer, format: number, bits: number): Int16Array {
  if (format === 1 && bits === 16) return int16le(data);
  if (format === 1 && bits === 8) return Int16Array.from(data, (x) => (x - 128) << 8);
  if (format === 1 && (bits === 24 || bits === 32)) return wideSamples(data, (bits / 8) as 3 | 4);
  if (format === 3 && bits === 32) {
    const out = new Int16Array(data.length >> 2);
    for (let i = 0; i < out.length; i++) out[i] = clamp16(data.readFloatLE(i * 4) * 32767);
    return out;
  }
  if (format === 6) return Int16Array.from(data, (x) => alawToLinear(x));
  if (format === 7) return Int16Array.from(data, (x) => ulawToLinear(x));
  throw new FileNotFound(`unsupported WAV format ${format}/${bits} bits`);
}

function downmix(pcm: Int16Array, channels: number): Int16Array {
  if (channels <= 1) return pcm;
  const out = new Int16Array(Math.floor(pcm.length / channels));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += pcm[i * channels + c]!;
    out[i] = Math.round(sum / channels);
  }
  return out;
}

const clamp16 = (x: number) => Math.max(-32768, Math.min(32767, Math.round(x)));

export function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

export function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

/** Linear-interpolation resampling (test-grade, not studio-grade). */
export function resample(pcm: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate || pcm.length === 0) return pcm;
  const outLen = Math.round((pcm.length * toRate) / fromRate);
  const out = new Int16Array(outLen);
  const step = fromRate / toRate;
  for (let i = 0; i < outLen; i++) {
    const pos = i * step;
    const j = Math.floor(pos);
    const a = pcm[Math.min(j, pcm.length - 1)]!;
    const b = pcm[Math.min(j + 1, pcm.length - 1)]!;
    out[i] = Math.round(a + (b - a) * (pos - j));
  }
  return out;
}

// G.711 decoded through a table: a playback file is decoded byte by byte.
const ULAW_TABLE = Int16Array.from({ length: 256 }, (_, b) => ulawToLinear(b));
const ALAW_TABLE = Int16Array.from({ length: 256 }, (_, b) => alawToLinear(b));

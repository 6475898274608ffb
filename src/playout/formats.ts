import { encodeG711 } from '../media/g711.ts';
import { WAV_HEADER_BYTES, writeWavHeader } from '../media/wav.ts';

/**
 * File formats FreeSWITCH plays (see ../freeswitch/PROTOCOL.md): `.r8`/`.r16` raw 16-bit PCM at 8/16 kHz,
 * `.wav` at any rate, `.PCMU`/`.PCMA` raw G.711 (only on a call using that codec). `.r24` is read as
 * 24-bit samples (noise), so 24 kHz model audio is either resampled here or wrapped in WAV.
 */
export type FileKind = 'r8' | 'r16' | 'wav' | 'PCMU' | 'PCMA';

export interface FileFormat {
  kind: FileKind;
  /** Rate of the samples in the file (what the playout resamples agent audio to). */
  sampleRate: number;
}

export type FormatSetting = 'auto' | 'l16' | 'wav' | 'native';

/**
 * Pick the file format for a call.
 * - `native`: G.711 bytes in the call's own codec: FreeSWITCH neither resamples nor transcodes.
 * - `l16`: raw PCM at the call's rate (.r8/.r16): FreeSWITCH only encodes.
 * - `wav`: the agent's audio as it came (24 kHz for Gemini): no DSP here, FreeSWITCH resamples each file.
 * - `auto`: native on PCMU/PCMA calls, else l16. With the `stream` transport mod_audio_stream names G.711
 *   files in lower case (.pcmu), which FreeSWITCH cannot open, so l16 is used there.
 */
export function chooseFormat(
  setting: FormatSetting,
  opts: {
    codec: string | undefined;
    codecRate: number | undefined;
    sourceRate: number;
    transport: 'shared-dir' | 'stream';
  },
): FileFormat {
  const l16: FileFormat =
    (opts.codecRate ?? 8000) >= 16000 ? { kind: 'r16', sampleRate: 16000 } : { kind: 'r8', sampleRate: 8000 };
  const g711 = opts.codec === 'PCMU' || opts.codec === 'PCMA' ? opts.codec : undefined;
  switch (setting) {
    case 'wav':
      return { kind: 'wav', sampleRate: opts.sourceRate };
    case 'l16':
      return l16;
    case 'native':
    case 'auto':
      return g711 && opts.transport === 'shared-dir' ? { kind: g711, sampleRate: 8000 } : l16;
  }
}

/** Bytes of file for `samples` (16-bit PCM at the format's rate). Allocates the file buffer once. */
export function encodeChunk(format: FileFormat, samples: Int16Array): Buffer {
  switch (format.kind) {
    case 'PCMU':
    case 'PCMA': {
      const bytes = encodeG711(format.kind, samples);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    case 'wav': {
      const out = Buffer.allocUnsafe(WAV_HEADER_BYTES + samples.byteLength);
      writeWavHeader(out, format.sampleRate, samples.byteLength);
      out.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength), WAV_HEADER_BYTES);
      return out;
    }
    case 'r8':
    case 'r16':
      return Buffer.from(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength));
  }
}

/** How mod_audio_stream's `streamAudio` message describes a chunk of this format. */
export function streamAudioType(format: FileFormat): { audioDataType: 'raw' | 'wav'; sampleRate: number } {
  return format.kind === 'wav'
    ? { audioDataType: 'wav', sampleRate: format.sampleRate }
    : { audioDataType: 'raw', sampleRate: format.sampleRate };
}

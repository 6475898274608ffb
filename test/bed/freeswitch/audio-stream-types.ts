/**
 * The shapes mod_audio_stream's emulation shares: mix modes, stream states, the `start` arguments and the
 * STREAM_* channel variables. audio-stream.ts re-exports them for the emulator and the tests.
 */

export type StreamMix = 'mono' | 'mixed' | 'stereo';
/** `disconnected`: the server closed the socket; the bug stays attached until `stop`. */
export type StreamState = 'connecting' | 'connected' | 'disconnected' | 'failed' | 'stopped';

/** The channel variables mod_audio_stream reads at `start` (only those that were set). */
export interface StreamVars {
  STREAM_MESSAGE_DEFLATE?: string;
  STREAM_HEART_BEAT?: string;
  STREAM_BUFFER_SIZE?: string;
  STREAM_EXTRA_HEADERS?: string;
  STREAM_SUPPRESS_LOG?: string;
}
export const STREAM_VAR_NAMES = [
  'STREAM_MESSAGE_DEFLATE',
  'STREAM_HEART_BEAT',
  'STREAM_BUFFER_SIZE',
  'STREAM_EXTRA_HEADERS',
  'STREAM_SUPPRESS_LOG',
] as const;

export interface StreamStart {
  url: string;
  mix: StreamMix;
  rate: number;
  metadata: string | undefined;
  vars: StreamVars;
}

/** A parsed JSON value is an object (STREAM_EXTRA_HEADERS and the server's messages must be). */
export function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Cartesia's wire details the fake shares: the endpoint path, the checks on a generation request, upgrade errors. */
import type { HttpRefusal } from '../ws-fake.ts';
import type { CartesiaErrorSpec } from './options.ts';

export const PATH = '/tts/websocket';
const RATES = new Set([8000, 16000, 22050, 24000, 44100, 48000]);
const ENCODINGS = new Set(['pcm_s16le', 'pcm_f32le', 'pcm_mulaw', 'pcm_alaw']);

/** The error the service sends for a malformed generation request, if it is one. */
export function validate(msg: Record<string, any>): Partial<CartesiaErrorSpec> | undefined {
  if (typeof msg.context_id !== 'string' || !msg.context_id)
    return { status_code: 400, title: 'Invalid request', message: 'context_id is required' };
  if (!msg.model_id) return { status_code: 400, title: 'Invalid model', message: 'model_id is required' };
  const voiceId = typeof msg.voice === 'string' ? msg.voice : msg.voice?.id;
  if (!voiceId) return { status_code: 400, title: 'Invalid voice', message: 'voice.id is required' };
  const of = msg.output_format;
  if (of?.container !== 'raw' || !ENCODINGS.has(of.encoding) || !RATES.has(of.sample_rate)) {
    return {
      status_code: 400,
      title: 'Invalid output format',
      message: `unsupported output_format ${JSON.stringify(of)}`,
    };
  }
  if (typeof msg.transcript !== 'string')
    return { status_code: 400, title: 'Invalid request', message: 'transcript is required' };
  return undefined;
}

/** An upgrade refusal with Cartesia's error body. */
export function error(status: number, message: string): HttpRefusal {
  return { status, body: JSON.stringify({ error: message }) };
}

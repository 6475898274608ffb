/** The server messages of listen v1 shaped like the real ones: Results, SpeechStarted, UtteranceEnd, Metadata. */
import type { ResultSpec, WordSpec } from './options.ts';

/** Where a message belongs: the stream it answers and how much audio that stream has sent. */
export interface StreamPosition {
  /** Seconds of audio received. */
  audioSec: number;
  requestId: string;
  /** The `model` query parameter, or null. */
  model: string | null;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Words of `text` spread evenly over [start, end] (seconds). */
export function spreadWords(text: string, start: number, end: number, confidence = 0.98): WordSpec[] {
  const tokens = text.split(/\s+/).filter(Boolean);
  if (tokens.length === 0) return [];
  const step = (end - start) / tokens.length;
  return tokens.map((t, i) => ({
    word: t.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '') || t,
    punctuated_word: t,
    start: round3(start + i * step),
    end: round3(start + (i + 1) * step),
    confidence,
  }));
}

/** A `Results` message shaped like the real one. */
export function resultMessage(r: ResultSpec, at: StreamPosition): Record<string, any> {
  const confidence = r.confidence ?? 0.98;
  let { start, duration, words } = r;
  if (words === undefined) {
    const d = duration ?? Math.max(0.2, 0.3 * r.transcript.split(/\s+/).filter(Boolean).length);
    const s = start ?? Math.max(0, at.audioSec - d);
    words = spreadWords(r.transcript, s, s + d, confidence);
    start ??= s;
    duration ??= d;
  }
  if (start === undefined) start = words.length ? words[0]!.start : Math.max(0, at.audioSec - (duration ?? 0));
  if (duration === undefined) duration = words.length ? words[words.length - 1]!.end - start : 0;
  return {
    type: 'Results',
    channel_index: [0, 1],
    duration: round3(duration),
    start: round3(start),
    is_final: r.isFinal ?? false,
    speech_final: r.speechFinal ?? false,
    channel: {
      alternatives: [{ transcript: r.transcript, confidence, words: words.map((w) => ({ confidence, ...w })) }],
    },
    metadata: {
      request_id: at.requestId,
      model_info: {
        name: `general-${at.model ?? 'nova-3'}`,
        version: '2025-01-01.0',
        arch: at.model ?? 'nova-3',
      },
      model_uuid: '00000000-0000-4000-8000-000000000000',
    },
    from_finalize: r.fromFinalize ?? false,
  };
}

export function speechStartedMessage(timestamp: number): Record<string, any> {
  return { type: 'SpeechStarted', channel: [0], timestamp: round3(timestamp) };
}

export function utteranceEndMessage(lastWordEnd: number): Record<string, any> {
  return { type: 'UtteranceEnd', channel: [0, 1], last_word_end: round3(lastWordEnd) };
}

/** What the service sends on CloseStream, before closing. */
export function metadataMessage(at: StreamPosition): Record<string, any> {
  return {
    type: 'Metadata',
    transaction_key: 'deprecated',
    request_id: at.requestId,
    sha256: '0'.repeat(64),
    created: new Date().toISOString(),
    duration: round3(at.audioSec),
    channels: 1,
  };
}

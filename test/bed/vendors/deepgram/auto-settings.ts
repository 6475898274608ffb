/**
 * What the `auto` options and the stream's query make of the automatic mode: its thresholds and timings, the words
 * the caller is scripted to say and their confidence. Read on every use (the options object is the fake's own).
 */
import type { DeepgramAutoOptions } from './options.ts';

export interface AutoSettings {
  /** RMS at or above which a 20 ms window is speech. */
  threshold: number;
  minSpeechMs: number;
  interimEvery: number;
  /** Silence that ends an utterance with speech_final (0 = never). */
  endpointing: number;
  utteranceEndMs: number;
  vadEvents: boolean;
  interim: boolean;
  silenceEvery: number;
}

/** The option if set, else the query parameter the client connected with, else Deepgram's default. */
export function autoSettings(ar: DeepgramAutoOptions, query: URLSearchParams): AutoSettings {
  const qEnd = query.get('endpointing');
  return {
    threshold: ar.speechThreshold ?? 500,
    minSpeechMs: ar.minSpeechMs ?? 120,
    interimEvery: ar.interimEveryMs ?? 300,
    endpointing: ar.endpointingMs ?? (qEnd === null ? 300 : qEnd === 'false' ? 0 : Number(qEnd)),
    utteranceEndMs: Number(query.get('utterance_end_ms') ?? 0),
    vadEvents: query.get('vad_events') === 'true',
    interim: query.get('interim_results') === 'true',
    silenceEvery: ar.silenceResultsEveryMs ?? 2000,
  };
}

/** What the caller "said" in their nth speech segment. */
export function transcriptFor(ar: DeepgramAutoOptions | undefined, turn: number): string {
  const t = ar?.transcript;
  if (typeof t === 'function') return t(turn);
  return t ?? `caller turn ${turn}`;
}

/** The first words of `transcript` the nth interim shows: one more each time, never all of them. */
export function interimText(transcript: string, interimCount: number): string {
  const words = transcript.split(/\s+/).filter(Boolean);
  const shown = Math.max(1, Math.min(words.length - 1, interimCount));
  return words.slice(0, shown).join(' ');
}

export function confidenceOf(ar: DeepgramAutoOptions | undefined): number {
  return ar?.confidence ?? 0.98;
}

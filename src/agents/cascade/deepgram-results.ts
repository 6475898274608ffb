/**
 * Deepgram's listen v1 messages turned into the cascade's STT events: `Results` become SttResults, `UtteranceEnd`
 * and `SpeechStarted` their listener calls; an `Error` is handed back for the connection to end the stream with.
 */
import type { SttListener, SttResult, SttWord } from './stages.ts';

/** Hands one message from Deepgram to `listener`; for an `Error` message returns its description instead. */
export function deliverDeepgramMessage(m: Record<string, unknown>, listener: SttListener): string | undefined {
  switch (m.type) {
    case 'Results':
      listener.result(sttResult(m));
      return undefined;
    case 'UtteranceEnd':
      listener.utteranceEnd(Number(m.last_word_end ?? -1));
      return undefined;
    case 'SpeechStarted':
      listener.speechStarted(Number(m.timestamp ?? 0));
      return undefined;
    case 'Error':
      return String(m.description ?? m.message ?? JSON.stringify(m)).slice(0, 200);
    default: // Metadata, and anything newer
      return undefined;
  }
}

/** A `Results` message as an SttResult (its first alternative). */
export function sttResult(m: Record<string, unknown>): SttResult {
  const alt = (m.channel as { alternatives?: Array<Record<string, unknown>> } | undefined)?.alternatives?.[0];
  const rawWords = (alt?.words as Array<Record<string, unknown>> | undefined) ?? [];
  const words: SttWord[] = rawWords.map((w) => ({
    word: String(w.punctuated_word ?? w.word ?? ''),
    start: Number(w.start ?? 0),
    end: Number(w.end ?? 0),
    confidence: Number(w.confidence ?? 0),
  }));
  return {
    text: String(alt?.transcript ?? ''),
    isFinal: m.is_final === true,
    speechFinal: m.speech_final === true,
    fromFinalize: m.from_finalize === true,
    start: Number(m.start ?? 0),
    duration: Number(m.duration ?? 0),
    confidence: Number(alt?.confidence ?? 0),
    words,
  };
}

/**
 * The automatic mode (`auto`): energy per 20 ms window of the received audio (in audio time, not wall time) finds
 * speech; while speech goes on it sends SpeechStarted and interim results that reveal the scripted transcript word
 * by word; `endpointing` ms of silence after enough speech → a final with speech_final; `utterance_end_ms` of
 * silence after the last word → UtteranceEnd. Finalize flushes the pending words as a `from_finalize` final.
 * No per-frame logging, no per-frame JSON: a load benchmark drives hundreds of these.
 */
import { rmsInt16LE } from '../../audio.ts';
import { autoSettings, confidenceOf, interimText, transcriptFor } from './auto-settings.ts';
import { spreadWords } from './messages.ts';
import type { DeepgramFakeOptions, ResultSpec } from './options.ts';

const WINDOW_MS = 20;

/** What the transcriber answers through: its session's scripted messages and the audio received so far. */
export interface TranscriptOutput {
  /** Seconds of audio received. */
  readonly audioSec: number;
  sendInterim(transcript: string, spec?: Omit<ResultSpec, 'transcript' | 'isFinal' | 'speechFinal'>): void;
  sendFinal(transcript: string, spec?: Omit<ResultSpec, 'transcript' | 'isFinal'>): void;
  sendSpeechStarted(timestamp?: number): void;
  sendUtteranceEnd(lastWordEnd: number): void;
}

/** A speech segment's scripted words and where they fall in the stream (seconds). */
interface HeardWords {
  text: string;
  start: number;
  end: number;
}

/** A wall-clock timer that dies with the session. */
export type Schedule = (ms: number, fire: () => void) => void;

/** One stream's automatic transcripts; does nothing while the fake's options have no `auto`. */
export class AutoTranscriber {
  readonly #opts: DeepgramFakeOptions;
  readonly #query: URLSearchParams;
  readonly #rate: number;
  readonly #out: TranscriptOutput;
  readonly #schedule: Schedule;
  #turns = 0;
  // segment state, in audio time (seconds)
  #carry: Buffer | undefined;
  #samplesSeen = 0;
  #inSpeech = false;
  #speechStart = 0;
  #speechMs = 0;
  #silenceMs = 0;
  #lastWordEnd = -1;
  #sentUtteranceEnd = true;
  #interimCount = 0;
  #speechStartedSent = false;
  #silenceSinceResultMs = 0;

  /** `opts` is read on every call (the fake's options object, as given to the session). */
  constructor(opts: DeepgramFakeOptions, query: URLSearchParams, rate: number, out: TranscriptOutput, at: Schedule) {
    this.#opts = opts;
    this.#query = query;
    this.#rate = rate;
    this.#out = out;
    this.#schedule = at;
  }

  /** Speech segments turned into transcripts. */
  get turns(): number {
    return this.#turns;
  }

  /** Caller audio (raw PCM as received). */
  audio(pcm: Buffer): void {
    const ar = this.#opts.auto;
    if (!ar) return;
    const { threshold, minSpeechMs, interimEvery, endpointing, utteranceEndMs, vadEvents, interim, silenceEvery } =
      autoSettings(ar, this.#query);
    const windowBytes = Math.round((this.#rate * WINDOW_MS) / 1000) * 2;
    let buf = pcm;
    if (this.#carry !== undefined) {
      buf = Buffer.concat([this.#carry, pcm]);
      this.#carry = undefined;
    }
    let off = 0;
    for (; off + windowBytes <= buf.length; off += windowBytes) {
      const t = this.#samplesSeen / this.#rate; // window start, seconds
      this.#samplesSeen += windowBytes / 2;
      const speech = rmsInt16LE(buf, off, off + windowBytes) >= threshold;
      if (speech) {
        this.#silenceSinceResultMs = 0;
        if (!this.#inSpeech) {
          this.#inSpeech = true;
          this.#speechStart = t;
          this.#speechMs = 0;
          this.#silenceMs = 0;
          this.#interimCount = 0;
          this.#speechStartedSent = false;
        }
        this.#speechMs += this.#silenceMs + WINDOW_MS; // short pauses inside an utterance count as speech
        this.#silenceMs = 0;
        if (vadEvents && !this.#speechStartedSent && this.#speechMs >= Math.min(minSpeechMs, 60)) {
          this.#speechStartedSent = true;
          const ts = this.#speechStart;
          this.#later(() => this.#out.sendSpeechStarted(ts));
        }
        if (
          interim &&
          interimEvery > 0 &&
          this.#speechMs >= minSpeechMs &&
          this.#speechMs >= (this.#interimCount + 1) * interimEvery
        ) {
          this.#interimCount++;
          const text = interimText(transcriptFor(this.#opts.auto, this.#turns + 1), this.#interimCount);
          const s = this.#speechStart;
          const e = t + WINDOW_MS / 1000;
          this.#later(() =>
            this.#out.sendInterim(text, { words: spreadWords(text, s, e, confidenceOf(this.#opts.auto)) }),
          );
        }
        continue;
      }
      // silence
      this.#silenceSinceResultMs += WINDOW_MS;
      if (this.#inSpeech) {
        this.#silenceMs += WINDOW_MS;
        if (this.#speechMs < minSpeechMs && this.#silenceMs >= 200) {
          this.#resetSegment(); // a click or a cough: nothing to transcribe
        } else if (endpointing > 0 && this.#speechMs >= minSpeechMs && this.#silenceMs >= endpointing) {
          const p = this.#pendingNow()!;
          this.#resetSegment();
          this.#lastWordEnd = p.end;
          this.#sentUtteranceEnd = false;
          this.#silenceSinceResultMs = 0;
          this.#later(() => this.#sendWords(p, { speechFinal: true }));
        }
      }
      if (
        !this.#inSpeech &&
        !this.#sentUtteranceEnd &&
        utteranceEndMs > 0 &&
        t + WINDOW_MS / 1000 - this.#lastWordEnd >= utteranceEndMs / 1000
      ) {
        this.#sentUtteranceEnd = true;
        const lwe = this.#lastWordEnd;
        this.#later(() => this.#out.sendUtteranceEnd(lwe));
      }
      if (silenceEvery > 0 && !this.#inSpeech && this.#silenceSinceResultMs >= silenceEvery) {
        this.#silenceSinceResultMs = 0;
        const s = t + WINDOW_MS / 1000 - silenceEvery / 1000;
        this.#later(() => this.#out.sendFinal('', { start: Math.max(0, s), duration: silenceEvery / 1000, words: [] }));
      }
    }
    if (off < buf.length) this.#carry = Buffer.from(buf.subarray(off));
  }

  /** Finalize: flush whatever was heard as a final (speech_final stays false for finalize results, as the real service does). */
  finalize(): void {
    if (!this.#opts.auto) return;
    const p = this.#pendingNow();
    this.#resetSegment();
    if (p) this.#later(() => this.#sendWords(p, { fromFinalize: true, speechFinal: false }));
    else
      this.#later(() =>
        this.#out.sendFinal('', { fromFinalize: true, start: this.#out.audioSec, duration: 0, words: [] }),
      );
  }

  /** CloseStream: the words heard so far go out at once as a speech_final result (the session then closes). */
  closeStream(): void {
    const p = this.#opts.auto ? this.#pendingNow() : undefined;
    this.#resetSegment();
    if (p) this.#sendWords(p, { speechFinal: true });
  }

  /** A final result holding segment `p`'s words (their confidence read as it is sent). */
  #sendWords(p: HeardWords, spec: { speechFinal: boolean; fromFinalize?: boolean }): void {
    this.#out.sendFinal(p.text, { ...spec, words: spreadWords(p.text, p.start, p.end, confidenceOf(this.#opts.auto)) });
  }

  /** The words heard so far of the segment in progress (undefined if it is too short to be speech). */
  #pendingNow(): HeardWords | undefined {
    if (!this.#inSpeech) return undefined;
    const minSpeech = this.#opts.auto?.minSpeechMs ?? 120;
    if (this.#speechMs < minSpeech) return undefined;
    const turn = ++this.#turns;
    const end = this.#speechStart + this.#speechMs / 1000;
    return { text: transcriptFor(this.#opts.auto, turn), start: this.#speechStart, end };
  }

  #resetSegment(): void {
    this.#inSpeech = false;
    this.#speechMs = 0;
    this.#silenceMs = 0;
    this.#interimCount = 0;
    this.#speechStartedSent = false;
  }

  /** Run `fn` after the configured latency (now when 0). */
  #later(fn: () => void): void {
    const ms = this.#opts.auto?.latencyMs ?? 0;
    if (ms <= 0) {
      fn();
      return;
    }
    this.#schedule(ms, fn);
  }
}

/** The options of the Deepgram fake and the shapes tests script results with (public: re-exported by ../deepgram.ts). */

export interface DeepgramAutoOptions {
  /** What the caller "said" in their nth speech segment (n from 1). Default: `caller turn n`. */
  transcript?: string | ((turn: number) => string);
  /** RMS (int16) at or above which a 20 ms window counts as speech. Default 500. */
  speechThreshold?: number;
  /** Speech shorter than this is noise: no transcript at all (an empty final at most). Default 120 ms. */
  minSpeechMs?: number;
  /** An interim result per this much speech. Default 300 ms. 0 = no interims. */
  interimEveryMs?: number;
  /** Silence that ends an utterance with speech_final; default: the `endpointing` query value, else 300 (false/0 = never). */
  endpointingMs?: number;
  /** Wall-clock delay before each result is sent (the model's latency). Default 0. */
  latencyMs?: number;
  /** Word confidence in the results. Default 0.98. */
  confidence?: number;
  /** An empty final result per this much silence (the real service keeps sending Results during silence). Default 2000; 0 = never. */
  silenceResultsEveryMs?: number;
}

export interface DeepgramFakeOptions {
  /** The key the fake accepts; undefined accepts any non-empty key. */
  apiKey?: string;
  /** Turn every upgrade away: `http-N` answers with HTTP N and a Deepgram error body; `destroy` drops the TCP connection; `hang` never answers. */
  refuse?: `http-${number}` | 'destroy' | 'hang';
  /** Refuse only the first N connections (then accept): retry tests. Default: all. */
  refuseCount?: number;
  /** Accepted models; undefined accepts any. */
  models?: string[];
  /** Close a connection after this long without audio or text frames (real: ~10 s). Default 10000; 0 = never. */
  idleTimeoutMs?: number;
  /** Answer by itself (see the overview in ../deepgram.ts and auto-transcriber.ts). */
  auto?: DeepgramAutoOptions;
  /** Keep the received audio (default true). Off for load tests: only counters remain. */
  recordAudio?: boolean;
}

export interface WordSpec {
  word: string;
  start: number;
  end: number;
  confidence?: number;
  punctuated_word?: string;
}

export interface ResultSpec {
  transcript: string;
  isFinal?: boolean;
  speechFinal?: boolean;
  fromFinalize?: boolean;
  /** Seconds of stream audio. Default: words' span, else the audio received so far minus `duration`. */
  start?: number;
  duration?: number;
  confidence?: number;
  /** Default: the transcript's words spread evenly over [start, start + duration]. */
  words?: WordSpec[];
}

export interface ControlMessage {
  type: string;
  /** performance.now() on arrival. */
  at: number;
  /** Seconds of audio received before it. */
  audioSec: number;
}

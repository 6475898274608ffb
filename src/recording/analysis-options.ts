/** The tunables of a recording's analysis, and the window, frame and span units its parts share. */

/** Samples per Silero window (32 ms at 8 kHz). */
export const WINDOW = 256;
/** Energy frames are 10 ms. */
export const FRAME_MS = 10;

export interface AnalysisOptions {
  sampleRate: number;
  /** Silero probability at which speech starts; ends below `negThreshold`. */
  threshold: number;
  negThreshold: number;
  /** Speech shorter than this is not an utterance (a cough, a click). */
  minSpeechMs: number;
  /** Non-speech that ends an utterance. */
  hangoverMs: number;
  /** Agent frames whose peak is at or below this are silence (G.711 idle decodes to 0 … ±8). */
  agentFloor: number;
  /** Silence inside a reply longer than this is inserted silence. */
  gapMs: number;
  /** Agent silence this long ends a reply (what follows is another reply, or nothing). */
  replyEndMs: number;
  /** After a barge-in, the agent has stopped once it stays silent this long. */
  stopHoldMs: number;
}

export const DEFAULT_ANALYSIS: AnalysisOptions = {
  sampleRate: 8000,
  threshold: 0.5,
  negThreshold: 0.35,
  minSpeechMs: 96,
  hangoverMs: 300,
  agentFloor: 16,
  gapMs: 40,
  replyEndMs: 1000,
  stopHoldMs: 200,
};

/** A stretch of audio, in samples from the recording's first sample. */
export interface Span {
  start: number; // samples
  end: number; // samples, exclusive
}

/** The options of the Gemini Live fake, its autoReply and its scripted replies (public: re-exported by ../gemini-live.ts). */

/**
 * How to turn a connection away. `http-N`: answer the upgrade with HTTP N; `close-N`: accept, then close with code N
 * after the setup frame; `destroy`: drop the TCP connection; `hang`: never answer the upgrade.
 */
export type Refusal = `http-${number}` | `close-${number}` | 'destroy' | 'hang';

export interface AutoReplyOptions {
  /** 24 kHz 16-bit mono model audio for each reply (turn numbers start at 1). */
  replyAudio: Int16Array | ((turn: number) => Int16Array);
  /** RMS (of int16 samples) at or above which a 20 ms window counts as speech. Default 500. */
  speechThreshold?: number;
  /** Speech needed before a following silence ends the caller's turn. Default 200 ms. */
  minSpeechMs?: number;
  /** Silence that ends the caller's turn. Default 500 ms. */
  silenceMs?: number;
  /** Speech while replying that triggers `interrupted: true`. Default 60 ms (the real service: 50–100 ms). */
  bargeInMs?: number;
  /** Model audio per message. Default 40 ms. */
  chunkMs?: number;
  /** Wall-clock pause between audio messages (faster than real time). Default 5 ms; 0 = setImmediate. */
  paceMs?: number;
  /** Stream each reply in real time instead (`chunkMs` of audio every `chunkMs`, on a clock: no drift), as a model streams a long answer. */
  realtime?: boolean;
  /** Transcripts sent with each reply; false = none. Defaults: "caller turn N" / "agent reply N". */
  transcripts?: false | { caller?: (turn: number) => string; agent?: (turn: number) => string };
  /** Also reply to `clientContent` with turnComplete and to `realtimeInput.text` (speak-first). Default true. */
  replyToText?: boolean;
  /**
   * Like the real service, assume the client plays the reply in real time: send generationComplete when the
   * audio is out, but turnComplete only when the reply's duration has passed since it started, and treat
   * caller speech until then as barge-in. Default true; false sends turnComplete right after the audio.
   */
  realtimePlayback?: boolean;
}

export interface GeminiLiveFakeOptions {
  /** The key the fake accepts; undefined accepts any non-empty key. */
  apiKey?: string;
  /** Delay between the setup frame and setupComplete. */
  setupDelayMs?: number;
  /** Turn every connection away this way. */
  refuse?: Refusal;
  /** Refuse only while fewer than N upgrades were turned away (not for `close-N`, which happens after the upgrade). Default: all. */
  refuseCount?: number;
  /** Close reason for `refuse: 'close-N'` (defaults mimic Google's texts). */
  refuseReason?: string;
  /** Accept the setup frame but never answer it (connect-timeout tests). */
  neverCompleteSetup?: boolean;
  /** Accepted model names (e.g. 'models/gemini-3.1-flash-live-preview'); undefined accepts any. */
  models?: string[];
  /** Answer by itself (load and end-to-end tests). */
  autoReply?: AutoReplyOptions;
  /** Keep received caller audio and sent model audio payloads (default true). Off for long load tests: only counters remain. */
  recordAudio?: boolean;
  /** Send server messages as text frames instead of binary ones (the real service sends binary). */
  textFrames?: boolean;
  /** Negotiate permessage-deflate if the client offers it (the SDK's ws client does). Default false. */
  perMessageDeflate?: boolean;
  /** Session resumption (used when the setup carries `sessionResumption`). */
  resumption?: ResumptionOptions;
  /** Send `goAway` this long after setupComplete on every connection (the service's connection limit, sped up). */
  goAwayAfterMs?: number;
  /** `timeLeft` of those goAways; the connection is closed with 1011 when it has passed. Default 2000. */
  goAwayTimeLeftMs?: number;
  /** autoReply starts no reply while a tool call is unanswered (as the service will not continue the turn). */
  holdTurnsForTools?: boolean;
}

export interface ResumptionOptions {
  /** How long a handle stays valid after it was issued. Default 2 h (the service keeps them for hours). */
  handleTtlMs?: number;
  /** Resumable updates while nothing is being generated. Default 500 ms. */
  updateEveryMs?: number;
  /** Refuse (1013) a handle whose conversation is still open on another connection. Default true (reported). */
  refuseWhileOpen?: boolean;
}

export interface SendAudioOptions {
  /** Audio per message. Default 40 ms. */
  chunkMs?: number;
  /** Wall-clock pause between messages. Default 5 ms; 0 = setImmediate. */
  paceMs?: number;
  /** Real time instead of `paceMs`: message k leaves `k × chunkMs` after the first (late timers do not add up). */
  realtime?: boolean;
  /** Output transcription sent along, one word per audio message. */
  transcript?: string;
}

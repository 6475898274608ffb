/**
 * The three stages of the cascade as small contracts, so a vendor is one adapter file behind them
 * (Deepgram → SpeechToText, Gemini → LanguageModel, Cartesia → TextToSpeech). The CascadeAgent only talks to
 * these; every SDK detail stays in its adapter.
 *
 * Faults cross these boundaries as `StageError`s that say whether trying again can help (the rule for
 * connects and HTTP statuses is in ../connect-retry.ts).
 */

import type { ToolCallRequest, ToolDeclaration, ToolResult } from '../tools/types.ts';

export type StageName = 'stt' | 'llm' | 'tts';

/** A lost connection's close, in a word: Deepgram's NET-0001 is its idle timeout, 1006 a dropped connection. */
export function closeWhy(code: number, reason: string): string {
  if (/net-?0001/i.test(reason)) return 'idle';
  return code === 1006 ? 'drop' : String(code);
}

export class StageError extends Error {
  readonly stage: StageName;
  /** Trying again (a new connection, a new request) may succeed: network errors, 5xx, 429, timeouts, closes. */
  readonly retryable: boolean;
  /** Why a connection was lost, in a word (idle, drop, 1011, stall, error): what `AgentSink.resumed` reports. */
  readonly why: string | undefined;
  constructor(stage: StageName, message: string, retryable: boolean, options?: { cause?: unknown; why?: string }) {
    super(message, options);
    this.name = 'StageError';
    this.stage = stage;
    this.retryable = retryable;
    this.why = options?.why;
  }
}

// ---- speech to text ---------------------------------------------------------------------------

export interface SttWord {
  word: string;
  /** Seconds of this connection's audio. */
  start: number;
  end: number;
  confidence: number;
}

export interface SttResult {
  /** The (formatted) transcript of this result; may be empty. */
  text: string;
  /** The words of this span will not change any more. */
  isFinal: boolean;
  /** The recognizer's endpointing saw the speaker stop after this final. */
  speechFinal: boolean;
  /** This final was forced by `finalize()`. */
  fromFinalize: boolean;
  /** Span of this result in seconds of the connection's audio. */
  start: number;
  duration: number;
  confidence: number;
  words: SttWord[];
}

export interface SttListener {
  result(r: SttResult): void;
  /** Voice activity began (seconds of the connection's audio). */
  speechStarted(atSec: number): void;
  /** No word for the configured gap after the word ending at `lastWordEndSec`. */
  utteranceEnd(lastWordEndSec: number): void;
  /** The connection is gone (closed by the service, dropped, stalled). Not called after close(). */
  lost(err: StageError): void;
}

export interface SpeechToText {
  readonly name: string;
  /** Open the stream. Rejects with a StageError on refusal or timeout (and leaves nothing open). */
  connect(listener: SttListener): Promise<void>;
  /** One frame of 16-bit LE mono PCM at the rate given at construction. Hot path: no allocation, no logging. */
  sendAudio(frame: Buffer): void;
  /** Ask for the pending words as a final result now (a turn ended earlier than the recognizer would notice). */
  finalize(): void;
  /** Close the stream. Idempotent; never throws; resolves once the socket is closed. */
  close(): Promise<void>;
}

// ---- language model ---------------------------------------------------------------------------

/** A tool call as the model made it: the call, and what must be echoed back with it in later requests. */
export interface LlmToolCall {
  readonly call: ToolCallRequest;
  /** The model's own id for the call, if it gave one (`call.id` is made up otherwise). */
  readonly modelId?: string | undefined;
  /** Opaque data the model attached to the call (Gemini's thought signature): sent back with it, unread. */
  readonly signature?: string | undefined;
}

/** A tool's answer as the history keeps it. */
export interface ToolAnswer {
  readonly call: LlmToolCall;
  result: ToolResult;
}

/**
 * One entry of the conversation. `agent` turns may end with tool calls; each such turn is followed by one
 * `tool` entry with an answer to every call (what the model needs to continue, and to know next turn).
 */
export interface ChatMessage {
  role: 'user' | 'agent' | 'tool';
  text: string;
  /** agent: the tools it called after its text. */
  toolCalls?: readonly LlmToolCall[];
  /** tool: the answers, in the order of the calls. */
  toolAnswers?: ToolAnswer[];
}

export interface LlmRequest {
  systemInstructions: string;
  /** The whole conversation so far, oldest first, ending with the user's turn (or tool answers). */
  history: readonly ChatMessage[];
  /** Aborting ends the request (the stream stops without an error). */
  signal: AbortSignal;
  /** Tools the model may call (none: no tools declared). */
  tools?: readonly ToolDeclaration[];
  /** 'none': declared, but the model must answer in text now (a turn that has used its tool rounds). */
  toolChoice?: 'auto' | 'none';
}

export interface LanguageModel {
  readonly name: string;
  /**
   * Stream the reply as it is generated: text pieces, and tool calls the model makes (after its text).
   * Throws StageError on failure (first-token or stall timeout included); returns quietly when `signal` is
   * aborted.
   */
  stream(req: LlmRequest): AsyncIterable<string | LlmToolCall>;
  /** Release anything held between requests. */
  close?(): Promise<void>;
}

// ---- text to speech ---------------------------------------------------------------------------

export interface TtsWordTimes {
  words: string[];
  /** Seconds from the start of the stream's audio. */
  start: number[];
  end: number[];
}

export interface TtsListener {
  /** Reply audio, 16-bit LE mono PCM at the stage's `sampleRate`, even length. */
  audio(pcm: Buffer): void;
  /** Word timings of the stream's audio (when the vendor provides them). */
  words?(w: TtsWordTimes): void;
  /** Everything pushed has been spoken. */
  done(): void;
  /** The stream failed; no more events follow for it. */
  error(err: StageError): void;
}

/** One utterance being synthesized (a Cartesia context): text goes in piece by piece, audio comes out. */
export interface TtsStream {
  readonly id: string;
  /** More text of the same utterance (spoken with continuity). */
  push(text: string): void;
  /** No more text: `done` follows once it is all spoken. */
  end(): void;
  /** Stop generating; no more events follow. Idempotent. */
  cancel(): void;
}

export interface TtsConnectionListener {
  /** The connection is gone; streams open on it get `error` too. Not called after close(). */
  lost(err: StageError): void;
}

export interface TextToSpeech {
  readonly name: string;
  readonly sampleRate: number;
  /** Open the connection. Rejects with a StageError on refusal or timeout (and leaves nothing open). */
  connect(listener: TtsConnectionListener): Promise<void>;
  readonly connected: boolean;
  /** Start an utterance on the open connection. Throws StageError if not connected. */
  open(listener: TtsListener): TtsStream;
  close(): Promise<void>;
}

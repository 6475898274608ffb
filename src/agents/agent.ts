/**
 * The contract every way of answering a call implements (Gemini Live, the cascade, the echo agent).
 *
 * A CallSession owns one Agent per call. Caller audio goes in through `pushAudio` (16-bit little-endian
 * mono PCM at `inputSampleRate`, one mod_audio_stream message at a time: STREAM_FRAME_MS, 60 ms by default);
 * everything the agent produces comes back through the `AgentSink` the session passes to `start`. Agents never
 * touch FreeSWITCH, files or the media socket: the session turns their output into playback.
 */

import type { ToolCallRequest, ToolDeclaration, ToolResult } from './tools/types.ts';
import type { VendorOverrides } from './vendors.ts';

export type Speaker = 'caller' | 'agent';

export interface AgentSink {
  /** Reply audio: 16-bit LE mono PCM at `sampleRate`. The buffer may be reused by the caller after return. */
  audio(pcm: Buffer, sampleRate: number): void;
  /** The agent has produced all audio of the current reply. */
  replyDone(): void;
  /** The caller spoke over the agent: drop everything of the current reply that has not been heard yet. */
  interrupted(): void;
  /**
   * Transcript of one utterance. `text` is the whole utterance so far: each call replaces the previous
   * partial of the same speaker; `final: true` closes the utterance (the next call starts a new one).
   */
  transcript(speaker: Speaker, text: string, final: boolean): void;
  /** The agent wants the call to end (e.g. a "goodbye" tool call) once its last reply has been played. */
  hangup(reason: string): void;
  /**
   * The agent can no longer answer (vendor closed, errored, timed out, a session that could not be resumed).
   * The session plays the apology prompt (APOLOGY_FILE) when one is configured, then ends the call.
   */
  failed(cause: string): void;
  /**
   * The agent replaced its vendor connection without the caller noticing (a resumed Gemini Live session, a
   * reopened STT or TTS socket). `reason` says why (goAway, 1011, drop, idle); `durationMs` is from losing the
   * old connection (or deciding to switch) to the new one being ready. The call record counts them.
   */
  resumed(info: { reason: string; durationMs: number }): void;
  /**
   * The model called a tool. The session runs it (webhook or built-in: end_call, transfer_call, send_dtmf)
   * and always resolves, with an error result when it failed or timed out; `signal` aborts it when the
   * model cancels the call (the result is then dropped). Optional until every agent speaks tools.
   */
  runTool?(call: ToolCallRequest, signal: AbortSignal): Promise<ToolResult>;
  /**
   * What the caller has heard of the current reply so far: `playing` while reply audio is queued or playing,
   * `heardMs` of it played out (an interrupted reply is kept in history only as far as it was heard).
   */
  playback(): { playing: boolean; heardMs: number };
  /**
   * Pipeline timestamps of the reply about to start (performance.now() values, e.g. callerStoppedAt,
   * sttFinalAt, llmFirstTokenAt, ttsFirstAudioAt). The session adds the first playback command and
   * PLAYBACK_START and logs the whole turn.
   */
  replyTimings(marks: Record<string, number>): void;
}

export interface Agent {
  /** Short name for logs and the calls API: 'gemini-live', 'cascade', 'echo'. */
  readonly kind: string;
  /** The sample rate this agent wants caller audio at; the session asks FreeSWITCH to stream at it. */
  readonly inputSampleRate: 8000 | 16000;
  /** Connect to the vendor(s). Rejects (with a clear message) on failure or timeout. */
  start(sink: AgentSink): Promise<void>;
  /** One frame of caller audio. Hot path: 25–50 calls a second per call; must not block or log. */
  pushAudio(frame: Buffer): void;
  /** Ask the agent to speak first (outbound calls, greetings). Optional text hints what to say. */
  speakFirst?(hint?: string): void;
  /** The session reports that everything queued for the caller has been played (the cascade uses it). */
  playbackIdle?(): void;
  /**
   * Speak `text` now, as it is (where the pipeline can: the cascade synthesises it; a speech-to-speech model
   * is asked to say it word for word): `POST /calls/{id}/say`, silence prompts, goodbyes.
   */
  say?(text: string): void;
  /**
   * Tell the model something happened on the call that it should react to: digits the caller pressed,
   * a transfer that failed. `interrupt` stops the current reply first (like barge-in).
   */
  notify?(text: string, opts?: { interrupt?: boolean }): void;
  /** Release every resource. Idempotent; never throws. */
  close(): Promise<void>;
}

/**
 * Per-call settings an agent is built from (env defaults, overridden per call: see calls/call-settings.ts).
 * Vendor-specific overrides (geminiModel, deepgramModel, ...) come from each vendor's settings (vendors.ts).
 */
export interface AgentSettings extends VendorOverrides {
  systemInstructions: string;
  voice: string;
  language: string;
  greeting?: string;
  /** Tools the model may call on this call (built-ins and webhooks; validated in calls/call-settings.ts). */
  tools?: readonly ToolDeclaration[];
  /**
   * The conversation so far when this agent carries on a call another callbridge instance started (cluster
   * failover), oldest first. Gemini Live gets it in its system instruction, the cascade in its LLM history.
   */
  priorConversation?: readonly PriorUtterance[];
}

export interface PriorUtterance {
  speaker: Speaker;
  text: string;
}

/** The system instruction, followed by the conversation so far when the agent carries on a call. */
export function instructionsWithPrior(
  settings: Pick<AgentSettings, 'systemInstructions' | 'priorConversation'>,
): string {
  const prior = settings.priorConversation;
  if (!prior?.length) return settings.systemInstructions;
  const lines = prior.map((u) => `${u.speaker === 'caller' ? 'Caller' : 'You'}: ${u.text}`);
  return (
    `${settings.systemInstructions}\n\nThis call is already in progress: you are taking it over after a ` +
    'technical interruption. Carry on from where it stopped, without greeting again. The conversation so far:\n' +
    lines.join('\n')
  );
}

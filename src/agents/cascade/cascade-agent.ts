/**
 * The cascade as an Agent: caller PCM (8 kHz) → SpeechToText → turn taking → LanguageModel (streamed text) →
 * TextToSpeech (streamed audio) → the sink, with a Silero barge-in detector on the caller's audio while the
 * agent speaks.
 *
 * One reply at a time. A reply starts when the caller's turn ends (turn-taking.ts); its text goes to TTS a
 * sentence (or first clause) at a time as the model streams it, so audio starts before the model is done.
 * The caller speaking ≥ BARGE_IN_MIN_MS over the reply cancels the model request and the TTS context and calls
 * `sink.interrupted()`; the reply stays in the history only as far as it was heard.
 *
 * Faults: a stage that cannot connect at start is tried twice, then start() rejects. Mid-call, a lost STT
 * stream is reconnected (at most `reconnectLimit.max` times per window of call time, so an hour-long call does
 * not run out) and sent the audio it missed; the caller's words so far stay in the turn. A failed model request
 * is retried once if nothing of it was spoken yet; a failed TTS context is retried once if nothing was heard
 * yet, and continued from the first word not yet synthesized on a new context if it was. When that does not
 * help: a short fixed apology (one TTS attempt; skipped when TTS is what failed), then `sink.hangup()` — or
 * `sink.failed()` straight away. Never a silent call. Every replaced connection is reported (`sink.resumed`).
 *
 * The model's history is kept within `historyTokens` (history.ts), oldest exchanges dropped first.
 *
 * Tools (`settings.tools`) are declared to the model; its calls go to the session (`sink.runTool`) and the
 * reply continues with their answers (reply-model.ts, tool-rounds.ts). `say(text)` speaks a text as it is,
 * as an agent turn; `notify(text)` is a caller-side event: the model answers it as a caller turn. Both wait
 * for the reply in progress (notify with `interrupt` cuts it off first, as barge-in does).
 *
 * Hot path (`pushAudio`, once per STREAM_FRAME_MS): a counter, the clock ring, the replay ring (one copy), the
 * STT socket send, the barge-in detector when armed.
 *
 * This file is the lifecycle and the faults; the call's changing facts its parts share are cascade-call.ts, the
 * caller's turns caller-turns.ts, the opening and say/notify speech-queue.ts, the connections to the stages
 * stage-links.ts, the reply in progress (model → TTS → sink, interruption, heard text) reply-runner.ts, reply.ts,
 * reply-model.ts, tool-rounds.ts and tts-recovery.ts.
 */
import type { Agent, AgentSettings, AgentSink } from '../agent.ts';
import type { Logger } from '../../log.ts';
import { BargeInDetector } from '../../media/barge-in.ts';
import type { SileroModel } from '../../media/silero-model.ts';
import { errorText } from '../../errors.ts';
import { AudioClock } from './audio-clock.ts';
import { CascadeCall, type CascadePhase } from './cascade-call.ts';
import { CallerTurns } from './caller-turns.ts';
import { type CascadeStats, newCascadeStats, statsSummary } from './cascade-stats.ts';
import { ReplyRunner } from './reply-runner.ts';
import { SpeechQueue } from './speech-queue.ts';
import { type ReconnectLimit, StageLinks } from './stage-links.ts';
import type { ChatMessage, LanguageModel, SpeechToText, StageName, TextToSpeech } from './stages.ts';
import type { TurnPolicy } from './turn-taking.ts';

export interface CascadeAgentOptions {
  settings: AgentSettings;
  /** Child logger carrying the call uuid. */
  logger: Logger;
  /** A new, unconnected STT stream (called at start and for each reconnect). */
  createStt(): SpeechToText;
  llm: LanguageModel;
  /** A new, unconnected TTS connection (called at start and for each reconnect). */
  createTts(): TextToSpeech;
  /** The process-wide Silero model (loaded once, shared by calls). */
  loadVad(): Promise<SileroModel>;
  /** Caller audio rate (what FreeSWITCH streams at). Default 8000. */
  sampleRate?: 8000 | 16000;
  turn: TurnPolicy;
  bargeIn: { threshold: number; minSpeechMs: number; silenceDbfs?: number };
  /** Wait for a from_finalize final this long before using the interim words. Default 1000 ms. */
  finalizeTimeoutMs?: number;
  /** Said (one TTS attempt) before hanging up after a vendor fault. */
  apology: string;
  /** Reconnects allowed per stage within a window of call time. Default 5 per 10 minutes. */
  reconnectLimit?: ReconnectLimit;
  /** Budget of the model request (system instructions + history), estimated tokens. Default 8000. */
  historyTokens?: number;
  /** Said once per tool round whose tools take longer than `afterMs`. Default "One moment, please." after 1200 ms. */
  toolFiller?: { afterMs: number; text: string };
}

export type { CascadeStats } from './cascade-stats.ts';

/** Longest wait for the apology to be spoken before the call is failed instead. */
const APOLOGY_TIMEOUT_MS = 10000;
const DEFAULT_FILLER = { afterMs: 1200, text: 'One moment, please.' };
const STAGE_NAMES: Record<StageName, string> = {
  stt: 'speech-to-text',
  llm: 'language model',
  tts: 'text-to-speech',
};

export class CascadeAgent implements Agent {
  readonly kind = 'cascade';
  readonly inputSampleRate: 8000 | 16000;
  readonly stats: CascadeStats = newCascadeStats();
  /** The conversation so far (what the model sees). */
  readonly history: ChatMessage[] = [];

  readonly #opts: CascadeAgentOptions;
  readonly #log: Logger;
  /** What changes while the call runs, shared with the parts below (no getters over private fields). */
  readonly #call = new CascadeCall();
  readonly #turns: CallerTurns;
  readonly #clock = new AudioClock();
  readonly #links: StageLinks;
  readonly #replies: ReplyRunner;
  readonly #speech: SpeechQueue;
  #faultTimer: NodeJS.Timeout | undefined;
  #closePromise: Promise<void> | undefined;

  constructor(opts: CascadeAgentOptions) {
    this.#opts = opts;
    const log = opts.logger;
    this.#log = log;
    this.inputSampleRate = opts.sampleRate ?? 8000;
    const { stats, history, inputSampleRate: sampleRate } = this;
    // Carrying on a call another instance started: the model's history is the conversation so far.
    for (const u of opts.settings.priorConversation ?? []) {
      history.push({ role: u.speaker === 'caller' ? 'user' : 'agent', text: u.text });
    }
    const call = this.#call;
    const guard = (fn: () => void) => this.#guard(fn);
    const fault = (stage: StageName, cause: string) => this.#fault(stage, cause);
    const links = new StageLinks(
      {
        call,
        log,
        stats,
        sampleRate,
        sttResult: (r) => this.#turns.sttResult(r),
        utteranceEnd: () => this.#turns.utteranceEnd(),
        sttLost: (err) => this.#turns.sttLost(err),
        resumed: (reason, durationMs) => {
          if (call.isOpen) call.sink.resumed?.({ reason, durationMs: Math.round(durationMs) });
        },
        guard,
      },
      opts.createStt,
      opts.createTts,
      opts.reconnectLimit,
    );
    const filler = opts.toolFiller ?? DEFAULT_FILLER;
    const replies = new ReplyRunner({
      call,
      log,
      stats,
      history,
      links,
      llm: opts.llm,
      systemInstructions: opts.settings.systemInstructions,
      historyTokens: opts.historyTokens ?? 8000,
      tools: opts.settings.tools ?? [],
      toolFillerMs: filler.afterMs,
      toolFiller: filler.text,
      fault,
      apologized: (reason) => {
        clearTimeout(this.#faultTimer);
        this.#faultTimer = undefined;
        call.sink.hangup(reason);
      },
      idle: () => this.#speech.drain(),
      guard,
    });
    const speech = new SpeechQueue({ call, log, replies, history, greeting: opts.settings.greeting });
    const clock = this.#clock;
    const finalizeTimeoutMs = opts.finalizeTimeoutMs ?? 1000;
    const answer = (text: string, marks: Record<string, number>) => speech.answer(text, marks);
    const turnsHost = { call, log, stats, links, replies, clock, sampleRate, finalizeTimeoutMs, answer, fault, guard };
    this.#turns = new CallerTurns(turnsHost, opts.turn);
    this.#links = links;
    this.#replies = replies;
    this.#speech = speech;
  }

  async start(sink: AgentSink): Promise<void> {
    const call = this.#call;
    if (call.phase !== 'idle') throw new Error(`cascade: start() called in state ${call.phase}`);
    call.sink = sink;
    call.phase = 'starting';
    const t0 = performance.now();
    const links = this.#links;
    const [vad, stt, tts] = await Promise.allSettled([
      this.#opts.loadVad(),
      links.connectStt(true),
      links.connectTts(true),
    ]);
    const failure = [vad, stt, tts].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if ((call.phase as CascadePhase) !== 'starting' || failure !== undefined) {
      const why = failure !== undefined ? errorText(failure.reason) : 'closed while starting';
      await this.close();
      throw new Error(`cascade: ${why}`);
    }
    const model = (vad as PromiseFulfilledResult<SileroModel>).value;
    const { threshold, minSpeechMs, silenceDbfs } = this.#opts.bargeIn;
    const vadOpts = { sampleRate: this.inputSampleRate, threshold, minSpeechMs, silenceDbfs };
    call.bargeIn = new BargeInDetector(model, vadOpts, () => this.#onBargeIn());
    call.phase = 'open';
    const names = { stt: links.stt?.name, llm: this.#opts.llm.name, tts: links.tts?.name };
    this.#log.info({ ...names, startMs: Math.round(performance.now() - t0) }, 'cascade connected');
    this.#speech.opened();
  }

  /** Hot path. */
  pushAudio(frame: Buffer): void {
    const call = this.#call;
    if (call.phase !== 'open') return;
    call.samplesIn += frame.length >> 1;
    this.#clock.mark(call.samplesIn, performance.now());
    this.#links.sendAudio(frame);
    call.bargeIn?.push(frame);
  }

  speakFirst(hint?: string): void {
    this.#speech.speakFirst(hint);
  }

  playbackIdle(): void {
    this.#replies.playbackIdle();
  }

  close(): Promise<void> {
    if (this.#closePromise === undefined) this.#closePromise = this.#doClose();
    return this.#closePromise;
  }

  /** Speak `text` as it is, as an agent turn: now, or once the reply in progress is over. */
  say(text: string): void {
    this.#speech.say(text);
  }

  /**
   * A caller-side event the model should answer (digits pressed, a failed transfer): a turn with `text` as the
   * caller's message, once the reply in progress is over; `interrupt` cuts that reply off first (as barge-in).
   */
  notify(text: string, opts?: { interrupt?: boolean }): void {
    this.#speech.notify(text, opts);
  }

  #onBargeIn(): void {
    if (this.#call.phase === 'open') this.#replies.bargeIn();
  }

  /** A vendor cannot go on: apologize (unless TTS is what failed) and end the call; never leave it silent. */
  #fault(stage: StageName, cause: string): void {
    const call = this.#call;
    if (call.faulted || call.phase !== 'open') return;
    call.faulted = true;
    const reason = `${STAGE_NAMES[stage]} failed: ${cause}`;
    this.stats.faults.push(reason);
    this.#log.warn({ stage, cause }, 'cascade: vendor fault; ending the call');
    this.#turns.stop();
    this.#speech.clear();
    this.#replies.endCurrent('fault');
    call.bargeIn?.disarm();
    const sink = call.sink;
    if (stage === 'tts' || !this.#links.tts?.connected) {
      sink.failed(reason);
      return;
    }
    // One TTS attempt at the apology, bounded in time; then hang up once it has played.
    this.#faultTimer = setTimeout(() => {
      this.#faultTimer = undefined;
      if (call.phase !== 'open') return;
      const ar = this.#replies.current;
      if (ar?.faultReason !== undefined && ar.ttsDone) return;
      sink.failed(`${reason}; apology timed out`);
    }, APOLOGY_TIMEOUT_MS);
    void this.#replies.run({}, this.#opts.apology, reason);
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#log.error({ err: errorText(e) }, 'cascade: handler threw');
    }
  }

  async #doClose(): Promise<void> {
    const call = this.#call;
    const prev = call.phase;
    call.phase = 'closed';
    this.#speech.clear();
    clearTimeout(this.#faultTimer);
    this.#faultTimer = undefined;
    this.#turns.stop();
    this.#replies.close();
    call.bargeIn?.close();
    await Promise.allSettled([this.#links.close(), this.#opts.llm.close?.()]);
    if (prev === 'open') {
      this.#log.info(statsSummary(this.stats, this.history.length, call.bargeIn?.stats), 'cascade closed');
    }
  }
}

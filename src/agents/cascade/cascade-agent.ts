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
 * Hot path (`pushAudio`, once per STREAM_FRAME_MS): a counter, the clock ring, the replay ring (one copy), the
 * STT socket send, the barge-in detector when armed.
 *
 * This file is the lifecycle, the caller's turns and the faults; the connections to the stages are in
 * stage-links.ts, the reply in progress (model → TTS → sink, interruption, heard text) in reply-runner.ts and
 * reply.ts.
 */
import type { Agent, AgentSettings, AgentSink } from '../agent.ts';
import type { Logger } from '../../log.ts';
import { BargeInDetector, type SileroModel } from '../../media/vad.ts';
import { errorText } from '../../errors.ts';
import { AudioClock } from './audio-clock.ts';
import { type CascadeStats, ReplyRunner } from './reply-runner.ts';
import { type ReconnectLimit, StageLinks } from './stage-links.ts';
import type { ChatMessage, LanguageModel, SpeechToText, StageError, StageName, TextToSpeech } from './stages.ts';
import { TurnAssembler, type TurnDecision, type TurnPolicy } from './turn-taking.ts';

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
  bargeIn: { threshold: number; minSpeechMs: number };
  /** Wait for a from_finalize final this long before using the interim words. Default 1000 ms. */
  finalizeTimeoutMs?: number;
  /** Said (one TTS attempt) before hanging up after a vendor fault. */
  apology: string;
  /** Reconnects allowed per stage within a window of call time. Default 5 per 10 minutes. */
  reconnectLimit?: ReconnectLimit;
  /** Budget of the model request (system instructions + history), estimated tokens. Default 8000. */
  historyTokens?: number;
}

export type { CascadeStats } from './reply-runner.ts';

type State = 'idle' | 'starting' | 'open' | 'closed';

const DEFAULT_SPEAK_FIRST = '[The call has just been answered. Greet the caller briefly.]';
/** Longest wait for the apology to be spoken before the call is failed instead. */
const APOLOGY_TIMEOUT_MS = 10000;
const STAGE_NAMES: Record<StageName, string> = {
  stt: 'speech-to-text',
  llm: 'language model',
  tts: 'text-to-speech',
};

export class CascadeAgent implements Agent {
  readonly kind = 'cascade';
  readonly inputSampleRate: 8000 | 16000;
  readonly stats: CascadeStats = {
    turns: 0,
    ignoredTurns: 0,
    replies: 0,
    bargeIns: 0,
    abandonedReplies: 0,
    llmRetries: 0,
    ttsRetries: 0,
    sttReconnects: 0,
    ttsReconnects: 0,
    ttsResumes: 0,
    faults: [],
  };
  /** The conversation so far (what the model sees). */
  readonly history: ChatMessage[] = [];

  readonly #opts: CascadeAgentOptions;
  readonly #log: Logger;
  readonly #turn: TurnAssembler;
  readonly #clock = new AudioClock();
  readonly #links: StageLinks;
  readonly #replies: ReplyRunner;
  #state: State = 'idle';
  #sink: AgentSink | undefined;
  #bargeIn: BargeInDetector | undefined;
  #samplesIn = 0;
  #finalizeTimer: NodeJS.Timeout | undefined;
  /** Words carried over a lost STT stream: the turn ends with them if the new stream hears no more. */
  #carryTimer: NodeJS.Timeout | undefined;
  #faultTimer: NodeJS.Timeout | undefined;
  #pendingSpeakFirst: { hint: string | undefined } | undefined;
  #faulted = false;
  #closePromise: Promise<void> | undefined;

  constructor(opts: CascadeAgentOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.inputSampleRate = opts.sampleRate ?? 8000;
    this.#turn = new TurnAssembler(opts.turn);
    const agent = this;
    const guard = (fn: () => void) => this.#guard(fn);
    this.#links = new StageLinks(
      {
        log: opts.logger,
        stats: this.stats,
        get isOpen() {
          return agent.#state === 'open';
        },
        get isClosed() {
          return agent.#state === 'closed';
        },
        get samplesIn() {
          return agent.#samplesIn;
        },
        sampleRate: this.inputSampleRate,
        sttResult: (r) => {
          if (r.text.trim() !== '') this.#clearCarry();
          this.#apply(this.#turn.onResult(r));
        },
        utteranceEnd: () => this.#apply(this.#turn.onUtteranceEnd()),
        sttLost: (err) => this.#onSttLost(err),
        resumed: (reason, durationMs) => {
          if (this.#state === 'open') this.#sink!.resumed?.({ reason, durationMs: Math.round(durationMs) });
        },
        guard,
      },
      opts.createStt,
      opts.createTts,
      opts.reconnectLimit,
    );
    this.#replies = new ReplyRunner({
      get sink() {
        return agent.#sink!;
      },
      log: opts.logger,
      stats: this.stats,
      history: this.history,
      links: this.#links,
      llm: opts.llm,
      systemInstructions: opts.settings.systemInstructions,
      historyTokens: opts.historyTokens ?? 8000,
      get bargeIn() {
        return agent.#bargeIn;
      },
      fault: (stage, cause) => this.#fault(stage, cause),
      apologized: (reason) => {
        clearTimeout(this.#faultTimer);
        this.#faultTimer = undefined;
        this.#sink!.hangup(reason);
      },
      guard,
    });
  }

  async start(sink: AgentSink): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`cascade: start() called in state ${this.#state}`);
    this.#sink = sink;
    this.#state = 'starting';
    const t0 = performance.now();
    const links = this.#links;
    const [vad, stt, tts] = await Promise.allSettled([
      this.#opts.loadVad(),
      links.connectStt(true),
      links.connectTts(true),
    ]);
    const failure = [vad, stt, tts].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if ((this.#state as State) !== 'starting' || failure !== undefined) {
      const why = failure !== undefined ? errorText(failure.reason) : 'closed while starting';
      await this.close();
      throw new Error(`cascade: ${why}`);
    }
    const model = (vad as PromiseFulfilledResult<SileroModel>).value;
    const { threshold, minSpeechMs } = this.#opts.bargeIn;
    const vadOpts = { sampleRate: this.inputSampleRate, threshold, minSpeechMs };
    this.#bargeIn = new BargeInDetector(model, vadOpts, () => this.#onBargeIn());
    this.#state = 'open';
    const names = { stt: links.stt?.name, llm: this.#opts.llm.name, tts: links.tts?.name };
    this.#log.info({ ...names, startMs: Math.round(performance.now() - t0) }, 'cascade connected');
    if (this.#pendingSpeakFirst !== undefined) {
      const { hint } = this.#pendingSpeakFirst;
      this.#pendingSpeakFirst = undefined;
      this.#doSpeakFirst(hint);
    }
  }

  /** Hot path. */
  pushAudio(frame: Buffer): void {
    if (this.#state !== 'open') return;
    this.#samplesIn += frame.length >> 1;
    this.#clock.mark(this.#samplesIn, performance.now());
    this.#links.sendAudio(frame);
    this.#bargeIn?.push(frame);
  }

  speakFirst(hint?: string): void {
    if (this.#state === 'idle' || this.#state === 'starting') {
      this.#pendingSpeakFirst = { hint };
      return;
    }
    if (this.#state === 'open') this.#doSpeakFirst(hint);
  }

  playbackIdle(): void {
    this.#replies.playbackIdle();
  }

  close(): Promise<void> {
    if (this.#closePromise === undefined) this.#closePromise = this.#doClose();
    return this.#closePromise;
  }

  // ---- turns ------------------------------------------------------------------------------------

  #onSttLost(err: StageError): void {
    this.#links.dropStt();
    if (this.#state !== 'open' || this.#faulted) return;
    // A turn that was ending is answered with what was heard; one in progress keeps its words, and the new
    // stream's words (from the audio it is sent first) continue it.
    if (this.#turn.finalizing) this.#apply(this.#turn.forceEnd());
    else this.#turn.carryOver();
    if (!this.#links.takeSttReconnect()) {
      const n = this.#links.sttReconnectsInWindow;
      this.#fault('stt', `${err.message} (after ${n} reconnects in a short time)`);
      return;
    }
    this.#log.warn({ err: err.message }, 'cascade: STT stream lost; reconnecting');
    this.#links.connectStt(false).then(
      () => this.#guard(() => this.#armCarry()),
      (e) => {
        if (this.#state === 'open') this.#fault('stt', errorText(e));
      },
    );
  }

  /** After a reconnect: carried words end the turn unless the new stream hears more within the finalize wait. */
  #armCarry(): void {
    if (this.#state !== 'open' || !this.#turn.hasWords) return;
    this.#clearCarry();
    this.#carryTimer = setTimeout(() => {
      this.#carryTimer = undefined;
      if (this.#state === 'open' && !this.#faulted) this.#guard(() => this.#apply(this.#turn.forceEnd()));
    }, this.#opts.finalizeTimeoutMs ?? 1000);
  }

  #clearCarry(): void {
    clearTimeout(this.#carryTimer);
    this.#carryTimer = undefined;
  }

  #apply(d: TurnDecision): void {
    const sink = this.#sink!;
    switch (d.kind) {
      case 'none':
        return;
      case 'partial': {
        sink.transcript('caller', d.text, false);
        // The caller goes on talking before our answer was heard: that answer was to half a thought.
        const r = this.#replies.current;
        if (r !== undefined && !r.audible && r.fromModel && this.#turn.hasRealWords(d.text)) this.#replies.abandon(r);
        return;
      }
      case 'finalize':
        this.#links.stt?.finalize();
        clearTimeout(this.#finalizeTimer);
        this.#finalizeTimer = setTimeout(() => {
          this.#finalizeTimer = undefined;
          if (this.#state === 'open') this.#guard(() => this.#apply(this.#turn.forceEnd()));
        }, this.#opts.finalizeTimeoutMs ?? 1000);
        return;
      case 'ignored':
        clearTimeout(this.#finalizeTimer);
        this.#finalizeTimer = undefined;
        this.#clearCarry();
        this.stats.ignoredTurns++;
        if (d.text) sink.transcript('caller', d.text, true);
        this.#log.debug({ text: d.text, reason: d.reason }, 'cascade: turn ignored');
        return;
      case 'end':
        clearTimeout(this.#finalizeTimer);
        this.#finalizeTimer = undefined;
        this.#clearCarry();
        sink.transcript('caller', d.text, true);
        this.#onUserTurn(d.text, d.lastWordEnd);
        return;
    }
  }

  #onUserTurn(text: string, lastWordEnd: number): void {
    if (this.#faulted) return;
    this.stats.turns++;
    const sttFinalAt = performance.now();
    const marks: Record<string, number> = { sttFinalAt };
    if (lastWordEnd >= 0) {
      const rate = this.inputSampleRate;
      const stoppedAt = this.#clock.timeOf(this.#links.sttBase + lastWordEnd * rate, rate);
      if (stoppedAt !== undefined && stoppedAt <= sttFinalAt) marks.callerStoppedAt = stoppedAt;
    }
    // A new turn while the previous reply is still on: it is over either way.
    this.#replies.endCurrent('caller turn');
    const last = this.history[this.history.length - 1];
    if (last !== undefined && last.role === 'user') last.text = `${last.text} ${text}`;
    else this.history.push({ role: 'user', text });
    void this.#replies.run(marks, undefined);
  }

  #doSpeakFirst(hint: string | undefined): void {
    if (this.#faulted || this.#replies.current !== undefined) return;
    const greeting = this.#opts.settings.greeting;
    if (hint === undefined && greeting) {
      void this.#replies.run({}, greeting);
      return;
    }
    this.history.push({ role: 'user', text: hint ?? DEFAULT_SPEAK_FIRST });
    void this.#replies.run({}, undefined);
  }

  #onBargeIn(): void {
    if (this.#state === 'open') this.#replies.bargeIn();
  }

  // ---- faults -----------------------------------------------------------------------------------

  /** A vendor cannot go on: apologize (unless TTS is what failed) and end the call; never leave it silent. */
  #fault(stage: StageName, cause: string): void {
    if (this.#faulted || this.#state !== 'open') return;
    this.#faulted = true;
    const reason = `${STAGE_NAMES[stage]} failed: ${cause}`;
    this.stats.faults.push(reason);
    this.#log.warn({ stage, cause }, 'cascade: vendor fault; ending the call');
    clearTimeout(this.#finalizeTimer);
    this.#finalizeTimer = undefined;
    this.#clearCarry();
    this.#replies.endCurrent('fault');
    this.#bargeIn?.disarm();
    const sink = this.#sink!;
    if (stage === 'tts' || !this.#links.tts?.connected) {
      sink.failed(reason);
      return;
    }
    // One TTS attempt at the apology, bounded in time; then hang up once it has played.
    this.#faultTimer = setTimeout(() => {
      this.#faultTimer = undefined;
      if (this.#state !== 'open') return;
      const ar = this.#replies.current;
      if (ar?.faultReason !== undefined && ar.ttsDone) return;
      sink.failed(`${reason}; apology timed out`);
    }, APOLOGY_TIMEOUT_MS);
    void this.#replies.run({}, this.#opts.apology, reason);
  }

  // ---- misc -------------------------------------------------------------------------------------

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#log.error({ err: errorText(e) }, 'cascade: handler threw');
    }
  }

  async #doClose(): Promise<void> {
    const prev = this.#state;
    this.#state = 'closed';
    this.#pendingSpeakFirst = undefined;
    clearTimeout(this.#finalizeTimer);
    this.#finalizeTimer = undefined;
    clearTimeout(this.#faultTimer);
    this.#faultTimer = undefined;
    this.#clearCarry();
    this.#replies.close();
    this.#bargeIn?.close();
    await Promise.allSettled([this.#links.close(), this.#opts.llm.close?.()]);
    if (prev === 'open') {
      const s = this.stats;
      const vad = this.#bargeIn?.stats;
      this.#log.info(
        {
          turns: s.turns,
          ignored: s.ignoredTurns,
          replies: s.replies,
          bargeIns: s.bargeIns,
          abandoned: s.abandonedReplies,
          retries: s.llmRetries + s.ttsRetries,
          reconnects: s.sttReconnects + s.ttsReconnects,
          ttsResumes: s.ttsResumes,
          historyMessages: this.history.length,
          vadWindows: vad?.windows,
          vadDropped: vad?.dropped,
        },
        'cascade closed',
      );
    }
  }
}

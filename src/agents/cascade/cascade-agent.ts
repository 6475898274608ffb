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
 * stream is reconnected (a few times per call), a failed model request is retried once if nothing of it was
 * spoken yet, a failed TTS context is retried once on a (re)opened connection if nothing was heard yet. When
 * that does not help: a short fixed apology (one TTS attempt; skipped when TTS is what failed), then
 * `sink.hangup()` — or `sink.failed()` straight away. Never a silent call.
 *
 * Hot path (`pushAudio`, once per STREAM_FRAME_MS): a counter, one ring write, the STT socket send, the barge-in detector when armed.
 */
import type { Agent, AgentSettings, AgentSink } from '../agent.ts';
import type { Logger } from '../../log.ts';
import { BargeInDetector, type SileroModel } from '../../media/vad.ts';
import {
  StageError,
  type ChatMessage,
  type LanguageModel,
  type SpeechToText,
  type SttListener,
  type StageName,
  type TextToSpeech,
  type TtsStream,
} from './stages.ts';
import { SentenceChunker, TurnAssembler, type TurnDecision, type TurnPolicy } from './turn-taking.ts';
import { errorText } from '../../errors.ts';

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
  /** STT reconnects allowed per call (each after a lost stream). Default 3. */
  maxSttReconnects?: number;
}

export interface CascadeStats {
  turns: number;
  ignoredTurns: number;
  replies: number;
  bargeIns: number;
  /** Replies dropped before they were heard because the caller went on talking. */
  abandonedReplies: number;
  llmRetries: number;
  ttsRetries: number;
  sttReconnects: number;
  ttsReconnects: number;
  faults: string[];
}

type State = 'idle' | 'starting' | 'open' | 'closed';

interface Reply {
  id: number;
  abort: AbortController;
  tts: TtsStream | undefined;
  chunker: SentenceChunker;
  /** Text handed to TTS so far. */
  textSent: string;
  /** This reply's agent turn in the history (created with the first text). */
  msg: ChatMessage | undefined;
  marks: Record<string, number>;
  /** Audio of it was handed to the sink. */
  audible: boolean;
  audioBytes: number;
  words: { end: number[] };
  llmDone: boolean;
  ttsDone: boolean;
  ttsRetried: boolean;
  cancelled: boolean;
  fixedText: string | undefined;
  /** Set on the apology reply only: the fault it apologizes for. */
  faultReason: string | undefined;
}

const DEFAULT_SPEAK_FIRST = '[The call has just been answered. Greet the caller briefly.]';
/** Typical speaking rate, for cutting an interrupted reply when no word timings came back. */
const CHARS_PER_SECOND = 15;
const CLOCK_SLOTS = 512; // 512 frames: ≈ 20 s at the default 40 ms, 10 s at 20 ms

function asStageError(e: unknown, stage: StageName): StageError {
  return e instanceof StageError ? e : new StageError(stage, errorText(e), true, { cause: e });
}

/** Wall-clock arrival time of caller audio, per frame, for the last 512 frames (maps STT times to performance.now()). */
class AudioClock {
  private readonly ends = new Float64Array(CLOCK_SLOTS);
  private readonly at = new Float64Array(CLOCK_SLOTS);
  private n = 0;

  mark(samplesEnd: number, now: number): void {
    const i = this.n++ & (CLOCK_SLOTS - 1);
    this.ends[i] = samplesEnd;
    this.at[i] = now;
  }

  /** When sample `s` (counted from the start of the call) arrived, or undefined if too old / not yet. */
  timeOf(s: number, rate: number): number | undefined {
    const count = Math.min(this.n, CLOCK_SLOTS);
    for (let k = 1; k <= count; k++) {
      const i = (this.n - k) & (CLOCK_SLOTS - 1);
      const prev = k < count ? this.ends[(this.n - k - 1) & (CLOCK_SLOTS - 1)]! : -Infinity;
      if (s <= this.ends[i]! && s > prev) return this.at[i]! - ((this.ends[i]! - s) / rate) * 1000;
    }
    return undefined;
  }
}

export class CascadeAgent implements Agent {
  readonly kind = 'cascade';
  readonly inputSampleRate: 8000 | 16000;
  readonly stats: CascadeStats = { turns: 0, ignoredTurns: 0, replies: 0, bargeIns: 0, abandonedReplies: 0, llmRetries: 0, ttsRetries: 0, sttReconnects: 0, ttsReconnects: 0, faults: [] };
  /** The conversation so far (what the model sees). */
  readonly history: ChatMessage[] = [];

  private readonly opts: CascadeAgentOptions;
  private readonly log: Logger;
  private state: State = 'idle';
  private sink: AgentSink | undefined;
  private stt: SpeechToText | undefined;
  /** An STT stream being connected (its events are accepted too). */
  private sttPending: SpeechToText | undefined;
  /** Caller samples pushed before the current STT stream started (STT times are relative to it). */
  private sttBase = 0;
  private tts: TextToSpeech | undefined;
  private ttsConnecting: Promise<boolean> | undefined;
  private bargeIn: BargeInDetector | undefined;
  private readonly turn: TurnAssembler;
  private readonly clock = new AudioClock();
  private samplesIn = 0;
  private reply: Reply | undefined;
  private replySeq = 0;
  private finalizeTimer: NodeJS.Timeout | undefined;
  private faultTimer: NodeJS.Timeout | undefined;
  private pendingSpeakFirst: { hint: string | undefined } | undefined;
  private faulted = false;
  private closePromise: Promise<void> | undefined;

  constructor(opts: CascadeAgentOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.inputSampleRate = opts.sampleRate ?? 8000;
    this.turn = new TurnAssembler(opts.turn);
  }

  async start(sink: AgentSink): Promise<void> {
    if (this.state !== 'idle') throw new Error(`cascade: start() called in state ${this.state}`);
    this.sink = sink;
    this.state = 'starting';
    const t0 = performance.now();
    const [vad, stt, tts] = await Promise.allSettled([this.opts.loadVad(), this.connectStt(true), this.connectTts(true)]);
    const failure = [vad, stt, tts].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if ((this.state as State) !== 'starting' || failure !== undefined) {
      const why = failure !== undefined ? errorText(failure.reason) : 'closed while starting';
      await this.close();
      throw new Error(`cascade: ${why}`);
    }
    const model = (vad as PromiseFulfilledResult<SileroModel>).value;
    this.bargeIn = new BargeInDetector(model, { sampleRate: this.inputSampleRate, threshold: this.opts.bargeIn.threshold, minSpeechMs: this.opts.bargeIn.minSpeechMs }, () =>
      this.onBargeIn(),
    );
    this.state = 'open';
    this.log.info({ stt: this.stt?.name, llm: this.opts.llm.name, tts: this.tts?.name, startMs: Math.round(performance.now() - t0) }, 'cascade connected');
    if (this.pendingSpeakFirst !== undefined) {
      const { hint } = this.pendingSpeakFirst;
      this.pendingSpeakFirst = undefined;
      this.doSpeakFirst(hint);
    }
  }

  /** Hot path. */
  pushAudio(frame: Buffer): void {
    if (this.state !== 'open') return;
    this.samplesIn += frame.length >> 1;
    this.clock.mark(this.samplesIn, performance.now());
    this.stt?.sendAudio(frame);
    this.bargeIn?.push(frame);
  }

  speakFirst(hint?: string): void {
    if (this.state === 'idle' || this.state === 'starting') {
      this.pendingSpeakFirst = { hint };
      return;
    }
    if (this.state === 'open') this.doSpeakFirst(hint);
  }

  playbackIdle(): void {
    const r = this.reply;
    if (r === undefined || !r.ttsDone) return;
    this.reply = undefined;
    this.bargeIn?.disarm();
  }

  close(): Promise<void> {
    if (this.closePromise === undefined) this.closePromise = this.doClose();
    return this.closePromise;
  }

  // ---- connections ------------------------------------------------------------------------------

  private async connectStt(initial: boolean): Promise<void> {
    const attempt = async (): Promise<SpeechToText> => {
      const stt = this.opts.createStt();
      this.sttPending = stt;
      try {
        await stt.connect(this.sttListener(stt));
      } finally {
        if (this.sttPending === stt) this.sttPending = undefined;
      }
      return stt;
    };
    let stt: SpeechToText;
    try {
      stt = await attempt();
    } catch (e) {
      const err = asStageError(e, 'stt');
      if (!err.retryable || this.state === 'closed') throw err;
      this.log.warn({ err: err.message }, 'cascade: STT connect failed; retrying once');
      stt = await attempt();
    }
    if (this.state === 'closed') {
      await stt.close();
      throw new StageError('stt', 'closed while connecting', false);
    }
    this.stt = stt;
    this.sttBase = this.samplesIn;
    if (!initial) this.stats.sttReconnects++;
  }

  private sttListener(stt: SpeechToText): SttListener {
    const mine = () => (this.stt === stt || this.sttPending === stt) && this.state === 'open';
    return {
      result: (r) => {
        if (mine()) this.guard(() => this.apply(this.turn.onResult(r)));
      },
      speechStarted: () => {},
      utteranceEnd: () => {
        if (mine()) this.guard(() => this.apply(this.turn.onUtteranceEnd()));
      },
      lost: (err) => {
        if (this.stt === stt) this.guard(() => this.onSttLost(err));
      },
    };
  }

  private onSttLost(err: StageError): void {
    const old = this.stt;
    this.stt = undefined;
    void old?.close();
    if (this.state !== 'open' || this.faulted) return;
    // Words heard before the loss still make a turn.
    if (this.turn.hasWords) this.apply(this.turn.forceEnd());
    if (this.stats.sttReconnects >= (this.opts.maxSttReconnects ?? 3)) {
      this.fault('stt', `${err.message} (after ${this.stats.sttReconnects} reconnects)`);
      return;
    }
    this.log.warn({ err: err.message }, 'cascade: STT stream lost; reconnecting');
    this.connectStt(false).catch((e) => {
      if (this.state === 'open') this.fault('stt', errorText(e));
    });
  }

  private async connectTts(initial: boolean): Promise<void> {
    const attempt = async () => {
      const tts = this.opts.createTts();
      this.tts = tts;
      await tts.connect({ lost: (err) => this.guard(() => this.onTtsLost(tts, err)) });
    };
    try {
      await attempt();
    } catch (e) {
      const err = asStageError(e, 'tts');
      if (!err.retryable || this.state === 'closed' || !initial) throw err;
      this.log.warn({ err: err.message }, 'cascade: TTS connect failed; retrying once');
      await attempt();
    }
    if (!initial) this.stats.ttsReconnects++;
  }

  /** An open TTS connection, reconnecting once if needed. */
  private async ensureTts(): Promise<boolean> {
    // Checked a tick later: a close frame read together with the event that got us here (e.g. a context error) has
    // been processed by then, so a closing socket is not reported as usable.
    await Promise.resolve();
    if (this.tts?.connected) return true;
    if (this.ttsConnecting === undefined) {
      const p = (async () => {
        const old = this.tts;
        this.tts = undefined;
        void old?.close();
        try {
          await this.connectTts(false);
          return this.state === 'open';
        } catch (e) {
          this.log.warn({ err: errorText(e) }, 'cascade: TTS reconnect failed');
          return false;
        } finally {
          this.ttsConnecting = undefined;
        }
      })();
      this.ttsConnecting = p;
    }
    return this.ttsConnecting!;
  }

  private onTtsLost(tts: TextToSpeech, err: StageError): void {
    if (this.tts !== tts || this.state !== 'open') return;
    this.log.warn({ err: err.message }, 'cascade: TTS connection lost; reconnecting');
    // Streams on it get their own error (retried or ended there); reconnect now so the next reply is not slower.
    void this.ensureTts();
  }

  // ---- turns ------------------------------------------------------------------------------------

  private apply(d: TurnDecision): void {
    const sink = this.sink!;
    switch (d.kind) {
      case 'none':
        return;
      case 'partial': {
        sink.transcript('caller', d.text, false);
        // The caller goes on talking before our answer was heard: that answer was to half a thought.
        const r = this.reply;
        if (r !== undefined && !r.audible && r.faultReason === undefined && r.fixedText === undefined && this.turn.hasRealWords(d.text)) this.abandon(r);
        return;
      }
      case 'finalize':
        this.stt?.finalize();
        clearTimeout(this.finalizeTimer);
        this.finalizeTimer = setTimeout(() => {
          this.finalizeTimer = undefined;
          if (this.state === 'open') this.guard(() => this.apply(this.turn.forceEnd()));
        }, this.opts.finalizeTimeoutMs ?? 1000);
        return;
      case 'ignored':
        clearTimeout(this.finalizeTimer);
        this.finalizeTimer = undefined;
        this.stats.ignoredTurns++;
        if (d.text) sink.transcript('caller', d.text, true);
        this.log.debug({ text: d.text, reason: d.reason }, 'cascade: turn ignored');
        return;
      case 'end':
        clearTimeout(this.finalizeTimer);
        this.finalizeTimer = undefined;
        sink.transcript('caller', d.text, true);
        this.onUserTurn(d.text, d.lastWordEnd);
        return;
    }
  }

  private onUserTurn(text: string, lastWordEnd: number): void {
    if (this.faulted) return;
    this.stats.turns++;
    const sttFinalAt = performance.now();
    const marks: Record<string, number> = { sttFinalAt };
    if (lastWordEnd >= 0) {
      const stoppedAt = this.clock.timeOf(this.sttBase + lastWordEnd * this.inputSampleRate, this.inputSampleRate);
      if (stoppedAt !== undefined && stoppedAt <= sttFinalAt) marks.callerStoppedAt = stoppedAt;
    }
    const r = this.reply;
    if (r !== undefined) {
      // A new turn while the previous reply is still on: it is over either way.
      if (r.audible) this.interrupt(r, 'caller turn');
      else this.abandon(r);
    }
    const last = this.history[this.history.length - 1];
    if (last !== undefined && last.role === 'user') last.text = `${last.text} ${text}`;
    else this.history.push({ role: 'user', text });
    void this.runReply(marks, undefined);
  }

  private doSpeakFirst(hint: string | undefined): void {
    if (this.faulted || this.reply !== undefined) return;
    const greeting = this.opts.settings.greeting;
    if (hint === undefined && greeting) {
      void this.runReply({}, greeting);
      return;
    }
    this.history.push({ role: 'user', text: hint ?? DEFAULT_SPEAK_FIRST });
    void this.runReply({}, undefined);
  }

  // ---- replies ----------------------------------------------------------------------------------

  private newReply(marks: Record<string, number>, fixedText: string | undefined, faultReason: string | undefined): Reply {
    return {
      id: ++this.replySeq,
      abort: new AbortController(),
      tts: undefined,
      chunker: new SentenceChunker(),
      textSent: '',
      msg: undefined,
      marks,
      audible: false,
      audioBytes: 0,
      words: { end: [] },
      llmDone: false,
      ttsDone: false,
      ttsRetried: false,
      cancelled: false,
      fixedText,
      faultReason,
    };
  }

  private async runReply(marks: Record<string, number>, fixedText: string | undefined, faultReason?: string): Promise<void> {
    const r = this.newReply(marks, fixedText, faultReason);
    this.reply = r;
    try {
      if (!(await this.ensureTts())) {
        if (!r.cancelled) this.fault('tts', 'text-to-speech unavailable (reconnect failed)');
        return;
      }
      if (r.cancelled) return;
      this.openTts(r);
      if (fixedText !== undefined) {
        this.sendText(r, fixedText);
        r.llmDone = true;
        r.tts?.end();
        return;
      }
      const history = this.history.slice();
      for (let attempt = 0; ; attempt++) {
        try {
          for await (const delta of this.opts.llm.stream({ systemInstructions: this.opts.settings.systemInstructions, history, signal: r.abort.signal })) {
            if (r.cancelled) return;
            r.marks.llmFirstTokenAt ??= performance.now();
            for (const piece of r.chunker.push(delta)) this.sendText(r, piece);
          }
          break;
        } catch (e) {
          if (r.cancelled) return;
          const err = asStageError(e, 'llm');
          if (r.textSent === '' && attempt === 0 && err.retryable) {
            this.stats.llmRetries++;
            this.log.warn({ err: err.message }, 'cascade: model request failed; retrying once');
            r.chunker = new SentenceChunker();
            delete r.marks.llmFirstTokenAt;
            continue;
          }
          if (r.textSent !== '' || r.chunker.pending.trim() !== '') {
            this.log.warn({ err: err.message, chars: r.textSent.length }, 'cascade: model stream broke; speaking what came');
            break;
          }
          this.fault('llm', err.message);
          return;
        }
      }
      if (r.cancelled) return;
      const rest = r.chunker.flush();
      if (rest) this.sendText(r, rest);
      r.llmDone = true;
      if (r.textSent.trim() === '') {
        this.log.warn('cascade: the model returned no text');
        r.tts?.cancel();
        this.reply = undefined;
        return;
      }
      r.tts?.end();
    } catch (e) {
      this.log.error({ err: errorText(e) }, 'cascade: reply failed');
      if (!r.cancelled && this.reply === r) this.fault('llm', errorText(e));
    }
  }

  private openTts(r: Reply): void {
    const tts = this.tts!;
    const rate = tts.sampleRate;
    r.tts = tts.open({
      audio: (pcm) => {
        if (r.cancelled || this.reply !== r) return;
        const sink = this.sink!;
        if (!r.audible) {
          r.audible = true;
          r.marks.ttsFirstAudioAt = performance.now();
          sink.replyTimings(r.marks);
          if (r.faultReason === undefined) this.bargeIn?.arm();
        }
        r.audioBytes += pcm.length;
        sink.audio(pcm, rate);
      },
      words: (w) => {
        if (!r.cancelled) for (const e of w.end) r.words.end.push(e);
      },
      done: () => this.guard(() => this.onTtsDone(r)),
      error: (err) => this.guard(() => this.onTtsError(r, err)),
    });
  }

  private sendText(r: Reply, piece: string): void {
    r.textSent += piece;
    r.tts?.push(piece);
    if (r.msg === undefined && r.faultReason === undefined) {
      r.msg = { role: 'agent', text: '' };
      this.history.push(r.msg);
    }
    const text = r.textSent.trim();
    if (r.msg !== undefined) r.msg.text = text;
    this.sink!.transcript('agent', text, false);
  }

  private onTtsDone(r: Reply): void {
    if (r.cancelled || this.reply !== r) return;
    r.ttsDone = true;
    this.stats.replies++;
    const sink = this.sink!;
    sink.replyDone();
    const text = r.textSent.trim();
    if (r.msg !== undefined) r.msg.text = text;
    if (text) sink.transcript('agent', text, true);
    if (r.faultReason !== undefined) {
      clearTimeout(this.faultTimer);
      this.faultTimer = undefined;
      sink.hangup(r.faultReason);
    }
    if (!r.audible) {
      this.reply = undefined; // nothing to wait for
      this.bargeIn?.disarm();
    }
  }

  private onTtsError(r: Reply, err: StageError): void {
    if (r.cancelled || this.reply !== r) return;
    if (r.faultReason !== undefined) {
      this.sink!.failed(`${r.faultReason}; apology not spoken: ${err.message}`);
      this.reply = undefined;
      return;
    }
    if (!r.audible && !r.ttsRetried && err.retryable) {
      r.ttsRetried = true;
      this.stats.ttsRetries++;
      this.log.warn({ err: err.message }, 'cascade: TTS failed before any audio; retrying once');
      void this.ensureTts()
        .then((ok) => {
          if (r.cancelled || this.reply !== r) return;
          if (!ok) return this.fault('tts', err.message);
          this.openTts(r);
          if (r.textSent) r.tts!.push(r.textSent);
          if (r.llmDone) r.tts!.end();
        })
        .catch((e) =>
          this.guard(() => {
            this.log.error({ err: errorText(e) }, 'cascade: TTS retry failed');
            if (!r.cancelled && this.reply === r) this.fault('tts', errorText(e));
          }),
        );
      return;
    }
    if (r.audible) {
      // Part of it was spoken: end the reply there; the connection is reopened for the next one.
      this.log.warn({ err: err.message }, 'cascade: TTS failed mid-reply; ending the reply');
      r.abort.abort();
      const heard = this.producedText(r);
      r.ttsDone = true;
      r.llmDone = true;
      if (r.msg !== undefined) {
        if (heard) r.msg.text = heard;
        else this.dropMsg(r);
      }
      const sink = this.sink!;
      sink.replyDone();
      if (heard) sink.transcript('agent', heard, true);
      return;
    }
    this.fault('tts', err.message);
  }

  // ---- barge-in ---------------------------------------------------------------------------------

  private onBargeIn(): void {
    const r = this.reply;
    if (r === undefined || r.cancelled || r.faultReason !== undefined || this.state !== 'open') return;
    this.guard(() => {
      const pb = this.sink!.playback(); // before interrupted(), which resets it
      if (!pb.playing && (!r.audible || r.ttsDone)) return;
      this.interrupt(r, 'barge-in', pb.heardMs);
    });
  }

  /** Stop a reply the caller has (partly) heard: cancel model + TTS, drop queued audio, keep what was heard. */
  private interrupt(r: Reply, why: string, heardMsKnown?: number): void {
    const sink = this.sink!;
    const heardMs = heardMsKnown ?? sink.playback().heardMs;
    r.cancelled = true;
    if (this.reply === r) this.reply = undefined;
    this.bargeIn?.disarm();
    r.abort.abort();
    r.tts?.cancel();
    sink.interrupted();
    const heard = this.heardText(r, heardMs);
    if (r.msg !== undefined) {
      if (heard) r.msg.text = heard;
      else this.dropMsg(r);
    }
    if (heard) sink.transcript('agent', heard, true);
    this.stats.bargeIns++;
    this.log.info({ why, heardMs: Math.round(heardMs), heardChars: heard.length, chars: r.textSent.trim().length, llmDone: r.llmDone, ttsDone: r.ttsDone }, 'cascade: reply interrupted');
  }

  /** Drop a reply nobody heard (the caller kept talking before it started playing). */
  private abandon(r: Reply): void {
    r.cancelled = true;
    if (this.reply === r) this.reply = undefined;
    this.bargeIn?.disarm();
    r.abort.abort();
    r.tts?.cancel();
    this.dropMsg(r);
    this.stats.abandonedReplies++;
  }

  private dropMsg(r: Reply): void {
    if (r.msg === undefined) return;
    const i = this.history.lastIndexOf(r.msg);
    if (i >= 0) this.history.splice(i, 1);
    r.msg = undefined;
  }

  /** The part of the reply heard in `heardMs`: by word timings when TTS gave them, else by speaking rate. */
  private heardText(r: Reply, heardMs: number): string {
    const tokens = r.textSent.trim().split(/\s+/).filter(Boolean);
    if (heardMs <= 0 || tokens.length === 0) return '';
    let n: number;
    const ends = r.words.end;
    if (ends.length > 0) {
      const cut = heardMs / 1000 + 0.05;
      n = 0;
      while (n < ends.length && ends[n]! <= cut) n++;
    } else {
      const producedMs = (r.audioBytes / 2 / (this.tts?.sampleRate ?? 8000)) * 1000;
      const chars = r.ttsDone && producedMs > 0 ? (r.textSent.length * Math.min(heardMs, producedMs)) / producedMs : (heardMs / 1000) * CHARS_PER_SECOND;
      n = 0;
      let len = 0;
      while (n < tokens.length && len + tokens[n]!.length <= chars) len += tokens[n++]!.length + 1;
    }
    return tokens.slice(0, Math.min(n, tokens.length)).join(' ');
  }

  /** What TTS produced audio for (a reply cut short by a TTS failure). */
  private producedText(r: Reply): string {
    const producedMs = (r.audioBytes / 2 / (this.tts?.sampleRate ?? 8000)) * 1000;
    return this.heardText(r, producedMs);
  }

  // ---- faults -----------------------------------------------------------------------------------

  /** A vendor cannot go on: apologize (unless TTS is what failed) and end the call; never leave it silent. */
  private fault(stage: StageName, cause: string): void {
    if (this.faulted || this.state !== 'open') return;
    this.faulted = true;
    const reason = `${stage === 'stt' ? 'speech-to-text' : stage === 'llm' ? 'language model' : 'text-to-speech'} failed: ${cause}`;
    this.stats.faults.push(reason);
    this.log.warn({ stage, cause }, 'cascade: vendor fault; ending the call');
    clearTimeout(this.finalizeTimer);
    this.finalizeTimer = undefined;
    const r = this.reply;
    if (r !== undefined) {
      if (r.audible) this.interrupt(r, 'fault');
      else this.abandon(r);
    }
    this.bargeIn?.disarm();
    const sink = this.sink!;
    if (stage === 'tts' || !this.tts?.connected) {
      sink.failed(reason);
      return;
    }
    // One TTS attempt at the apology, bounded in time; then hang up once it has played.
    this.faultTimer = setTimeout(() => {
      this.faultTimer = undefined;
      if (this.state !== 'open') return;
      const ar = this.reply;
      if (ar?.faultReason !== undefined && ar.ttsDone) return;
      sink.failed(`${reason}; apology timed out`);
    }, 10000);
    void this.runReply({}, this.opts.apology, reason);
  }

  // ---- misc -------------------------------------------------------------------------------------

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: errorText(e) }, 'cascade: handler threw');
    }
  }

  private async doClose(): Promise<void> {
    const prev = this.state;
    this.state = 'closed';
    this.pendingSpeakFirst = undefined;
    clearTimeout(this.finalizeTimer);
    this.finalizeTimer = undefined;
    clearTimeout(this.faultTimer);
    this.faultTimer = undefined;
    const r = this.reply;
    this.reply = undefined;
    if (r !== undefined) {
      r.cancelled = true;
      r.abort.abort();
      r.tts?.cancel();
    }
    this.bargeIn?.close();
    const stt = this.stt;
    const pending = this.sttPending;
    this.stt = undefined;
    this.sttPending = undefined;
    await Promise.allSettled([stt?.close(), pending?.close(), this.ttsConnecting, this.tts?.close(), this.opts.llm.close?.()]);
    await this.tts?.close(); // a reconnect may have finished meanwhile
    if (prev === 'open') {
      const s = this.stats;
      this.log.info(
        { turns: s.turns, ignored: s.ignoredTurns, replies: s.replies, bargeIns: s.bargeIns, abandoned: s.abandonedReplies, retries: s.llmRetries + s.ttsRetries, reconnects: s.sttReconnects + s.ttsReconnects, vadWindows: this.bargeIn?.stats.windows, vadDropped: this.bargeIn?.stats.dropped },
        'cascade closed',
      );
    }
  }
}


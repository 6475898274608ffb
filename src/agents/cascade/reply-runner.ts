import type { AgentSink } from '../agent.ts';
import type { Logger } from '../../log.ts';
import { errorText } from '../../errors.ts';
import type { ToolDeclaration } from '../tools/types.ts';
import type { CascadeStats } from './cascade-stats.ts';
import { Reply } from './reply.ts';
import { ReplyModel } from './reply-model.ts';
import { TtsRecovery } from './tts-recovery.ts';
import type { StageLinks } from './stage-links.ts';
import type { ChatMessage, LanguageModel, StageName } from './stages.ts';

export type { CascadeStats } from './cascade-stats.ts';

/** What the cascade agent gives the reply runner. */
export interface ReplyHost {
  /** The sink, and the barge-in detector: armed while a reply is audible, so the caller can talk over it. */
  readonly call: { readonly sink: AgentSink; readonly bargeIn: { arm(): void; disarm(): void } | undefined };
  readonly log: Logger;
  readonly stats: CascadeStats;
  /** The conversation so far (what the model sees); replies add and trim their agent turns. */
  readonly history: ChatMessage[];
  readonly links: StageLinks;
  readonly llm: LanguageModel;
  readonly systemInstructions: string;
  /** Budget of a model request in estimated tokens: older exchanges are dropped from the history beyond it. */
  readonly historyTokens: number;
  /** Tools the model may call; a tool round that takes `toolFillerMs` says `toolFiller` once. */
  readonly tools: readonly ToolDeclaration[];
  readonly toolFillerMs: number;
  readonly toolFiller: string;
  /** A stage cannot go on: the agent apologizes and ends the call. */
  fault(stage: StageName, cause: string): void;
  /** The apology for `reason` has been spoken in full. */
  apologized(reason: string): void;
  /** No reply is in progress any more (called on a later tick; one may have started meanwhile). */
  idle(): void;
  guard(fn: () => void): void;
}

/**
 * Speaks the cascade's replies, one at a time: the model's text goes to TTS a sentence (or first clause) at a
 * time as it streams, TTS audio goes to the sink, and the reply ends when TTS is done, the caller talks over
 * it (kept in the history only as far as it was heard), or a stage fails (retried once when nothing was
 * heard yet; continued on a new stream from the first word not yet synthesized when something was).
 * The model's side (requests, retries, tool rounds) is reply-model.ts.
 */
export class ReplyRunner {
  readonly #host: ReplyHost;
  readonly #model: ReplyModel;
  readonly #recovery: TtsRecovery;
  #current: Reply | undefined;
  #seq = 0;
  #idleQueued = false;

  constructor(host: ReplyHost) {
    this.#host = host;
    this.#model = new ReplyModel({
      get sink() {
        return host.call.sink;
      },
      log: host.log,
      stats: host.stats,
      history: host.history,
      llm: host.llm,
      systemInstructions: host.systemInstructions,
      historyTokens: host.historyTokens,
      tools: host.tools,
      fillerMs: host.toolFillerMs,
      filler: host.toolFiller,
      fault: (stage, cause) => host.fault(stage, cause),
      speak: (r, text) => this.#sendText(r, text),
    });
    this.#recovery = new TtsRecovery(host, {
      isCurrent: (r) => !r.cancelled && this.#current === r,
      drop: (r) => {
        if (this.#current === r) this.#current = undefined;
      },
      open: (r) => this.#openTts(r),
      done: (r) => this.#onTtsDone(r),
      keepHeard: (r, heard) => this.#keepHeard(r, heard),
    });
  }

  /** The reply being generated or still playing, if any. */
  get current(): Reply | undefined {
    return this.#current;
  }

  /** The model's answer to the history, or `fixedText` as is; `faultReason` marks the apology. */
  async run(marks: Record<string, number>, fixedText: string | undefined, faultReason?: string): Promise<void> {
    const host = this.#host;
    const r = new Reply(++this.#seq, marks, fixedText, faultReason);
    this.#current = r;
    try {
      if (!(await host.links.ensureTts())) {
        if (!r.cancelled) host.fault('tts', 'text-to-speech unavailable (reconnect failed)');
        return;
      }
      if (r.cancelled) return;
      this.#openTts(r);
      if (fixedText !== undefined) {
        this.#sendText(r, fixedText);
        r.llmDone = true;
        r.tts?.end();
        return;
      }
      if (!(await this.#model.speak(r))) return;
      const rest = r.chunker.flush();
      if (rest) this.#sendText(r, rest);
      r.llmDone = true;
      if (r.textSent.trim() === '') {
        host.log.warn('cascade: the model returned no text');
        r.tts?.cancel();
        this.#clear(r);
        return;
      }
      r.tts?.end();
    } catch (e) {
      host.log.error({ err: errorText(e) }, 'cascade: reply failed');
      if (!r.cancelled && this.#current === r) host.fault('llm', errorText(e));
    }
  }

  /** The session has played everything: a finished reply is over. */
  playbackIdle(): void {
    const r = this.#current;
    if (r === undefined || !r.ttsDone) return;
    this.#clear(r);
    this.#host.call.bargeIn?.disarm();
  }

  /** The caller spoke over the agent for long enough. */
  bargeIn(): void {
    const r = this.#current;
    if (r === undefined || r.cancelled || r.faultReason !== undefined) return;
    this.#host.guard(() => {
      const pb = this.#host.call.sink.playback(); // before interrupted(), which resets it
      if (!pb.playing && (!r.audible || r.ttsDone)) return;
      this.interrupt(r, 'barge-in', pb.heardMs);
    });
  }

  /** End the reply in progress, if any: interrupted when the caller heard some of it, else dropped. */
  endCurrent(why: string): void {
    const r = this.#current;
    if (r === undefined) return;
    if (r.audible) this.interrupt(r, why);
    else this.abandon(r);
  }

  /** Stop a reply the caller has (partly) heard: cancel model + TTS, drop queued audio, keep what was heard. */
  interrupt(r: Reply, why: string, heardMsKnown?: number): void {
    const { call, log, stats } = this.#host;
    const sink = call.sink;
    const heardMs = heardMsKnown ?? sink.playback().heardMs;
    r.cancelled = true;
    this.#clear(r);
    this.#host.call.bargeIn?.disarm();
    r.abort.abort();
    r.tts?.cancel();
    sink.interrupted();
    const heard = r.heardText(heardMs, this.#ttsRate());
    this.#keepHeard(r, heard);
    if (heard) sink.transcript('agent', heard, true);
    stats.bargeIns++;
    const { llmDone, ttsDone } = r;
    const chars = r.textSent.trim().length;
    const heardChars = heard.length;
    log.info({ why, heardMs: Math.round(heardMs), heardChars, chars, llmDone, ttsDone }, 'cascade: reply interrupted');
  }

  /** Drop a reply nobody heard (the caller kept talking before it started playing). */
  abandon(r: Reply): void {
    r.cancelled = true;
    this.#clear(r);
    this.#host.call.bargeIn?.disarm();
    r.abort.abort();
    r.tts?.cancel();
    this.#dropMsg(r);
    this.#host.stats.abandonedReplies++;
  }

  /** The agent is closing: stop whatever is in progress, silently. */
  close(): void {
    const r = this.#current;
    this.#current = undefined;
    r?.cancel();
  }

  // ---- internals ------------------------------------------------------------------------------

  #openTts(r: Reply): void {
    const host = this.#host;
    const tts = host.links.tts!;
    const rate = tts.sampleRate;
    r.tts = tts.open({
      audio: (pcm) => {
        if (r.cancelled || this.#current !== r) return;
        const sink = host.call.sink;
        if (!r.audible) {
          r.audible = true;
          r.marks.ttsFirstAudioAt = performance.now();
          sink.replyTimings(r.marks);
          if (r.faultReason === undefined) host.call.bargeIn?.arm();
        }
        r.audioBytes += pcm.length;
        sink.audio(pcm, rate);
      },
      words: (w) => {
        if (!r.cancelled) for (const e of w.end) r.wordEnds.push(e + r.ttsOffsetSec);
      },
      done: () => host.guard(() => this.#onTtsDone(r)),
      error: (err) => host.guard(() => this.#recovery.onTtsError(r, err)),
    });
  }

  #sendText(r: Reply, text: string): void {
    let piece = text;
    if (r.spaceNext) {
      r.spaceNext = false;
      if (r.textSent !== '' && !/\s$/.test(r.textSent) && !/^\s/.test(piece)) piece = ` ${piece}`;
    }
    r.textSent += piece;
    r.tts?.push(piece);
    if (r.msg === undefined && r.faultReason === undefined) {
      r.msg = { role: 'agent', text: '' };
      this.#host.history.push(r.msg);
    }
    const said = r.textSent.trim();
    if (r.msg !== undefined) r.msg.text = r.msgPart(said);
    this.#host.call.sink.transcript('agent', said, false);
  }

  #onTtsDone(r: Reply): void {
    if (r.cancelled || this.#current !== r) return;
    r.ttsDone = true;
    this.#host.stats.replies++;
    const sink = this.#host.call.sink;
    sink.replyDone();
    const text = r.textSent.trim();
    if (r.msg !== undefined) r.msg.text = r.msgPart(text);
    if (text) sink.transcript('agent', text, true);
    if (r.faultReason !== undefined) this.#host.apologized(r.faultReason);
    if (!r.audible) {
      this.#clear(r); // nothing to wait for
      this.#host.call.bargeIn?.disarm();
    }
  }

  /** Cut the reply's agent turn to what was heard of it (gone when none of it was). */
  #keepHeard(r: Reply, heard: string): void {
    if (r.msg === undefined) return;
    const part = r.msgPart(heard);
    if (part) r.msg.text = part;
    else this.#dropMsg(r);
  }

  /** The reply is over: no reply in progress now; the host hears of it once things have settled. */
  #clear(r: Reply): void {
    if (this.#current !== r) return;
    this.#current = undefined;
    if (this.#idleQueued) return;
    this.#idleQueued = true;
    setImmediate(() => {
      this.#idleQueued = false;
      if (this.#current === undefined) this.#host.guard(() => this.#host.idle());
    });
  }

  #dropMsg(r: Reply): void {
    if (r.msg === undefined) return;
    const history = this.#host.history;
    const i = history.lastIndexOf(r.msg);
    if (i >= 0) history.splice(i, 1);
    r.msg = undefined;
  }

  #ttsRate(): number {
    return this.#host.links.tts?.sampleRate ?? 8000;
  }
}

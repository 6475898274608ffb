import type { AgentSink } from '../agent.ts';
import type { Logger } from '../../log.ts';
import { errorText } from '../../errors.ts';
import { trimHistory } from './history.ts';
import { Reply } from './reply.ts';
import { asStageError, type StageLinks } from './stage-links.ts';
import type { ChatMessage, LanguageModel, StageError, StageName } from './stages.ts';
import { SentenceChunker } from './turn-taking.ts';

/** What the cascade agent gives the reply runner. */
/** What a cascade call counted (the agent owns it; the reply runner updates the reply-side counts). */
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
  /** Replies continued on a new TTS stream after their first one broke mid-reply. */
  ttsResumes: number;
  faults: string[];
}

export interface ReplyHost {
  readonly sink: AgentSink;
  readonly log: Logger;
  readonly stats: CascadeStats;
  /** The conversation so far (what the model sees); replies add and trim their agent turns. */
  readonly history: ChatMessage[];
  readonly links: StageLinks;
  readonly llm: LanguageModel;
  readonly systemInstructions: string;
  /** Budget of a model request in estimated tokens: older exchanges are dropped from the history beyond it. */
  readonly historyTokens: number;
  /** Armed while a reply is audible, so the caller can talk over it. */
  readonly bargeIn: { arm(): void; disarm(): void } | undefined;
  /** A stage cannot go on: the agent apologizes and ends the call. */
  fault(stage: StageName, cause: string): void;
  /** The apology for `reason` has been spoken in full. */
  apologized(reason: string): void;
  guard(fn: () => void): void;
}

/** New TTS streams one reply may continue on after its stream broke mid-reply. */
const MAX_TTS_RESUMES = 2;

/**
 * Speaks the cascade's replies, one at a time: the model's text goes to TTS a sentence (or first clause) at a
 * time as it streams, TTS audio goes to the sink, and the reply ends when TTS is done, the caller talks over
 * it (kept in the history only as far as it was heard), or a stage fails (retried once when nothing was
 * heard yet; continued on a new stream from the first word not yet synthesized when something was).
 */
export class ReplyRunner {
  readonly #host: ReplyHost;
  #current: Reply | undefined;
  #seq = 0;

  constructor(host: ReplyHost) {
    this.#host = host;
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
      if (!(await this.#streamModel(r))) return;
      const rest = r.chunker.flush();
      if (rest) this.#sendText(r, rest);
      r.llmDone = true;
      if (r.textSent.trim() === '') {
        host.log.warn('cascade: the model returned no text');
        r.tts?.cancel();
        this.#current = undefined;
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
    this.#current = undefined;
    this.#host.bargeIn?.disarm();
  }

  /** The caller spoke over the agent for long enough. */
  bargeIn(): void {
    const r = this.#current;
    if (r === undefined || r.cancelled || r.faultReason !== undefined) return;
    this.#host.guard(() => {
      const pb = this.#host.sink.playback(); // before interrupted(), which resets it
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
    const { sink, log, stats } = this.#host;
    const heardMs = heardMsKnown ?? sink.playback().heardMs;
    r.cancelled = true;
    if (this.#current === r) this.#current = undefined;
    this.#host.bargeIn?.disarm();
    r.abort.abort();
    r.tts?.cancel();
    sink.interrupted();
    const heard = r.heardText(heardMs, this.#ttsRate());
    if (r.msg !== undefined) {
      if (heard) r.msg.text = heard;
      else this.#dropMsg(r);
    }
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
    if (this.#current === r) this.#current = undefined;
    this.#host.bargeIn?.disarm();
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

  /** The model's text into TTS as it streams; false when the reply is over (cancelled or faulted). */
  async #streamModel(r: Reply): Promise<boolean> {
    const host = this.#host;
    const dropped = trimHistory(host.history, host.systemInstructions, host.historyTokens);
    if (dropped > 0) host.log.debug({ dropped, kept: host.history.length }, 'cascade: oldest turns dropped');
    const history = host.history.slice();
    const req = { systemInstructions: host.systemInstructions, history, signal: r.abort.signal };
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const delta of host.llm.stream(req)) {
          if (r.cancelled) return false;
          r.marks.llmFirstTokenAt ??= performance.now();
          for (const piece of r.chunker.push(delta)) this.#sendText(r, piece);
        }
        return !r.cancelled;
      } catch (e) {
        if (r.cancelled) return false;
        const err = asStageError(e, 'llm');
        if (r.textSent === '' && attempt === 0 && err.retryable) {
          host.stats.llmRetries++;
          host.log.warn({ err: err.message }, 'cascade: model request failed; retrying once');
          r.chunker = new SentenceChunker();
          delete r.marks.llmFirstTokenAt;
          continue;
        }
        if (r.textSent !== '' || r.chunker.pending.trim() !== '') {
          const chars = r.textSent.length;
          host.log.warn({ err: err.message, chars }, 'cascade: model stream broke; speaking what came');
          return !r.cancelled;
        }
        host.fault('llm', err.message);
        return false;
      }
    }
  }

  #openTts(r: Reply): void {
    const host = this.#host;
    const tts = host.links.tts!;
    const rate = tts.sampleRate;
    r.tts = tts.open({
      audio: (pcm) => {
        if (r.cancelled || this.#current !== r) return;
        const sink = host.sink;
        if (!r.audible) {
          r.audible = true;
          r.marks.ttsFirstAudioAt = performance.now();
          sink.replyTimings(r.marks);
          if (r.faultReason === undefined) host.bargeIn?.arm();
        }
        r.audioBytes += pcm.length;
        sink.audio(pcm, rate);
      },
      words: (w) => {
        if (!r.cancelled) for (const e of w.end) r.wordEnds.push(e + r.ttsOffsetSec);
      },
      done: () => host.guard(() => this.#onTtsDone(r)),
      error: (err) => host.guard(() => this.#onTtsError(r, err)),
    });
  }

  #sendText(r: Reply, piece: string): void {
    r.textSent += piece;
    r.tts?.push(piece);
    if (r.msg === undefined && r.faultReason === undefined) {
      r.msg = { role: 'agent', text: '' };
      this.#host.history.push(r.msg);
    }
    const text = r.textSent.trim();
    if (r.msg !== undefined) r.msg.text = text;
    this.#host.sink.transcript('agent', text, false);
  }

  #onTtsDone(r: Reply): void {
    if (r.cancelled || this.#current !== r) return;
    r.ttsDone = true;
    this.#host.stats.replies++;
    const sink = this.#host.sink;
    sink.replyDone();
    const text = r.textSent.trim();
    if (r.msg !== undefined) r.msg.text = text;
    if (text) sink.transcript('agent', text, true);
    if (r.faultReason !== undefined) this.#host.apologized(r.faultReason);
    if (!r.audible) {
      this.#current = undefined; // nothing to wait for
      this.#host.bargeIn?.disarm();
    }
  }

  #onTtsError(r: Reply, err: StageError): void {
    if (r.cancelled || this.#current !== r) return;
    const host = this.#host;
    if (r.faultReason !== undefined) {
      host.sink.failed(`${r.faultReason}; apology not spoken: ${err.message}`);
      this.#current = undefined;
      return;
    }
    if (!r.audible && !r.ttsRetried && err.retryable) {
      this.#retryTts(r, err);
      return;
    }
    if (r.audible && err.retryable && r.ttsResumes < MAX_TTS_RESUMES && this.#resumeTts(r, err)) return;
    if (r.audible) {
      // Part of it was spoken and it cannot be continued: end the reply there; the next one reopens TTS.
      host.log.warn({ err: err.message }, 'cascade: TTS failed mid-reply; ending the reply');
      r.abort.abort();
      const heard = r.producedText(this.#ttsRate());
      r.ttsDone = true;
      r.llmDone = true;
      if (r.msg !== undefined) {
        if (heard) r.msg.text = heard;
        else this.#dropMsg(r);
      }
      host.sink.replyDone();
      if (heard) host.sink.transcript('agent', heard, true);
      return;
    }
    host.fault('tts', err.message);
  }

  /**
   * TTS broke after part of the reply was heard: go on from the first word whose audio had not come, on a new
   * stream (and, when the connection is what broke, a new connection). False when TTS gave no word times.
   */
  #resumeTts(r: Reply, err: StageError): boolean {
    const host = this.#host;
    const rest = r.resumePoint(this.#ttsRate());
    if (rest === undefined) return false;
    r.ttsResumes++;
    host.stats.ttsResumes++;
    host.log.warn({ err: err.message, restChars: rest.length }, 'cascade: TTS failed mid-reply; continuing it');
    if (rest.trim() === '' && r.llmDone) {
      this.#onTtsDone(r); // all of it had been spoken
      return true;
    }
    void host.links
      .ensureTts()
      .then((ok) => {
        if (r.cancelled || this.#current !== r) return;
        if (!ok) return host.fault('tts', err.message);
        this.#openTts(r);
        if (rest.trim() !== '') r.tts!.push(rest);
        if (r.llmDone) r.tts!.end();
      })
      .catch((e) =>
        host.guard(() => {
          host.log.error({ err: errorText(e) }, 'cascade: TTS resume failed');
          if (!r.cancelled && this.#current === r) host.fault('tts', errorText(e));
        }),
      );
    return true;
  }

  /** TTS failed before anything was heard: once more on a (re)opened connection, with the text so far. */
  #retryTts(r: Reply, err: StageError): void {
    const host = this.#host;
    r.ttsRetried = true;
    r.wordEnds.length = 0;
    host.stats.ttsRetries++;
    host.log.warn({ err: err.message }, 'cascade: TTS failed before any audio; retrying once');
    void host.links
      .ensureTts()
      .then((ok) => {
        if (r.cancelled || this.#current !== r) return;
        if (!ok) return host.fault('tts', err.message);
        this.#openTts(r);
        if (r.textSent) r.tts!.push(r.textSent);
        if (r.llmDone) r.tts!.end();
      })
      .catch((e) =>
        host.guard(() => {
          host.log.error({ err: errorText(e) }, 'cascade: TTS retry failed');
          if (!r.cancelled && this.#current === r) host.fault('tts', errorText(e));
        }),
      );
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

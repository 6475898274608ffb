/**
 * What a cascade reply does when its TTS stream fails: retried once on a (re)opened connection when nothing
 * was heard yet; continued on a new stream from the first word whose audio had not come when some was (at most
 * MAX_TTS_RESUMES times); ended where its audio did when it cannot be continued; else the stage has failed.
 * The apology is never retried: the call fails.
 */
import { errorText } from '../../errors.ts';
import type { Reply } from './reply.ts';
import type { AgentSink } from '../agent.ts';
import type { Logger } from '../../log.ts';
import type { CascadeStats } from './cascade-stats.ts';
import type { StageLinks } from './stage-links.ts';
import type { StageError, StageName } from './stages.ts';

/** What recovering a reply's TTS needs of the reply runner's host (a ReplyHost is one). */
export interface RecoveryHost {
  readonly call: { readonly sink: AgentSink };
  readonly log: Logger;
  readonly stats: CascadeStats;
  readonly links: StageLinks;
  fault(stage: StageName, cause: string): void;
  guard(fn: () => void): void;
}

/** New TTS streams one reply may continue on after its stream broke mid-reply. */
const MAX_TTS_RESUMES = 2;

/** What the reply runner lends the recovery. */
export interface ReplyControl {
  /** The reply is still the one in progress and not cancelled. */
  isCurrent(r: Reply): boolean;
  /** It is over (without `idle`: the call is failing). */
  drop(r: Reply): void;
  /** A new TTS stream for it. */
  open(r: Reply): void;
  /** Its TTS is done. */
  done(r: Reply): void;
  /** Cut its agent turn to what was heard. */
  keepHeard(r: Reply, heard: string): void;
}

export class TtsRecovery {
  readonly #host: RecoveryHost;
  readonly #runner: ReplyControl;

  constructor(host: RecoveryHost, runner: ReplyControl) {
    this.#host = host;
    this.#runner = runner;
  }

  /** The reply's TTS stream failed. */
  onTtsError(r: Reply, err: StageError): void {
    if (!this.#runner.isCurrent(r)) return;
    const host = this.#host;
    if (r.faultReason !== undefined) {
      host.call.sink.failed(`${r.faultReason}; apology not spoken: ${err.message}`);
      this.#runner.drop(r);
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
      this.#runner.keepHeard(r, heard);
      host.call.sink.replyDone();
      if (heard) host.call.sink.transcript('agent', heard, true);
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
    if (rest.trim() === '' && r.llmDone)
      this.#runner.done(r); // all of it had been spoken
    else this.#reopenTts(r, err, rest, 'resume');
    return true;
  }

  /** TTS failed before anything was heard: once more on a (re)opened connection, with the text so far. */
  #retryTts(r: Reply, err: StageError): void {
    const host = this.#host;
    r.ttsRetried = true;
    r.wordEnds.length = 0;
    host.stats.ttsRetries++;
    host.log.warn({ err: err.message }, 'cascade: TTS failed before any audio; retrying once');
    this.#reopenTts(r, err, r.textSent, 'retry');
  }

  /** A new TTS stream for the reply (on a reopened connection if need be), given `text` to speak first. */
  #reopenTts(r: Reply, err: StageError, text: string, what: string): void {
    const host = this.#host;
    void host.links
      .ensureTts()
      .then((ok) => {
        if (!this.#runner.isCurrent(r)) return;
        if (!ok) return host.fault('tts', err.message);
        this.#runner.open(r);
        if (text.trim() !== '') r.tts!.push(text);
        if (r.llmDone) r.tts!.end();
      })
      .catch((e) =>
        host.guard(() => {
          host.log.error({ err: errorText(e) }, `cascade: TTS ${what} failed`);
          if (this.#runner.isCurrent(r)) host.fault('tts', errorText(e));
        }),
      );
  }

  #ttsRate(): number {
    return this.#host.links.tts?.sampleRate ?? 8000;
  }
}

import type { ChatMessage, TtsStream } from './stages.ts';
import { SentenceChunker } from './sentence-chunker.ts';

/** Typical speaking rate, for cutting an interrupted reply when no word timings came back. */
const CHARS_PER_SECOND = 15;

/**
 * One reply of the cascade while it is in progress: its model request, its TTS stream, the text handed to
 * TTS, how much audio came back and when each word ends, so an interrupted reply can be cut where the caller
 * stopped hearing it. ReplyRunner drives it; this class only keeps its state straight.
 */
export class Reply {
  readonly id: number;
  /** Ends the model request (barge-in, a new turn, a fault, close). */
  readonly abort = new AbortController();
  /** Pipeline timestamps, reported with the first audio (AgentSink.replyTimings). */
  readonly marks: Record<string, number>;
  /** Spoken as is, without the model (a greeting, the apology). */
  readonly fixedText: string | undefined;
  /** Set on the apology reply only: the fault it apologizes for. */
  readonly faultReason: string | undefined;
  tts: TtsStream | undefined;
  chunker = new SentenceChunker();
  /** Text handed to TTS so far. */
  textSent = '';
  /**
   * This reply's agent turn in the history (created with the first text; none for the apology). After a tool
   * round the reply goes on in a new agent turn, which starts at `msgFrom` characters of `textSent`.
   */
  msg: ChatMessage | undefined;
  msgFrom = 0;
  /** The next text continues the reply after a tool round: keep a space between them. */
  spaceNext = false;
  /** Audio of it was handed to the sink. */
  audible = false;
  audioBytes = 0;
  /** End of each spoken word, seconds from the start of the reply's audio (when TTS reports them). */
  readonly wordEnds: number[] = [];
  /** Where the current TTS stream's audio starts in the reply (it continues a lost one): its word times shift. */
  ttsOffsetSec = 0;
  llmDone = false;
  ttsDone = false;
  ttsRetried = false;
  /** Times this reply was continued on a new TTS stream after audio had been heard. */
  ttsResumes = 0;
  cancelled = false;

  constructor(id: number, marks: Record<string, number>, fixedText?: string, faultReason?: string) {
    this.id = id;
    this.marks = marks;
    this.fixedText = fixedText;
    this.faultReason = faultReason;
  }

  /** An answer from the model (not a greeting, not the apology): the caller talking on may drop it unheard. */
  get fromModel(): boolean {
    return this.faultReason === undefined && this.fixedText === undefined;
  }

  /** Of `text` (the reply so far, or the part heard), the words of its current agent turn. */
  msgPart(text: string): string {
    const words = (t: string) => t.trim().split(/\s+/).filter(Boolean);
    if (this.msgFrom === 0) return text.trim();
    return words(text)
      .slice(words(this.textSent.slice(0, this.msgFrom)).length)
      .join(' ');
  }

  /** Stop it for good: no more model text, no more audio. */
  cancel(): void {
    this.cancelled = true;
    this.abort.abort();
    this.tts?.cancel();
  }

  /** The part of the reply heard in `heardMs`: by word timings when TTS gave them, else by speaking rate. */
  heardText(heardMs: number, ttsRate: number): string {
    const tokens = this.textSent.trim().split(/\s+/).filter(Boolean);
    if (heardMs <= 0 || tokens.length === 0) return '';
    let n = 0;
    const ends = this.wordEnds;
    if (ends.length > 0) {
      const cut = heardMs / 1000 + 0.05;
      while (n < ends.length && ends[n]! <= cut) n++;
    } else {
      const producedMs = this.#producedMs(ttsRate);
      const chars =
        this.ttsDone && producedMs > 0
          ? (this.textSent.length * Math.min(heardMs, producedMs)) / producedMs
          : (heardMs / 1000) * CHARS_PER_SECOND;
      let len = 0;
      while (n < tokens.length && len + tokens[n]!.length <= chars) len += tokens[n++]!.length + 1;
    }
    return tokens.slice(0, Math.min(n, tokens.length)).join(' ');
  }

  /**
   * The TTS stream broke after some audio: keep the words whose audio came in full and return the text still
   * to be synthesized (from the first word that did not), or undefined when TTS gave no word times to tell.
   * The next stream's word times count from the end of the audio so far.
   */
  resumePoint(ttsRate: number): string | undefined {
    const ends = this.wordEnds;
    if (ends.length === 0) return undefined;
    const producedSec = this.#producedMs(ttsRate) / 1000;
    let n = 0;
    while (n < ends.length && ends[n]! <= producedSec + 0.01) n++;
    ends.length = n;
    this.ttsOffsetSec = producedSec;
    const tokens = this.textSent.trim().split(/\s+/).filter(Boolean);
    const rest = tokens.slice(n).join(' ');
    // Later text is pushed as the model streams it; keep the space that separates it.
    return rest && /\s$/.test(this.textSent) ? `${rest} ` : rest;
  }

  /** What TTS produced audio for (a reply cut short by a TTS failure). */
  producedText(ttsRate: number): string {
    return this.heardText(this.#producedMs(ttsRate), ttsRate);
  }

  #producedMs(ttsRate: number): number {
    return (this.audioBytes / 2 / ttsRate) * 1000;
  }
}

/**
 * Turn taking for the cascade, as data and pure functions: speech-to-text events in, decisions out. No timers,
 * no I/O: the agent executes the decisions (send Finalize, answer, show a partial transcript) and owns timing.
 *
 * Policy (TurnPolicy):
 * - a caller turn ends on the recognizer's `speech_final` (its endpointing saw silence) or on `UtteranceEnd`
 *   (a gap in words), whichever `endOn` names; UtteranceEnd always ends a turn whose words are all final, so a
 *   missing speech_final (noise at the end, a short answer) cannot leave the caller waiting;
 * - if UtteranceEnd (or the agent) wants the turn ended while words are still only interim, the decision is
 *   `finalize`: the agent asks the recognizer to finalize and the final (`from_finalize`) ends the turn; if it
 *   does not come in time the agent calls `forceEnd()` and the interim words are used;
 * - finals can overlap in time (a from_finalize final repeating words of an earlier one): words that start
 *   before the end of what is already kept are dropped, so nothing is said twice;
 * - a turn with no real words — empty, punctuation only, only fillers ("uh", "hmm"), or words the recognizer is
 *   not confident about (a cough, a door) — is `ignored`: no answer.
 */
import type { SttResult, SttWord } from './stages.ts';

/** What ends a caller's turn: the recognizer's endpointing (`speech_final`) or a gap in words. */
export const TURN_END_ON = ['speech_final', 'utterance_end'] as const;
export type TurnEndOn = (typeof TURN_END_ON)[number];

export interface TurnPolicy {
  endOn: TurnEndOn;
  /** Mean word confidence under which a turn counts as noise. Default 0.35. */
  minConfidence?: number;
  /** Words that alone do not make a turn (lower case, no punctuation). */
  fillers?: ReadonlySet<string>;
}

export const DEFAULT_FILLERS: ReadonlySet<string> = new Set([
  'uh',
  'um',
  'umm',
  'uhm',
  'er',
  'erm',
  'ah',
  'hm',
  'hmm',
  'mm',
  'mhm',
  'mmm',
]);

export type TurnDecision =
  | { kind: 'none' }
  /** The caller's utterance so far (finals + current interim), for the live transcript. */
  | { kind: 'partial'; text: string }
  /** Ask the recognizer to finalize; end the turn on the from_finalize final (or forceEnd() after a timeout). */
  | { kind: 'finalize' }
  /** The caller's turn is over: answer `text`. `lastWordEnd` in seconds of the stream's audio (-1 unknown). */
  | { kind: 'end'; text: string; lastWordEnd: number; words: number }
  /** The turn is over but holds nothing to answer. */
  | { kind: 'ignored'; text: string; reason: 'empty' | 'fillers' | 'low-confidence' };

const NONE: TurnDecision = { kind: 'none' };
const EPS = 0.02;

interface KeptWord {
  word: string;
  start: number;
  end: number;
  confidence: number;
}

function normalize(w: string): string {
  return w.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '');
}

/** Collects one caller turn from recognizer results and decides when it is over. */
export class TurnAssembler {
  readonly #endOn: TurnEndOn;
  readonly #minConfidence: number;
  readonly #fillers: ReadonlySet<string>;
  /** Final words of the turn so far. */
  #words: KeptWord[] = [];
  /** Finals without word timings (kept as text). */
  #extraText: string[] = [];
  #keptEnd = -1;
  #interim = '';
  #interimWords: SttWord[] = [];
  #awaitingFinalize = false;

  constructor(policy: TurnPolicy) {
    this.#endOn = policy.endOn;
    this.#minConfidence = policy.minConfidence ?? 0.35;
    this.#fillers = policy.fillers ?? DEFAULT_FILLERS;
  }

  /** Anything heard in this turn (final or interim words). */
  get hasWords(): boolean {
    return this.#words.length > 0 || this.#extraText.length > 0 || this.#interim.trim() !== '';
  }

  /** `text` has a word that is not a filler ("uh", "hmm"), by this policy's fillers. */
  hasRealWords(text: string): boolean {
    return wordsOf(text).some((w) => !this.#fillers.has(w));
  }

  /** The turn is waiting for a from_finalize final. */
  get finalizing(): boolean {
    return this.#awaitingFinalize;
  }

  /** The utterance so far: final words, then the current interim. */
  get text(): string {
    const fin = this.#finalText();
    const interim = this.#interim.trim();
    return interim ? (fin ? `${fin} ${interim}` : interim) : fin;
  }

  onResult(r: SttResult): TurnDecision {
    if (!r.isFinal) {
      this.#interim = r.text;
      this.#interimWords = r.words;
      const text = this.text;
      return text ? { kind: 'partial', text } : NONE;
    }
    this.#interim = '';
    this.#interimWords = [];
    this.#merge(r);
    if (this.#awaitingFinalize && r.fromFinalize) return this.#end();
    if (r.speechFinal && this.#endOn === 'speech_final') {
      if (!this.hasWords) return NONE; // speech_final on silence: nothing to end
      return this.#end();
    }
    const text = this.text;
    return text ? { kind: 'partial', text } : NONE;
  }

  onUtteranceEnd(): TurnDecision {
    if (this.#awaitingFinalize) return NONE;
    if (this.#interim.trim() !== '') {
      this.#awaitingFinalize = true;
      return { kind: 'finalize' };
    }
    if (this.#words.length === 0 && this.#extraText.length === 0) return NONE;
    return this.#end();
  }

  /** End the turn now with what is there (finalize timed out, or the caller hung up mid-sentence). */
  forceEnd(): TurnDecision {
    this.#keepInterim();
    if (!this.hasWords) {
      this.reset();
      return NONE;
    }
    return this.#end();
  }

  /**
   * The recognizer's stream was replaced mid-turn: the words so far (interim ones too) stay in the turn and the
   * new stream's words follow them. Their times belong to the old stream, so they are forgotten (-1: unknown).
   */
  carryOver(): void {
    this.#keepInterim();
    this.#words = this.#words.map((w) => ({ ...w, start: -1, end: -1 }));
    this.#keptEnd = -1;
    this.#awaitingFinalize = false;
  }

  /** Words heard only as an interim result become part of the turn, as if they had been final. */
  #keepInterim(): void {
    if (this.#interim.trim() !== '') {
      this.#merge({
        text: this.#interim,
        isFinal: true,
        speechFinal: false,
        fromFinalize: false,
        start: 0,
        duration: 0,
        confidence: 1,
        words: this.#interimWords,
      });
    }
    this.#interim = '';
    this.#interimWords = [];
  }

  reset(): void {
    this.#words = [];
    this.#extraText = [];
    this.#keptEnd = -1;
    this.#interim = '';
    this.#interimWords = [];
    this.#awaitingFinalize = false;
  }

  #finalText(): string {
    const ws = this.#words.map((w) => w.word).join(' ');
    const extra = this.#extraText.join(' ');
    return ws && extra ? `${ws} ${extra}` : ws || extra;
  }

  #merge(r: SttResult): void {
    if (r.words.length > 0) {
      for (const w of r.words) {
        if (w.start < this.#keptEnd - EPS) continue; // already kept (overlapping final)
        const word = w.word.trim();
        if (!word) continue;
        this.#words.push({ word, start: w.start, end: w.end, confidence: w.confidence });
        this.#keptEnd = Math.max(this.#keptEnd, w.end);
      }
      return;
    }
    const text = r.text.trim();
    if (!text) return;
    const end = r.start + r.duration;
    if (r.duration > 0 && end <= this.#keptEnd + EPS) return; // a repeat of what is kept
    this.#extraText.push(text);
    if (r.duration > 0) this.#keptEnd = Math.max(this.#keptEnd, end);
  }

  #end(): TurnDecision {
    const text = this.#finalText().trim();
    const words = this.#words;
    const lastWordEnd = words.length > 0 ? words[words.length - 1]!.end : this.#keptEnd;
    const decision = classify(text, words, this.#extraText.length, this.#fillers, this.#minConfidence, lastWordEnd);
    this.reset();
    return decision;
  }
}

/** The words of a transcript, lower-cased and without punctuation. */
function wordsOf(text: string): string[] {
  return text.split(/\s+/).map(normalize).filter(Boolean);
}

function classify(
  text: string,
  words: readonly KeptWord[],
  extraTexts: number,
  fillers: ReadonlySet<string>,
  minConfidence: number,
  lastWordEnd: number,
): TurnDecision {
  const said = wordsOf(text);
  if (said.length === 0) return { kind: 'ignored', text, reason: 'empty' };
  if (said.every((t) => fillers.has(t))) return { kind: 'ignored', text, reason: 'fillers' };
  if (words.length > 0 && extraTexts === 0) {
    const mean = words.reduce((s, w) => s + w.confidence, 0) / words.length;
    if (mean < minConfidence) return { kind: 'ignored', text, reason: 'low-confidence' };
  }
  return { kind: 'end', text, lastWordEnd, words: said.length };
}

/**
 * Text → TTS pieces for the cascade: cuts the model's streamed reply at sentence (or, for the first piece, clause)
 * boundaries so speech can start before the whole reply is written. Pure: no timers, no I/O.
 */

export interface ChunkerOptions {
  /** The first piece may end at a clause (, ; : —) once it has this many characters. Default 24. */
  firstClauseMinChars?: number;
  /** Later pieces end at sentence ends only, and are at least this long (shorter sentences are joined). Default 1. */
  minChars?: number;
}

const ABBREVIATIONS = new Set([
  'mr',
  'mrs',
  'ms',
  'dr',
  'prof',
  'st',
  'vs',
  'etc',
  'e.g',
  'i.e',
  'no',
  'approx',
  'jr',
  'sr',
  'inc',
  'ltd',
  'co',
]);

/**
 * Cuts the model's streamed text into pieces for streaming TTS: the first sentence (or first clause, once long
 * enough) as soon as it is complete, so speech starts early; then whole sentences. `flush()` returns the rest.
 */
export class SentenceChunker {
  #buf = '';
  #pieces = 0;
  readonly #firstClauseMinChars: number;
  readonly #minChars: number;

  constructor(opts: ChunkerOptions = {}) {
    this.#firstClauseMinChars = opts.firstClauseMinChars ?? 24;
    this.#minChars = opts.minChars ?? 1;
  }

  /** Text taken in so far and not yet returned. */
  get pending(): string {
    return this.#buf;
  }

  push(delta: string): string[] {
    this.#buf += delta;
    const out: string[] = [];
    for (;;) {
      const cut = this.#findCut();
      if (cut < 0) break;
      const piece = this.#buf.slice(0, cut);
      this.#buf = this.#buf.slice(cut);
      if (piece.trim()) {
        out.push(piece);
        this.#pieces++;
      }
    }
    return out;
  }

  flush(): string {
    const rest = this.#buf;
    this.#buf = '';
    if (rest.trim()) this.#pieces++;
    return rest.trim() ? rest : '';
  }

  /** Index just after a boundary followed by whitespace (the whitespace stays with this piece), or -1. */
  #findCut(): number {
    const s = this.#buf;
    const first = this.#pieces === 0;
    for (let i = 0; i < s.length - 1; i++) {
      const ch = s[i]!;
      const next = s[i + 1]!;
      if (ch === '\n') {
        if (s.slice(0, i).trim()) return i + 1;
        continue;
      }
      if (!/\s/.test(next)) continue;
      let boundary = false;
      if (ch === '.' || ch === '!' || ch === '?' || ch === '…') {
        boundary = ch !== '.' || !this.#isAbbreviation(s, i);
        if (boundary && i + 1 < this.#minChars && !first) boundary = false;
      } else if (
        first &&
        (ch === ',' || ch === ';' || ch === ':' || ch === '—') &&
        i + 1 >= this.#firstClauseMinChars
      ) {
        boundary = true;
      }
      if (boundary) {
        let j = i + 1;
        while (j < s.length && /\s/.test(s[j]!)) j++;
        return j;
      }
    }
    return -1;
  }

  #isAbbreviation(s: string, dot: number): boolean {
    let k = dot - 1;
    while (k >= 0 && /[\p{L}.]/u.test(s[k]!)) k--;
    const word = s.slice(k + 1, dot).toLowerCase();
    if (ABBREVIATIONS.has(word)) return true;
    return word.length === 1 && /\p{Lu}/u.test(s[dot - 1]!); // an initial: "J. Smith"
  }
}

/**
 * Most of what Gemini Live sends during a reply is one piece of model audio per message:
 * `{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000","data":"..."}}]}}}`.
 * Recognising exactly that shape in the frame's bytes skips what the SDK does with every message (decode it to
 * a string, JSON.parse, an async handler, copy it onto a LiveServerMessage): ~40% of what a message costs
 * (`node bench/server-audio.ts`). Anything else, however small the difference (another field, an escape, a
 * second part), is not recognised and goes the SDK's way: the shape decides only the speed, never the result.
 */
import type { LiveServerMessage } from '@google/genai';

const bytes = (s: string) => Buffer.from(s, 'latin1');
/** The tokens before the inlineData fields, each possibly preceded by JSON whitespace. */
const OPENING = [
  '{',
  '"serverContent"',
  ':',
  '{',
  '"modelTurn"',
  ':',
  '{',
  '"parts"',
  ':',
  '[',
  '{',
  '"inlineData"',
  ':',
  '{',
].map(bytes);
const CLOSING = ['}', '}', ']', '}', '}', '}'].map(bytes);
const MIME_KEY = bytes('"mimeType"');
const DATA_KEY = bytes('"data"');
const COMMA = bytes(',');
const COLON = bytes(':');
/** Printable ASCII: what a mime type is made of. */
const ASCII = /^[\x20-\x7e]*$/;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** A cursor over one frame: every step either matches and moves on, or reports a miss. */
class Cursor {
  readonly #b: Buffer;
  #i = 0;

  constructor(b: Buffer) {
    this.#b = b;
  }

  #skipSpace(): void {
    const b = this.#b;
    let i = this.#i;
    while (i < b.length) {
      const c = b[i]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    this.#i = i;
  }

  /** The exact bytes `t` next (after whitespace). A loop: tokens are a few bytes, a native compare costs more. */
  token(t: Buffer): boolean {
    this.#skipSpace();
    const b = this.#b;
    const at = this.#i;
    if (at + t.length > b.length) return false;
    for (let k = 0; k < t.length; k++) if (b[at + k] !== t[k]) return false;
    this.#i = at + t.length;
    return true;
  }

  /** A JSON string without escapes next: its contents, or undefined. */
  plainString(): string | undefined {
    this.#skipSpace();
    const b = this.#b;
    if (b[this.#i] !== QUOTE) return undefined;
    const start = this.#i + 1;
    const end = b.indexOf(QUOTE, start);
    if (end < 0) return undefined;
    const slash = b.indexOf(BACKSLASH, start);
    if (slash >= 0 && slash < end) return undefined;
    this.#i = end + 1;
    return b.toString('latin1', start, end);
  }

  /** Nothing but whitespace is left. */
  atEnd(): boolean {
    this.#skipSpace();
    return this.#i === this.#b.length;
  }
}

/**
 * The message, when `frame` is a single piece of inline audio and nothing else (fields in either order, any
 * JSON whitespace); undefined for every other message. The audio stays base64, as the SDK would hand it over.
 */
export function serverAudioMessage(frame: Buffer): LiveServerMessage | undefined {
  const c = new Cursor(frame);
  for (const t of OPENING) if (!c.token(t)) return undefined;
  let mimeType: string | undefined;
  let data: string | undefined;
  for (let field = 0; field < 2; field++) {
    if (field === 1 && !c.token(COMMA)) return undefined;
    if (mimeType === undefined && c.token(MIME_KEY)) {
      mimeType = c.token(COLON) ? c.plainString() : undefined;
      if (mimeType === undefined) return undefined;
    } else if (data === undefined && c.token(DATA_KEY)) {
      data = c.token(COLON) ? c.plainString() : undefined;
      if (data === undefined) return undefined;
    } else {
      return undefined;
    }
  }
  for (const t of CLOSING) if (!c.token(t)) return undefined;
  // Bytes were read as latin1: a mime type that is not plain ASCII would read differently than the SDK reads it.
  // (In `data` such bytes are not base64 either way, and base64 decoding skips them both ways.)
  if (!c.atEnd() || !mimeType?.startsWith('audio/') || !ASCII.test(mimeType)) return undefined;
  return { serverContent: { modelTurn: { parts: [{ inlineData: { mimeType, data } }] } } } as LiveServerMessage;
}

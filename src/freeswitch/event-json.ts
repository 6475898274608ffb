/**
 * An `event json` body read lazily: only the headers callbridge asks for are looked up and decoded.
 *
 * FreeSWITCH sends every playback chunk's PLAYBACK_START and CHANNEL_EXECUTE_COMPLETE with all of the
 * channel's variables (~150 headers, ~6.5 KB; `verbose_events` cannot drop them: FreeSWITCH always adds the
 * variables to these events, see README "ESL events"), and callbridge reads 3–5 of them. `JSON.parse` builds
 * all 150 strings and a dictionary-mode object per event; here `header(name)` finds `"name":"` in the text and
 * decodes that one value.
 *
 * Why a text search is exact on FreeSWITCH's output (cJSON_PrintUnformatted of a flat object of strings and
 * arrays of strings): inside a JSON string every `"` is escaped as `\"`, so `"name":` where the quote is
 * preceded by `{` or `,` can only be a key of the top-level object. The first occurrence is taken, as
 * FreeSWITCH's own switch_event_get_header does when a header was added twice (JSON.parse would take the last);
 * the search stops there, so the early headers (Event-Name, Unique-ID) cost little.
 * Anything else — an array value (channel variables set with `push`), a non-string, a name that JSON would
 * escape, a body that is not `{...}` — falls back to JSON.parse of the whole body, once, which also turns a
 * malformed body into EslProtocolError as before.
 */
import { EslProtocolError } from './esl-frames.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** A quote, a backslash or a control character: the name would be escaped in JSON. */
function needsEscape(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === QUOTE || c === BACKSLASH) return true;
  }
  return false;
}
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;

export function parseEventObject(body: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new EslProtocolError('text/event-json body is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new EslProtocolError('text/event-json body is not a JSON object');
  return v as Record<string, unknown>;
}

/** The body has the shape FreeSWITCH sends (`{"...":...}`): worth searching instead of parsing. */
export function looksLikeEventObject(body: string): boolean {
  return body.length > 2 && body.charCodeAt(0) === OPEN_BRACE && body.charCodeAt(1) === QUOTE && body.endsWith('}');
}

/**
 * The raw string value of top-level key `name` in `body`: a string, `undefined` when the key is absent, or
 * `null` when the value is not a plain JSON string (or the name needs escaping): the caller parses then.
 */
export function findStringValue(body: string, name: string): string | undefined | null {
  if (needsEscape(name)) return null;
  const pattern = `"${name}":`;
  let at = body.indexOf(pattern, 1);
  while (at > 0) {
    const before = body.charCodeAt(at - 1);
    if (before === COMMA || before === OPEN_BRACE) break;
    at = body.indexOf(pattern, at + pattern.length);
  }
  if (at <= 0) return undefined;
  const open = at + pattern.length;
  if (body.charCodeAt(open) !== QUOTE) return null;
  let close = body.indexOf('"', open + 1);
  while (close > 0 && escaped(body, close)) close = body.indexOf('"', close + 1);
  if (close < 0) return null;
  const raw = body.slice(open + 1, close);
  // A copy, not a slice: V8 slices keep the whole ~6.5 KB body alive for as long as the value lives (a call's
  // uuid, every chunk path the playout remembers).
  if (raw.indexOf('\\') < 0) return flat(raw);
  try {
    return JSON.parse(body.slice(open, close + 1)) as string;
  } catch {
    return null;
  }
}

/** `s` in a string of its own (V8 flattens the concatenation into a new string; the slice then drops the space). */
function flat(s: string): string {
  return s.length < 13 ? s : ` ${s}`.slice(1);
}

/** The quote at `i` is preceded by an odd number of backslashes. */
function escaped(text: string, i: number): boolean {
  let n = 0;
  while (i - 1 - n >= 0 && text.charCodeAt(i - 1 - n) === BACKSLASH) n++;
  return n % 2 === 1;
}

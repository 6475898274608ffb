/** The mod_event_socket wire format: incoming command packets, outgoing replies and events. */
import { eventHeader, type FsEvent, type Header, type JsonRun, VARS, type VarList } from './event-templates.ts';

export interface EslPacket {
  /** The command line, e.g. `api uuid_kill 123` or `sendmsg 123`. */
  line: string;
  /** The `Name: value` lines that followed it (sendmsg, bgapi Job-UUID, ...). */
  headers: Record<string, string>;
  body?: string;
}

/** Splits the client's byte stream into packets: a command line, header lines, a blank line, an optional body. */
export class PacketParser {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): EslPacket[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const packets: EslPacket[] = [];
    for (;;) {
      // Clients send blank lines between commands; skip them.
      let start = 0;
      while (start < this.#buf.length && (this.#buf[start] === 0x0a || this.#buf[start] === 0x0d)) start++;
      if (start) this.#buf = this.#buf.subarray(start);
      const end = this.#buf.indexOf('\n\n');
      if (end < 0) break;
      const lines = this.#buf
        .subarray(0, end)
        .toString('utf8')
        .split('\n')
        .map((l) => l.replace(/\r$/, ''));
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const colon = l.indexOf(':');
        if (colon > 0) headers[l.slice(0, colon).trim()] = l.slice(colon + 1).trim();
      }
      const length = Number(Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-length')?.[1] ?? 0);
      if (this.#buf.length < end + 2 + length) break;
      const packet: EslPacket = { line: (lines[0] ?? '').trim(), headers };
      if (length > 0) packet.body = this.#buf.subarray(end + 2, end + 2 + length).toString('utf8');
      this.#buf = this.#buf.subarray(end + 2 + length);
      packets.push(packet);
    }
    return packets;
  }
}

export const authRequest = (): string => 'Content-Type: auth/request\n\n';

export function commandReply(text: string, extra: Record<string, string> = {}): string {
  let out = `Content-Type: command/reply\nReply-Text: ${text}\n`;
  for (const [k, v] of Object.entries(extra)) out += `${k}: ${v}\n`;
  return `${out}\n`;
}

export const apiResponse = (body: string): string =>
  `Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`;

const GOODBYE = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';
export const disconnectNotice = (): string =>
  `Content-Type: text/disconnect-notice\nContent-Length: ${Buffer.byteLength(GOODBYE)}\n\n${GOODBYE}`;

// An event is serialized once per format and shared by every connection (hundreds of calls in benchmarks).
// Kept on the event under symbols (a WeakMap entry per event was a measurable share of the GC's work).
const JSON_WIRE = Symbol('event json');
const PLAIN_WIRE = Symbol('event plain');
type Serialized = FsEvent & { [JSON_WIRE]?: string; [PLAIN_WIRE]?: string };

/**
 * FreeSWITCH keeps an array variable (set with `push`, or the dialplan's DP_MATCH) as the string
 * `ARRAY::a|:b`; `event json` and `uuid_dump json` send it as a JSON array (captured: resync), `event plain`
 * and `uuid_getvar` as that string.
 */
export function jsonValue(value: string): string | string[] {
  return value.startsWith('ARRAY::') ? value.slice(7).split('|:') : value;
}

/** `event json`: one JSON object of string values (arrays for array variables); a body goes under `_body` after a Content-Length header. */
export function eventAsJson(event: Serialized): string {
  let wire = event[JSON_WIRE];
  if (!wire) {
    const json = splicedJson(event) ?? wholeJson(event);
    wire = `Content-Length: ${json.bytes}\nContent-Type: text/event-json\n\n${json.text}`;
    event[JSON_WIRE] = wire;
  }
  return wire;
}

interface Json {
  text: string;
  /** Its length in UTF-8 bytes. */
  bytes: number;
}

function wholeJson(event: FsEvent): Json {
  const obj: Record<string, string | string[]> = {};
  for (const [k, v] of event.headers) obj[k] = k.startsWith('variable_') ? jsonValue(v) : v;
  if (event.body !== undefined) {
    obj['Content-Length'] = String(Buffer.byteLength(event.body));
    obj['_body'] = event.body;
  }
  const text = JSON.stringify(obj);
  return { text, bytes: Buffer.byteLength(text) };
}

const seen = new Set<string>();
/** `"Name":` per header name (a few hundred distinct names at most; bounded all the same). */
const keyJson = new Map<string, string>();

/**
 * Per channel and kind of event, the last such event's headers outside the variable block and their members:
 * most (the caller profile, the channel state, the core headers) are the same from one event to the next.
 */
interface Shape {
  keys: string[];
  values: string[];
  members: string[];
}
const shapes = new Map<string, Map<string, Shape>>();

/**
 * The same text as wholeJson, with the channel's variables (most of an event's bytes) spliced in from
 * variablesJson and the other members reused from the channel's last event of that kind where unchanged.
 * Undefined (use wholeJson) whenever the object's own rules would reorder or merge members: a repeated header
 * name (the last value wins at the first place), a `variable_` header outside the block, a name starting with
 * a digit (array-index names come first in an object), or `__proto__`.
 */
function splicedJson(event: FsEvent): Json | undefined {
  const vars = event[VARS];
  if (!vars) return undefined;
  const block = { at: vars.at, headers: vars.list.headers };
  const { headers, body } = event;
  const end = block.at + block.headers.length;
  const count = headers.length - block.headers.length + (body !== undefined ? 2 : 0);
  const uuid = event.uuid ?? '';
  let byKind = shapes.get(uuid);
  if (!byKind) {
    if (shapes.size >= 5000) shapes.clear();
    byKind = new Map();
    shapes.set(uuid, byKind);
  }
  const kind = event.subclass === undefined ? event.name : `${event.name} ${event.subclass}`;
  // The last event's shape is updated in place: new arrays per event would outlive the young generation (a
  // channel's next event of a kind comes hundreds of ms later) and make most of the emulator's old garbage.
  let shape = byKind.get(kind);
  // The previous event's names were checked: the same names in the same order need no new check.
  let sameNames = shape !== undefined && shape.keys.length === count;
  if (!sameNames) {
    shape = { keys: new Array(count), values: new Array(count), members: new Array(count) };
    byKind.set(kind, shape);
  }
  const { keys, values, members } = shape!;
  let j = 0;
  const add = (k: string, v: string) => {
    if (sameNames && keys[j] !== k) sameNames = false;
    if (!sameNames || values[j] !== v) {
      keys[j] = k;
      values[j] = v;
      members[j] = keyJsonOf(k) + jsonString(v);
    }
    j++;
  };
  for (let i = 0; i < block.at; i++) add(headers[i]![0], headers[i]![1]);
  for (let i = end; i < headers.length; i++) add(headers[i]![0], headers[i]![1]);
  if (body !== undefined) {
    add('Content-Length', String(Buffer.byteLength(body)));
    add('_body', body);
  }
  if (!sameNames && !plainNames(keys)) {
    byKind.delete(kind); // names that cannot be spliced: the next event of this kind is checked afresh
    return undefined;
  }
  if (event.name === 'CHANNEL_DESTROY') shapes.delete(uuid);
  const before = members.slice(0, block.at).join(',');
  const after = members.slice(block.at).join(',');
  const head = block.at > 0 ? `{${before},` : '{';
  const tail = after ? `,${after}}` : '}';
  const json = variablesJson(vars.list);
  return { text: head + json.text + tail, bytes: Buffer.byteLength(head) + json.bytes + Buffer.byteLength(tail) };
}

/** Names that a JSON object keeps once each, in this order, and that are not variables. */
function plainNames(keys: readonly string[]): boolean {
  seen.clear();
  for (const k of keys) {
    const c = k.charCodeAt(0);
    if (seen.has(k) || (c >= 48 && c <= 57) || k.startsWith('variable_') || k === '__proto__') return false;
    seen.add(k);
  }
  return true;
}

function keyJsonOf(k: string): string {
  let key = keyJson.get(k);
  if (key === undefined) {
    key = `${JSON.stringify(k)}:`;
    if (keyJson.size < 10_000) keyJson.set(k, key);
  }
  return key;
}

/** Characters JSON.stringify escapes in a string: `"`, `\\`, controls, surrogates (escaped when unpaired). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
/** JSON.stringify(v), without its call for the plain strings most header values are. */
function jsonString(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/**
 * A channel's variables as event json members (`"variable_a":"x",...`), in runs of SEGMENT variables: a run
 * whose header tuples are all the same as last time (the channel reuses a variable's tuple while its value
 * stays) is reused, so an event after a few variables changed re-serializes only their runs.
 */
const SEGMENT = 16;

function variablesJson(list: VarList): Json {
  const block = list.headers;
  let text = '';
  let bytes = 0;
  for (let i = 0, r = 0; i < block.length; i += SEGMENT, r++) {
    const end = Math.min(i + SEGMENT, block.length);
    let run: JsonRun | undefined = list.runs[r];
    if (!run || !sameTuples(run.tuples, block, i, end)) {
      const tuples = block.slice(i, end);
      const runText = tuples.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(jsonValue(v))}`).join(',');
      run = { tuples, text: runText, bytes: Buffer.byteLength(runText) };
      list.runs[r] = run;
    }
    text = i === 0 ? run.text : `${text},${run.text}`;
    bytes += i === 0 ? run.bytes : run.bytes + 1;
  }
  return { text, bytes };
}

function sameTuples(tuples: readonly Header[], block: readonly Header[], from: number, to: number): boolean {
  if (tuples.length !== to - from) return false;
  for (let i = from; i < to; i++) if (tuples[i - from] !== block[i]) return false;
  return true;
}

/** `event plain`: URL-encoded `Name: value` lines, a blank line, then the body. */
export function eventAsPlain(event: Serialized): string {
  let wire = event[PLAIN_WIRE];
  if (!wire) {
    let text = '';
    for (const [k, v] of event.headers) text += `${k}: ${encodeURIComponent(v)}\n`;
    text += event.body !== undefined ? `Content-Length: ${Buffer.byteLength(event.body)}\n\n${event.body}` : '\n';
    wire = `Content-Length: ${Buffer.byteLength(text)}\nContent-Type: text/event-plain\n\n${text}`;
    event[PLAIN_WIRE] = wire;
  }
  return wire;
}

export interface Filter {
  header: string;
  value: string;
}

/**
 * mod_event_socket's filter rule: with filters set, an event passes if one positive filter matches
 * (case-insensitive, or a `/regex/`), and no `-` (negative) filter matches. Events lacking the header
 * (BACKGROUND_JOB has no Unique-ID) do not match.
 */
export function passesFilters(event: FsEvent, filters: Filter[]): boolean {
  if (!filters.length) return true;
  let send = false;
  for (const f of filters) {
    const actual = eventHeader(event, f.header);
    if (actual === undefined) continue;
    let value = f.value;
    let positive = true;
    while (value && '+- '.includes(value[0]!)) {
      if (value[0] === '-') positive = false;
      else if (value[0] === '+') positive = true;
      value = value.slice(1);
    }
    if (send && positive) continue;
    const matches = value.startsWith('/') ? regexMatch(value, actual) : actual.toLowerCase() === value.toLowerCase();
    if (!matches) continue;
    if (!positive) return false;
    send = true;
  }
  return send;
}

function regexMatch(spec: string, actual: string): boolean {
  const body = spec.endsWith('/') && spec.length > 1 ? spec.slice(1, -1) : spec.slice(1);
  try {
    return new RegExp(body).test(actual);
  } catch {
    return false;
  }
}

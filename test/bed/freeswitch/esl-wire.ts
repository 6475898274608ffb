/** The mod_event_socket wire format: incoming command packets, outgoing replies and events. */
import { eventHeader, type FsEvent, type Header, varBlockOf } from './event-templates.ts';

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
const jsonCache = new WeakMap<FsEvent, readonly (string | Buffer)[]>();
const plainCache = new WeakMap<FsEvent, string>();
/** A channel's variable block as event json members (`"variable_a":"x",...`), once per block. */
const varJsonCache = new WeakMap<readonly Header[], Buffer>();

/**
 * FreeSWITCH keeps an array variable (set with `push`, or the dialplan's DP_MATCH) as the string
 * `ARRAY::a|:b`; `event json` and `uuid_dump json` send it as a JSON array (captured: resync), `event plain`
 * and `uuid_getvar` as that string.
 */
export function jsonValue(value: string): string | string[] {
  return value.startsWith('ARRAY::') ? value.slice(7).split('|:') : value;
}

/** `event json`: one JSON object of string values (arrays for array variables); a body goes under `_body` after a Content-Length header. */
export function eventAsJson(event: FsEvent): string {
  return eventAsJsonChunks(event)
    .map((c) => (typeof c === 'string' ? c : c.toString('utf8')))
    .join('');
}

/**
 * `event json` as pieces to write in order: the channel's variables (most of an event's bytes) are one Buffer
 * shared by every event fired while they did not change, so they are neither serialized nor encoded again.
 */
export function eventAsJsonChunks(event: FsEvent): readonly (string | Buffer)[] {
  let wire = jsonCache.get(event);
  if (!wire) {
    wire = splicedJson(event) ?? [wholeJson(event)];
    jsonCache.set(event, wire);
  }
  return wire;
}

function wholeJson(event: FsEvent): string {
  const obj: Record<string, string | string[]> = {};
  for (const [k, v] of event.headers) obj[k] = k.startsWith('variable_') ? jsonValue(v) : v;
  if (event.body !== undefined) {
    obj['Content-Length'] = String(Buffer.byteLength(event.body));
    obj['_body'] = event.body;
  }
  const json = JSON.stringify(obj);
  return `Content-Length: ${Buffer.byteLength(json)}\nContent-Type: text/event-json\n\n${json}`;
}

/**
 * The same bytes as wholeJson, with the variable block spliced in from its cache. Undefined (use wholeJson)
 * whenever the object's own rules would reorder or merge members: a repeated header name (the last value wins
 * at the first place), a `variable_` header outside the block, or a name starting with a digit (array-index
 * names come first in an object).
 */
function splicedJson(event: FsEvent): (string | Buffer)[] | undefined {
  const block = varBlockOf(event);
  if (!block) return undefined;
  const { headers } = event;
  const end = block.at + block.headers.length;
  const before: Record<string, string> = Object.create(null);
  const after: Record<string, string> = Object.create(null);
  const seen = new Set<string>();
  const put = (into: Record<string, string>, k: string, v: string): boolean => {
    const c = k.charCodeAt(0);
    if (seen.has(k) || (c >= 48 && c <= 57) || k.startsWith('variable_') || k === '__proto__') return false;
    seen.add(k);
    into[k] = v;
    return true;
  };
  for (let i = 0; i < block.at; i++) if (!put(before, headers[i]![0], headers[i]![1])) return undefined;
  for (let i = end; i < headers.length; i++) if (!put(after, headers[i]![0], headers[i]![1])) return undefined;
  if (event.body !== undefined) {
    if (!put(after, 'Content-Length', String(Buffer.byteLength(event.body)))) return undefined;
    if (!put(after, '_body', event.body)) return undefined;
  }
  const vars = variablesJson(block.headers);
  const head = JSON.stringify(before).slice(0, -1) + (block.at > 0 ? ',' : '');
  const tailMembers = JSON.stringify(after).slice(1);
  const tail = tailMembers === '}' ? tailMembers : `,${tailMembers}`;
  const length = Buffer.byteLength(head) + vars.length + Buffer.byteLength(tail);
  return [`Content-Length: ${length}\nContent-Type: text/event-json\n\n${head}`, vars, tail];
}

function variablesJson(block: readonly Header[]): Buffer {
  let json = varJsonCache.get(block);
  if (!json) {
    const obj: Record<string, string | string[]> = {};
    for (const [k, v] of block) obj[k] = jsonValue(v);
    json = Buffer.from(JSON.stringify(obj).slice(1, -1));
    varJsonCache.set(block, json);
  }
  return json;
}

/** `event plain`: URL-encoded `Name: value` lines, a blank line, then the body. */
export function eventAsPlain(event: FsEvent): string {
  let wire = plainCache.get(event);
  if (!wire) {
    let text = '';
    for (const [k, v] of event.headers) text += `${k}: ${encodeURIComponent(v)}\n`;
    text += event.body !== undefined ? `Content-Length: ${Buffer.byteLength(event.body)}\n\n${event.body}` : '\n';
    wire = `Content-Length: ${Buffer.byteLength(text)}\nContent-Type: text/event-plain\n\n${text}`;
    plainCache.set(event, wire);
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

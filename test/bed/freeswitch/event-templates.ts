/**
 * Builds FreeSWITCH events shaped like the captured ones (fixtures/captured.json, extracted from a real
 * FreeSWITCH 1.10.12 by fixtures/extract.ts): the common host/date/sequence headers, the calling
 * file/function/line of each event, and the per-call channel variables in captured order.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';

export type Header = [name: string, value: string];

/** One event as FreeSWITCH fires it: headers in wire order, plus an optional body. */
export interface FsEvent {
  name: string;
  subclass?: string;
  headers: Header[];
  body?: string;
  /** Unique-ID of the channel it belongs to (convenience, not a header). */
  uuid?: string;
  /** performance.now() when fired. */
  at: number;
  /** The channel variables among the headers, as one shared list (a symbol: not part of the event's data). */
  [VARS]?: VarsAt;
}

/** A stretch of a variable list serialized for event json (esl-wire.ts), reused while its header tuples stay. */
export interface JsonRun {
  tuples: readonly Header[];
  text: string;
  bytes: number;
}

/**
 * A channel's variables as `variable_*` headers, one object per version: every event the channel fires while
 * its variables do not change shares it. Event json reuses the serialized runs (`runs`, the channel's, across
 * versions) whose tuples did not change; the whole text is not kept (joining the runs is cheap, and a ~5 KB
 * string kept per channel until its next change outlives the young generation: measured at 400 calls, it was
 * ~9% of what the emulator promoted to the old generation).
 */
export class VarList {
  readonly headers: readonly Header[];
  readonly runs: JsonRun[];

  constructor(headers: readonly Header[], runs: JsonRun[]) {
    this.headers = headers;
    this.runs = runs;
  }
}

/** Where an event's variables are: `event.headers.slice(at, at + list.headers.length)`. */
export const VARS = Symbol('channel variables');
export interface VarsAt {
  at: number;
  list: VarList;
}

export interface CapturedEvent {
  recv: number;
  name: string;
  headers: Record<string, string>;
  body: string;
}

interface CapturedFixture {
  source: string;
  core: Record<string, string>;
  calling: Record<string, [file: string, fn: string, line: string]>;
  vars: Record<string, Header[]>;
  samples: Record<string, CapturedEvent>;
}

export const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/captured.json', import.meta.url), 'utf8'),
) as CapturedFixture;

/** A full captured event, e.g. `capturedSample('CHANNEL_PARK')` or `capturedSample('CUSTOM mod_audio_stream::play')`. */
export function capturedSample(key: string): CapturedEvent {
  const s = fixture.samples[key];
  if (!s) throw new Error(`no captured sample for ${key}`);
  return s;
}

/** A variable phase from the captures with `${placeholders}` filled from `ctx`. */
export function templateVars(phase: string, ctx: Record<string, string>): Header[] {
  const list = fixture.vars[phase];
  if (!list) throw new Error(`no captured variable phase ${phase}`);
  return list.map(([k, v]) => [k, fill(v, ctx)]);
}

function fill(template: string, ctx: Record<string, string>): string {
  return template.includes('${') ? template.replace(/\$\{(\w+)\}/g, (_, key: string) => ctx[key] ?? '') : template;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const CORE_HEADERS: readonly Header[] = Object.entries(fixture.core);

/** Event-Date-Local and Event-Date-GMT (whole seconds), formatted once per second rather than per event. */
let datesOf = { second: Number.NaN, local: '', gmt: '' };
function dateHeaders(nowMs: number): { local: string; gmt: string } {
  const second = Math.floor(nowMs / 1000);
  if (second !== datesOf.second) {
    const date = new Date(nowMs);
    datesOf = {
      second,
      local: `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`,
      gmt: date.toUTCString(),
    };
  }
  return datesOf;
}

/** Assigns Event-Sequence and the common headers; one per emulator "boot" (a restart gets a new Core-UUID). */
export class EventFactory {
  coreUuid = randomUUID();
  #sequence = 0;

  /** An event fired that nobody takes: it is not built, but it has its Event-Sequence number all the same. */
  skip(): void {
    ++this.#sequence;
  }

  reboot(): void {
    this.coreUuid = randomUUID();
    this.#sequence = 0;
  }

  /**
   * `pre`: headers FreeSWITCH adds before the channel data (Media-Bug-*, Original-Channel-Call-State, ...);
   * `data`: channel data; `post`: headers added after it (Application-*, Playback-*, DTMF-*, ...).
   * `callingKey` picks the Event-Calling-* triple (defaults to the event name).
   */
  make(
    name: string,
    parts: {
      subclass?: string;
      callingKey?: string;
      calling?: [string, string, string];
      pre?: Header[];
      data?: Header[];
      /** The channel's `variable_*` headers (after `data`), no empty values: kept as one shared list. */
      vars?: VarList;
      post?: Header[];
      body?: string;
      uuid?: string;
    } = {},
  ): FsEvent {
    const nowMs = performance.timeOrigin + performance.now();
    const dates = dateHeaders(nowMs);
    const calling = parts.calling ??
      fixture.calling[parts.callingKey ?? name] ?? ['switch_event.c', 'switch_event_fire_detailed', '0'];
    const headers: Header[] = [];
    if (parts.subclass) headers.push(['Event-Subclass', parts.subclass]);
    headers.push(['Event-Name', name], ['Core-UUID', this.coreUuid]);
    for (const h of CORE_HEADERS) headers.push([h[0], h[1]]);
    headers.push(
      ['Event-Date-Local', dates.local],
      ['Event-Date-GMT', dates.gmt],
      ['Event-Date-Timestamp', String(Math.round(nowMs * 1000))],
      ['Event-Calling-File', calling[0]],
      ['Event-Calling-Function', calling[1]],
      ['Event-Calling-Line-Number', calling[2]],
      ['Event-Sequence', String(++this.#sequence)],
    );
    if (parts.pre) headers.push(...parts.pre);
    if (parts.data) headers.push(...parts.data);
    // FreeSWITCH leaves out headers whose value is empty.
    const kept = headers.filter(([, v]) => v !== '');
    const varsAt = kept.length;
    if (parts.vars) for (const h of parts.vars.headers) kept.push(h);
    if (parts.post) for (const h of parts.post) if (h[1] !== '') kept.push(h);
    const event: FsEvent = { name, headers: kept, at: performance.now() };
    if (parts.vars?.headers.length) event[VARS] = { at: varsAt, list: parts.vars };
    if (parts.subclass) event.subclass = parts.subclass;
    if (parts.body !== undefined) event.body = parts.body;
    if (parts.uuid) event.uuid = parts.uuid;
    return event;
  }
}

/** Case-insensitive header lookup, like switch_event_get_header. */
export function eventHeader(event: FsEvent, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of event.headers) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** Microseconds since the epoch, as FreeSWITCH's time headers. */
export function epochMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

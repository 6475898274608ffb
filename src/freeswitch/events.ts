import { findStringValue, looksLikeEventObject, parseEventObject } from './event-json.ts';

/**
 * Typed views of the few FreeSWITCH events callbridge acts on. Raw events carry ~150 headers; we read the
 * handful we need, once, here. Elsewhere only esl.ts reads headers (the ESL framing: Event-Name, Reply-Text,
 * Job-UUID), and channel variables are read by name through `ChannelInfo.variable()`.
 */

/** What the ESL client hands over: one event as FreeSWITCH sent it (`event json`). */
export interface RawEvent {
  readonly name: string;
  readonly subclass: string | undefined;
  header(name: string): string | undefined;
  readonly body: string;
}

/**
 * A header value as callbridge reads it. `event json` sends strings, except array channel variables (set with
 * `push`, and the dialplan's DP_MATCH), which arrive as JSON arrays: those are given back in FreeSWITCH's own
 * string form, `ARRAY::a|:b` (what `uuid_getvar` and `event plain` show). Anything else is not a header value.
 */
function headerValue(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return `ARRAY::${v.join('|:')}`;
  return undefined;
}

/** An `event json` body or a `uuid_dump <uuid> json` reply (one flat object of headers; `_body` is the body). */
export function eventFromJson(obj: Record<string, unknown>): RawEvent {
  const header = (n: string) => (Object.hasOwn(obj, n) ? headerValue(obj[n]) : undefined);
  return {
    name: header('Event-Name') ?? '',
    subclass: header('Event-Subclass'),
    header,
    body: typeof obj['_body'] === 'string' ? obj['_body'] : '',
  };
}

/**
 * An `event json` body as text, read lazily (event-json.ts): a header is looked up when asked for. Throws
 * EslProtocolError when the body is not a JSON object.
 */
export function eventFromJsonText(body: string): RawEvent {
  if (!looksLikeEventObject(body)) return eventFromJson(parseEventObject(body));
  const e = new LazyJsonEvent(body);
  return e.name === '' ? eventFromJson(parseEventObject(body)) : e; // no Event-Name: parse it all (or throw)
}

/**
 * A class, not an object literal with getters: V8 gives every such literal a hidden class of its own, which
 * at a few hundred events a second grew the heap by tens of MB.
 */
class LazyJsonEvent implements RawEvent {
  readonly name: string;
  readonly #text: string;
  #parsed: RawEvent | undefined;

  constructor(text: string) {
    this.#text = text;
    this.name = this.header('Event-Name') ?? '';
  }

  /** Only CUSTOM events have one. */
  get subclass(): string | undefined {
    return this.name === 'CUSTOM' ? this.header('Event-Subclass') : undefined;
  }

  get body(): string {
    return this.header('_body') ?? '';
  }

  header(n: string): string | undefined {
    if (this.#parsed) return this.#parsed.header(n);
    const v = findStringValue(this.#text, n);
    if (v !== null) return v;
    this.#parsed = eventFromJson(parseEventObject(this.#text));
    return this.#parsed.header(n);
  }
}

/** The values of an `ARRAY::a|:b` variable (a plain value is a one-element list). */
export function arrayValues(value: string): string[] {
  return value.startsWith('ARRAY::') ? value.slice(7).split('|:') : [value];
}

export interface ChannelInfo {
  uuid: string;
  direction: 'inbound' | 'outbound';
  answered: boolean;
  callerNumber: string;
  callerName: string;
  destination: string;
  /** Codec the channel writes to the caller (PCMU, PCMA, L16, G722, ...) and its rate, when media is up. */
  writeCodec: string | undefined;
  writeRate: number | undefined;
  sipCallId: string | undefined;
  /** A channel variable (`variable_<name>` header). */
  variable(name: string): string | undefined;
}

export type CallEvent =
  | { type: 'park'; uuid: string; channel: ChannelInfo }
  | { type: 'progress'; uuid: string }
  | { type: 'answer'; uuid: string }
  | { type: 'hangup'; uuid: string; cause: string; disposition: string | undefined }
  | { type: 'playback-start'; uuid: string; path: string }
  | { type: 'execute-complete'; uuid: string; app: string; appData: string; response: string }
  | { type: 'dtmf'; uuid: string; digit: string }
  | { type: 'stream-connect'; uuid: string; channel: ChannelInfo }
  | { type: 'stream-disconnect'; uuid: string; code: number | undefined; reason: string }
  | { type: 'stream-error'; uuid: string; code: number | undefined; reason: string }
  | { type: 'stream-play'; uuid: string; file: string; data: Record<string, unknown> }
  | { type: 'record-stop'; uuid: string; path: string; recordMs: number | undefined };

export function channelInfo(e: RawEvent): ChannelInfo {
  const rate = Number(e.header('Channel-Write-Codec-Rate'));
  return {
    uuid: e.header('Unique-ID') ?? '',
    direction: e.header('Call-Direction') === 'outbound' ? 'outbound' : 'inbound',
    answered: e.header('Answer-State') === 'answered',
    callerNumber: e.header('Caller-Caller-ID-Number') ?? '',
    callerName: e.header('Caller-Caller-ID-Name') ?? '',
    destination: e.header('Caller-Destination-Number') ?? '',
    writeCodec: e.header('Channel-Write-Codec-Name'),
    writeRate: Number.isFinite(rate) && rate > 0 ? rate : undefined,
    sipCallId: e.header('variable_sip_call_id'),
    variable: (name) => e.header(`variable_${name}`),
  };
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function streamMessage(body: string): { code: number | undefined; reason: string } {
  const msg = parseJson(body)?.message as { code?: unknown; reason?: unknown; error?: unknown } | undefined;
  const code = typeof msg?.code === 'number' ? msg.code : undefined;
  const reason = String(msg?.reason ?? msg?.error ?? body);
  return { code, reason };
}

/** Map a raw event to the typed event callbridge uses, or undefined for events it does not act on. */
export function toCallEvent(e: RawEvent): CallEvent | undefined {
  const uuid = e.header('Unique-ID') ?? '';
  switch (e.name) {
    case 'CHANNEL_PARK':
      return { type: 'park', uuid, channel: channelInfo(e) };
    case 'CHANNEL_PROGRESS':
    case 'CHANNEL_PROGRESS_MEDIA':
      return { type: 'progress', uuid };
    case 'CHANNEL_ANSWER':
      return { type: 'answer', uuid };
    case 'CHANNEL_HANGUP':
      return {
        type: 'hangup',
        uuid,
        cause: e.header('Hangup-Cause') ?? 'UNKNOWN',
        disposition: e.header('variable_sip_hangup_disposition'),
      };
    case 'PLAYBACK_START':
      return { type: 'playback-start', uuid, path: e.header('Playback-File-Path') ?? '' };
    case 'CHANNEL_EXECUTE_COMPLETE':
      return {
        type: 'execute-complete',
        uuid,
        app: e.header('Application') ?? '',
        appData: e.header('Application-Data') ?? '',
        response: e.header('Application-Response') ?? '',
      };
    case 'DTMF':
      return { type: 'dtmf', uuid, digit: e.header('DTMF-Digit') ?? '' };
    case 'RECORD_STOP': {
      const ms = Number(e.header('variable_record_ms'));
      return {
        type: 'record-stop',
        uuid,
        path: e.header('Record-File-Path') ?? '',
        recordMs: Number.isFinite(ms) && ms >= 0 ? ms : undefined,
      };
    }
    case 'CUSTOM':
      switch (e.subclass) {
        case 'mod_audio_stream::connect':
          return { type: 'stream-connect', uuid, channel: channelInfo(e) };
        case 'mod_audio_stream::disconnect':
          return { type: 'stream-disconnect', uuid, ...streamMessage(e.body) };
        case 'mod_audio_stream::error':
          return { type: 'stream-error', uuid, ...streamMessage(e.body) };
        case 'mod_audio_stream::play': {
          const data = parseJson(e.body) ?? {};
          return { type: 'stream-play', uuid, file: typeof data.file === 'string' ? data.file : '', data };
        }
      }
      return undefined;
  }
  return undefined;
}

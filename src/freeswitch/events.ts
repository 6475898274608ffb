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
  | { type: 'stream-play'; uuid: string; file: string; data: Record<string, unknown> };

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
      return { type: 'hangup', uuid, cause: e.header('Hangup-Cause') ?? 'UNKNOWN', disposition: e.header('variable_sip_hangup_disposition') };
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

/**
 * The only place that builds text for FreeSWITCH. ESL commands are single lines split on spaces, and
 * originate/`{var=value}` blocks split on commas and braces: one stray space, comma, brace, quote, `&` or
 * newline in a value rewrites the command. So every value goes through a validator of esl-values.ts
 * (re-exported here), which refuses anything else with an `UnsafeEslValueError` before a byte reaches the socket.
 *
 * The result is a branded string: the ESL client accepts nothing that did not come from this module.
 */

import {
  UnsafeEslValueError,
  callerName,
  check,
  dtmfDigits,
  filePath,
  gateway,
  hangupCause,
  phoneNumber,
  sipUri,
  sofiaProfile,
  streamUrl,
  uuid,
  varName,
  varValue,
} from './esl-values.ts';

// Callers validate with the same names they build with: `cmd.uuid(...)`, `cmd.sendmsg(...)`.
export * from './esl-values.ts';

declare const brand: unique symbol;
export type EslCommand = string & { readonly [brand]: 'EslCommand' };

/** A `sendmsg` to one channel: headers are written one per line, so values must not contain newlines. */
export interface SendMsg {
  readonly uuid: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly [brand]: 'SendMsg';
}

// Metadata travels after the rate as the rest of the line: compact JSON of safe keys and values only.
const META_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;
const META_VALUE = /^[A-Za-z0-9_.:@+/=-]{0,128}$/;

const cmd = (s: string) => s as EslCommand;

export function answer(id: string): EslCommand {
  return cmd(`uuid_answer ${uuid(id)}`);
}

/** Set several channel variables in one round trip. */
export function setVariables(id: string, vars: Record<string, string>): EslCommand {
  const pairs = Object.entries(vars).map(([k, v]) => `${varName(k)}=${varValue(v, k)}`);
  if (pairs.length === 0) throw new UnsafeEslValueError('variables', '', 'at least one variable');
  return cmd(`uuid_setvar_multi ${uuid(id)} ${pairs.join(';')}`);
}

export function exists(id: string): EslCommand {
  return cmd(`uuid_exists ${uuid(id)}`);
}

/**
 * `uuid_audio_stream <uuid> start <url> mono <8k|16k> <metadata>`. `mono` is what the channel reads: the
 * caller on inbound calls, the callee on outbound ones.
 */
export function audioStreamStart(
  id: string,
  url: string,
  sampleRate: 8000 | 16000,
  metadata: Record<string, string | number> = {},
): EslCommand {
  const rate = sampleRate === 16000 ? '16k' : sampleRate === 8000 ? '8k' : null;
  if (!rate) throw new UnsafeEslValueError('sample rate', sampleRate, 'expected 8000 or 16000');
  const meta: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(metadata)) {
    check('metadata key', k, META_KEY, 'letters, digits and "_"');
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new UnsafeEslValueError('metadata value', v, 'finite number');
    } else check(`metadata ${k}`, v, META_VALUE, 'URL-safe characters only');
    meta[k] = v;
  }
  const tail = Object.keys(meta).length ? ` ${JSON.stringify(meta)}` : '';
  return cmd(`uuid_audio_stream ${uuid(id)} start ${streamUrl(url)} mono ${rate}${tail}`);
}

export function audioStreamStop(id: string): EslCommand {
  return cmd(`uuid_audio_stream ${uuid(id)} stop`);
}

/** Stop what the channel is playing; with `all`, also drop everything queued behind it. */
export function breakPlayback(id: string, all = true): EslCommand {
  return cmd(`uuid_break ${uuid(id)}${all ? ' all' : ''}`);
}

export function broadcast(id: string, path: string): EslCommand {
  return cmd(`uuid_broadcast ${uuid(id)} ${filePath(path)} aleg`);
}

export function kill(id: string, cause = 'NORMAL_CLEARING'): EslCommand {
  return cmd(`uuid_kill ${uuid(id)} ${hangupCause(cause)}`);
}

export interface OriginateOptions {
  /** origination_uuid: the call is registered under it before the command is sent. */
  uuid: string;
  gateway: string;
  number: string;
  callerIdNumber?: string;
  callerIdName?: string;
  timeoutSeconds: number;
  /** Extra channel variables (names and values validated like every other variable). */
  variables?: Record<string, string>;
}

/**
 * `originate {origination_uuid=…,ignore_early_media=true,originate_timeout=…,…}sofia/gateway/<gw>/<number> &park()`.
 * `ignore_early_media=true` so a 183 with ringback does not count as answered; `&park()` hands the answered
 * call to callbridge like an inbound one (the marker variable must be among `variables`).
 */
export function originate(o: OriginateOptions): EslCommand {
  if (!Number.isInteger(o.timeoutSeconds) || o.timeoutSeconds < 1 || o.timeoutSeconds > 600) {
    throw new UnsafeEslValueError('originate timeout', o.timeoutSeconds, 'whole seconds from 1 to 600');
  }
  const vars: Array<[string, string]> = [
    ['origination_uuid', uuid(o.uuid, 'origination uuid')],
    ['ignore_early_media', 'true'],
    ['originate_timeout', String(o.timeoutSeconds)],
  ];
  if (o.callerIdNumber) vars.push(['origination_caller_id_number', phoneNumber(o.callerIdNumber, 'caller id number')]);
  if (o.callerIdName) vars.push(['origination_caller_id_name', callerName(o.callerIdName)]);
  for (const [k, v] of Object.entries(o.variables ?? {})) vars.push([varName(k), varValue(v, k)]);
  const block = vars.map(([k, v]) => `${k}=${v}`).join(',');
  return cmd(`originate {${block}}sofia/gateway/${gateway(o.gateway)}/${phoneNumber(o.number)} &park()`);
}

/** Where a transfer's B leg goes: a number through a gateway, or a SIP URI through a sofia profile. */
export type BridgeTarget =
  | { readonly kind: 'number'; readonly gateway: string; readonly number: string }
  | { readonly kind: 'sip'; readonly profile: string; readonly uri: string };

export interface BridgeLegOptions {
  /** origination_uuid of the B leg. */
  uuid: string;
  target: BridgeTarget;
  timeoutSeconds: number;
  callerIdNumber?: string;
}

/**
 * The B leg of a blind transfer by bridge: `originate {origination_uuid=…,ignore_early_media=true,
 * originate_timeout=…}<dial string> &park()` (as captured in transfer_bridge_b_*: the leg is parked once it
 * answers, then `uuid_bridge` joins it to the caller). Without the callbridge marker, so the B leg's
 * CHANNEL_PARK is not taken as a new call. Busy / no answer fail the originate and leave the caller alone
 * (unlike `uuid_transfer` to a bridge extension, which hangs the caller up with the B leg's cause).
 */
export function bridgeLeg(o: BridgeLegOptions): EslCommand {
  if (!Number.isInteger(o.timeoutSeconds) || o.timeoutSeconds < 1 || o.timeoutSeconds > 600) {
    throw new UnsafeEslValueError('originate timeout', o.timeoutSeconds, 'whole seconds from 1 to 600');
  }
  const vars = [
    `origination_uuid=${uuid(o.uuid, 'origination uuid')}`,
    'ignore_early_media=true',
    `originate_timeout=${o.timeoutSeconds}`,
  ];
  if (o.callerIdNumber) vars.push(`origination_caller_id_number=${phoneNumber(o.callerIdNumber, 'caller id number')}`);
  const t = o.target;
  const dial =
    t.kind === 'number'
      ? `sofia/gateway/${gateway(t.gateway)}/${phoneNumber(t.number, 'transfer number')}`
      : `sofia/${sofiaProfile(t.profile)}/${sipUri(t.uri)}`;
  return cmd(`originate {${vars.join(',')}}${dial} &park()`);
}

/** `uuid_bridge <a> <b>`: joins two parked legs (`+OK <b>`, then CHANNEL_BRIDGE on a). */
export function bridge(a: string, b: string): EslCommand {
  return cmd(`uuid_bridge ${uuid(a)} ${uuid(b, 'other uuid')}`);
}

/**
 * `uuid_deflect <uuid> <sip uri>`: SIP REFER to the far end of the channel. FreeSWITCH waits up to 10 s for the
 * NOTIFY (captured: ~9.8 s when the REFER is refused), so send it with bgapi only.
 */
export function deflect(id: string, uri: string): EslCommand {
  return cmd(`uuid_deflect ${uuid(id)} ${sipUri(uri)}`);
}

/** `uuid_send_dtmf <uuid> <digits>`: RFC 2833 (or SIP INFO) to the far end; `+OK <uuid> sent DTMF <digits>.` */
export function sendDtmf(id: string, digits: string): EslCommand {
  return cmd(`uuid_send_dtmf ${uuid(id)} ${dtmfDigits(digits)}`);
}

export function status(): EslCommand {
  return cmd('status');
}

export function version(): EslCommand {
  return cmd('version');
}

/**
 * Play a fully written file with `execute playback` and `event-lock: true`: queued playbacks then run back
 * to back in order with no lead frames (measured gapless on FreeSWITCH 1.10.12, unlike uuid_broadcast).
 * `eventUuid` comes back as Application-UUID on CHANNEL_EXECUTE/_COMPLETE.
 */
export function playFile(id: string, path: string, eventUuid: string): SendMsg {
  return {
    uuid: uuid(id),
    headers: {
      'call-command': 'execute',
      'execute-app-name': 'playback',
      'execute-app-arg': filePath(path),
      'event-lock': 'true',
      'event-uuid': uuid(eventUuid, 'event-uuid'),
    },
  } as unknown as SendMsg;
}

/**
 * Hang up with `cause` once what is queued before it has run (`execute hangup` with `event-lock`, after a
 * playback sent the same way): a message is heard to its end, then the call ends.
 */
export function hangupAfterQueue(id: string, cause: string): SendMsg {
  return {
    uuid: uuid(id),
    headers: {
      'call-command': 'execute',
      'execute-app-name': 'hangup',
      'execute-app-arg': hangupCause(cause),
      'event-lock': 'true',
    },
  } as unknown as SendMsg;
}

/**
 * `uuid_record <uuid> start <path>`: FreeSWITCH records the channel into `path` (a `.wav`: written by the core,
 * no extra module) until `stop` or the hangup. Replies `+OK Success`, or `-ERR Cannot record session!` when the
 * file cannot be created (captured). There is no `uuid_record_session` command.
 */
export function recordStart(id: string, path: string): EslCommand {
  if (!filePath(path).endsWith('.wav')) throw new UnsafeEslValueError('recording path', path, 'expected a .wav file');
  return cmd(`uuid_record ${uuid(id)} start ${path}`);
}

/** `uuid_record <uuid> stop <path>`: ends that recording (RECORD_STOP follows). */
export function recordStop(id: string, path: string): EslCommand {
  return cmd(`uuid_record ${uuid(id)} stop ${filePath(path)}`);
}

/** Events callbridge subscribes to, and nothing more (every event is ~6 KB of JSON to parse). */
export const SUBSCRIBED_EVENTS = [
  'CHANNEL_PROGRESS',
  'CHANNEL_PROGRESS_MEDIA',
  'CHANNEL_ANSWER',
  'CHANNEL_PARK',
  'CHANNEL_HANGUP',
  'PLAYBACK_START',
  'CHANNEL_EXECUTE_COMPLETE',
  'BACKGROUND_JOB', // bgapi results: EslClient resolves bgapi() from these
  'DTMF',
  'RECORD_STOP', // a call recording is complete (calls/call-recording.ts)
] as const;

export const SUBSCRIBED_SUBCLASSES = [
  'mod_audio_stream::connect',
  'mod_audio_stream::disconnect',
  'mod_audio_stream::error',
  'mod_audio_stream::play',
] as const;

/** `event json <names...> CUSTOM <subclasses...>`: every word after CUSTOM is a subclass, so it goes last. */
export function subscribe(names: readonly string[], subclasses: readonly string[]): EslCommand {
  for (const n of names) check('event name', n, /^[A-Z_]+$/, 'upper-case event name');
  for (const s of subclasses) check('event subclass', s, /^[A-Za-z0-9_:]+$/, 'subclass name');
  return cmd(`event json ${names.join(' ')}${subclasses.length ? ` CUSTOM ${subclasses.join(' ')}` : ''}`);
}

/** Every channel FreeSWITCH holds, one JSON row each (no channel variables). */
export function showChannels(): EslCommand {
  return cmd('show channels as json');
}

/** One channel's data and variables as one flat JSON object (like an event). */
export function dumpChannel(id: string): EslCommand {
  return cmd(`uuid_dump ${uuid(id)} json`);
}

import { UnsafeEslValueError, dumpChannel, showChannels, uuid } from './commands.ts';
import { EslCommandError, type EslClient } from './esl.ts';
import { eventFromJson, type RawEvent } from './events.ts';

/** The fields of a `show channels as json` row callbridge uses (FreeSWITCH sends 38, all strings). */
export interface ChannelRow {
  uuid: string;
  direction: string;
  /** Channel-State: a parked channel is CS_EXECUTE. */
  state: string;
  /** ACTIVE, RINGING, EARLY, HANGUP, ... */
  callstate: string;
  application: string;
}

/** Longest wait for the channel list: with thousands of channels it is a few MB of JSON. */
const LIST_TIMEOUT_MS = 10_000;

/**
 * `show channels as json` → rows. FreeSWITCH answers `{"row_count":N,"rows":[...]}` (no trailing LF) or,
 * with no channels, `{"row_count": 0}` (captured: resync). Rows without a well-formed uuid are skipped.
 */
export function parseChannelList(reply: string): ChannelRow[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply);
  } catch {
    throw new EslCommandError('show channels', reply.slice(0, 200));
  }
  if (!parsed || typeof parsed !== 'object') throw new EslCommandError('show channels', reply.slice(0, 200));
  const rows = (parsed as { rows?: unknown }).rows;
  if (!Array.isArray(rows)) return [];
  const out: ChannelRow[] = [];
  for (const r of rows as unknown[]) {
    if (!r || typeof r !== 'object') continue;
    const row = r as Record<string, unknown>;
    const text = (k: string) => (typeof row[k] === 'string' ? (row[k] as string) : '');
    try {
      out.push({
        uuid: uuid(text('uuid')),
        direction: text('direction'),
        state: text('state'),
        callstate: text('callstate'),
        application: text('application'),
      });
    } catch (err) {
      if (!(err instanceof UnsafeEslValueError)) throw err;
    }
  }
  return out;
}

export async function listChannels(esl: EslClient): Promise<ChannelRow[]> {
  return parseChannelList(await esl.apiOk(showChannels(), LIST_TIMEOUT_MS));
}

/** `uuid_dump <uuid> json` as an event view (variables included), or undefined if the channel is gone. */
export async function readChannel(esl: EslClient, id: string): Promise<RawEvent | undefined> {
  const reply = await esl.api(dumpChannel(id));
  if (reply.startsWith('-ERR')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply);
  } catch {
    throw new EslCommandError('uuid_dump', reply.slice(0, 200));
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new EslCommandError('uuid_dump', reply.slice(0, 200));
  return eventFromJson(parsed as Record<string, unknown>);
}

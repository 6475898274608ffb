/**
 * The answers of mod_event_socket to one command on one connection: auth, the event subscriptions (`event`,
 * `nixevent`, `noevents`, `filter`), and `api` / `bgapi` / `sendmsg` handed to the emulator. Every command is
 * recorded first, as it arrived.
 */
import { randomUUID } from 'node:crypto';
import type { EslConnection } from './esl-server-connection.ts';
import type { CommandKind, CommandRecord, EslBackend } from './esl-server-types.ts';
import { apiResponse, commandReply, type EslPacket } from './esl-wire.ts';

const KINDS = new Set<CommandKind>([
  'auth',
  'event',
  'nixevent',
  'noevents',
  'filter',
  'api',
  'bgapi',
  'sendmsg',
  'exit',
  'linger',
]);

export async function handleCommand(
  backend: EslBackend,
  conn: EslConnection,
  packet: EslPacket,
): Promise<string | undefined> {
  const line = packet.line;
  const word = (line.split(/\s+/, 1)[0] ?? '').toLowerCase();
  const kind: CommandKind = KINDS.has(word as CommandKind) ? (word as CommandKind) : 'other';
  const record: CommandRecord = { at: performance.now(), kind, line, headers: packet.headers, connection: conn.id };
  if (packet.body !== undefined) record.body = packet.body;
  backend.record(record);

  if (!conn.authed) {
    if (kind === 'auth' && line.slice(5).trim() === backend.password()) {
      conn.authed = true;
      return commandReply('+OK accepted');
    }
    conn.closeAfterReply();
    return commandReply('-ERR invalid');
  }
  const rest = line.slice(word.length).trim();
  switch (kind) {
    case 'auth':
      return commandReply('-ERR already authenticated');
    case 'event':
      return subscribe(conn, rest);
    case 'nixevent':
      return unsubscribe(conn, rest);
    case 'noevents':
      conn.all = false;
      conn.names.clear();
      conn.subclasses.clear();
      conn.format = undefined;
      return commandReply('+OK no longer listening for events');
    case 'filter':
      return filter(conn, rest);
    case 'api': {
      const [command, arg] = splitFirst(rest);
      return apiResponse(await backend.api(command, arg));
    }
    case 'bgapi': {
      const jobUuid = headerOf(packet.headers, 'Job-UUID') || randomUUID();
      const [command, arg] = splitFirst(rest);
      backend.bgapi(jobUuid, command, arg);
      return commandReply(`+OK Job-UUID: ${jobUuid}`, { 'Job-UUID': jobUuid });
    }
    case 'sendmsg': {
      const uuid = rest || headerOf(packet.headers, 'session-id') || '';
      return commandReply(backend.sendmsg(uuid, packet.headers, packet.body));
    }
    case 'exit':
      conn.closeAfterReply();
      return commandReply('+OK bye');
    case 'linger':
      return commandReply('+OK will linger');
    default:
      if (word === 'nolinger') return commandReply('+OK will not linger');
      return commandReply('-ERR command not found');
  }
}

function subscribe(conn: EslConnection, rest: string): string {
  const words = rest.split(/\s+/).filter(Boolean);
  let format: 'json' | 'plain' = 'plain';
  const first = words[0]?.toLowerCase();
  if (first === 'json' || first === 'plain') {
    format = first;
    words.shift();
  } else if (first === 'xml') {
    return commandReply('-ERR event xml is not emulated (use json or plain)');
  }
  let keys = 0;
  let custom = false;
  for (const w of words) {
    if (custom) {
      conn.subclasses.add(w);
      continue;
    }
    const name = w.toUpperCase();
    if (name === 'ALL') conn.all = true;
    else if (!/^[A-Z_]+$/.test(name)) continue;
    conn.names.add(name);
    keys++;
    if (name === 'CUSTOM') custom = true;
  }
  if (!keys) return commandReply('-ERR no keywords supplied');
  conn.format = format;
  return commandReply(`+OK event listener enabled ${format}`);
}

function unsubscribe(conn: EslConnection, rest: string): string {
  const words = rest.split(/\s+/).filter(Boolean);
  if (!words.length) return commandReply('-ERR no keywords supplied');
  let custom = false;
  for (const w of words) {
    if (custom) {
      conn.subclasses.delete(w);
      continue;
    }
    const name = w.toUpperCase();
    if (name === 'CUSTOM') {
      custom = true;
      continue;
    }
    if (name === 'ALL') {
      conn.all = false;
      conn.names.clear();
      conn.subclasses.clear();
    }
    conn.names.delete(name);
  }
  return commandReply('+OK events nixed');
}

function filter(conn: EslConnection, rest: string): string {
  const [first, more] = splitFirst(rest);
  if (first.toLowerCase() === 'delete') {
    const [header, value] = splitFirst(more);
    if (!header) return commandReply('-ERR invalid syntax');
    if (header.toLowerCase() === 'all') {
      conn.filters = [];
      return commandReply('+OK filter deleted.');
    }
    conn.filters = conn.filters.filter(
      (f) => !(f.header.toLowerCase() === header.toLowerCase() && (!value || f.value === value)),
    );
    return commandReply(value ? `+OK filter deleted. [${header}]=[${value}]` : `+OK filter deleted. [${header}]`);
  }
  if (!first || !more) return commandReply('-ERR invalid syntax');
  conn.filters.push({ header: first, value: more });
  return commandReply(`+OK filter added. [${first}]=[${more}]`);
}

function splitFirst(text: string): [string, string] {
  const t = text.trim();
  const space = t.indexOf(' ');
  return space < 0 ? [t, ''] : [t.slice(0, space), t.slice(space + 1).trim()];
}

function headerOf(headers: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

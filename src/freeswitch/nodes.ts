import { redactUrlCredentials } from '../secrets.ts';

/**
 * The FreeSWITCH nodes one callbridge instance drives (FREESWITCH_NODES): each has its own ESL connection and
 * the WebSocket URL its mod_audio_stream uses to reach this instance (nodes on other hosts or networks may
 * need another address than CALLBRIDGE_WS_URL).
 */
export interface FreeswitchNode {
  /** Shown in /health, on call records (`node`) and accepted as `node` by POST /calls. */
  name: string;
  host: string;
  port: number;
  /** Base of the stream URL (no trailing slash); the call's path and secret are appended. */
  wsUrl: string;
}

/** One entry as written: its stream URL may be left to CALLBRIDGE_WS_URL. */
export type NodeEntry = Omit<FreeswitchNode, 'wsUrl'> & { wsUrl?: string };

/** The name of the one node made from FREESWITCH_ESL_HOST/PORT when FREESWITCH_NODES is empty. */
export const DEFAULT_NODE_NAME = 'default';

export const NODE_NAME = /^[a-z0-9_-]{1,32}$/;
/** A host name or IPv4 address, or an IPv6 literal in brackets. */
const HOST = /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])$/;
/** As CALLBRIDGE_WS_URL: what mod_audio_stream accepts (no underscore, no IPv6 literal), without a path. */
const WS_URL = /^wss?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/;

const FORMAT = 'expected name=host:port or name=host:port|ws://host:port';

/**
 * Parse FREESWITCH_NODES: comma-separated `name=host:port` or `name=host:port|ws://url`. Empty entries are
 * skipped. Every problem is reported (each naming its entry), not only the first.
 */
export function parseNodeList(text: string): { nodes: NodeEntry[]; problems: string[] } {
  const nodes: NodeEntry[] = [];
  const problems: string[] = [];
  const byName = new Map<string, NodeEntry>();
  const byEndpoint = new Map<string, NodeEntry>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const shown = JSON.stringify(redactUrlCredentials(entry).slice(0, 100));
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string') {
      problems.push(`entry ${shown}: ${parsed}`);
      continue;
    }
    if (byName.has(parsed.name)) {
      problems.push(`entry ${shown}: node name "${parsed.name}" is used twice (names must be unique)`);
      continue;
    }
    const endpoint = `${parsed.host.toLowerCase()}:${parsed.port}`;
    const same = byEndpoint.get(endpoint);
    if (same) {
      // Two clients on one FreeSWITCH would both take each of its calls.
      problems.push(`entry ${shown}: ${endpoint} is already node "${same.name}" (one entry per FreeSWITCH)`);
      continue;
    }
    byName.set(parsed.name, parsed);
    byEndpoint.set(endpoint, parsed);
    nodes.push(parsed);
  }
  return { nodes, problems };
}

function parseEntry(entry: string): NodeEntry | string {
  const eq = entry.indexOf('=');
  if (eq < 0) return FORMAT;
  const name = entry.slice(0, eq).trim();
  const [address = '', wsUrl, ...extra] = entry
    .slice(eq + 1)
    .split('|')
    .map((s) => s.trim());
  if (!NODE_NAME.test(name)) return `node name must be 1-32 of a-z, 0-9, "_" and "-" (${FORMAT})`;
  if (extra.length > 0) return `more than one "|" (${FORMAT})`;
  const colon = address.lastIndexOf(':');
  if (colon < 0 || address.endsWith(']')) return `no ESL port (${FORMAT})`;
  const host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!HOST.test(host)) return 'the host must be a host name, an IPv4 address or an [IPv6] literal';
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) return 'the ESL port must be a number from 1 to 65535';
  // net.connect takes an IPv6 address without its brackets.
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (wsUrl === undefined) return { name, host: bare, port };
  if (!WS_URL.test(wsUrl)) {
    return 'the stream URL must be ws://host[:port] or wss://host[:port] with a host of letters, digits, dots and dashes only (mod_audio_stream rejects underscores and IPv6 literals)';
  }
  return { name, host: bare, port, wsUrl: wsUrl.replace(/\/$/, '') };
}

/** The nodes to connect to: the entries (their stream URL defaulting to `wsUrl`), or the single default node. */
export function resolveNodes(
  entries: readonly NodeEntry[],
  defaults: { host: string; port: number; wsUrl: string },
): FreeswitchNode[] {
  if (entries.length === 0) return [{ name: DEFAULT_NODE_NAME, ...defaults }];
  return entries.map((e) => ({ ...e, wsUrl: e.wsUrl ?? defaults.wsUrl }));
}

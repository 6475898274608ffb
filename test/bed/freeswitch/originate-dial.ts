/**
 * The dial string of `originate`: the `{...}` / `[...]` / `<...>` variable blocks and the endpoints the emulator
 * knows (sofia gateway or URI, loopback, user, error/<CAUSE>), with the `-ERR` cause FreeSWITCH gives the others.
 */
import { parseCause } from './causes.ts';
import type { Settings } from './settings.ts';

export interface ParsedDial {
  variables: Record<string, string>;
  dialString: string;
  destination: string;
  destHost: string;
  channelName: string;
  endpoint: string;
}

/** `{a=b,c=d}sofia/...`: variables and endpoint; a string is the `-ERR` cause for a dial string FreeSWITCH rejects. */
export function parseDialString(raw: string, settings: Settings): ParsedDial | string {
  const variables: Record<string, string> = {};
  let rest = raw;
  const closers: Record<string, string> = { '{': '}', '[': ']', '<': '>' };
  while (rest[0] && closers[rest[0]]) {
    const end = rest.indexOf(closers[rest[0]]!);
    if (end < 0) return 'CHANNEL_UNACCEPTABLE';
    for (const pair of rest.slice(1, end).split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) variables[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
    }
    rest = rest.slice(end + 1);
  }
  const parts = rest.split('/');
  const endpoint = parts[0] ?? '';
  switch (endpoint) {
    case 'sofia': {
      if (parts.length < 3 || !parts[1]) return 'CHANNEL_UNACCEPTABLE';
      if (parts[1] === 'gateway') {
        const gw = parts[2] ?? '';
        const number = parts.slice(3).join('/');
        if (!gw || !number) return 'CHANNEL_UNACCEPTABLE';
        if (settings.gateways && !settings.gateways.includes(gw)) return 'INVALID_GATEWAY';
        return {
          variables,
          dialString: rest,
          destination: number,
          destHost: gw,
          channelName: `sofia/gateway/${gw}/${number}`,
          endpoint,
        };
      }
      const uri = parts
        .slice(2)
        .join('/')
        .replace(/^sips?:/, '');
      const at = uri.indexOf('@');
      if (!uri) return 'CHANNEL_UNACCEPTABLE';
      const destination = at >= 0 ? uri.slice(0, at) : uri;
      const destHost = at >= 0 ? uri.slice(at + 1) : '127.0.0.1';
      return {
        variables,
        dialString: rest,
        destination,
        destHost,
        channelName: `sofia/${parts[1]}/${destination}@${destHost}`,
        endpoint,
      };
    }
    case 'loopback': {
      const ext = parts[1];
      if (!ext) return 'CHANNEL_UNACCEPTABLE';
      return {
        variables,
        dialString: rest,
        destination: ext,
        destHost: '127.0.0.1',
        channelName: `loopback/${ext}-a`,
        endpoint,
      };
    }
    case 'user': {
      const user = parts[1] ?? '';
      if (!user) return 'CHANNEL_UNACCEPTABLE';
      const [name, domain] = user.split('@');
      return {
        variables,
        dialString: rest,
        destination: name!,
        destHost: domain ?? '127.0.0.1',
        channelName: `sofia/internal/${user}`,
        endpoint: 'sofia',
      };
    }
    case 'error':
      return parseCause(parts[1] ?? '') ?? 'CHANNEL_UNACCEPTABLE';
    default:
      return 'CHAN_NOT_IMPLEMENTED';
  }
}

/**
 * What the browser's SIP client needs, built from callbridge's answer to `POST /console/browser-call`:
 * no DOM and no JsSIP here, so it can be checked on its own.
 */

export interface BrowserCallTicketAnswer {
  wsUrl: string;
  target: string;
  ticket: string;
  header: string;
  expiresAt: number;
  iceServers: string[];
}

export interface BrowserCallConfig {
  /** The WebSocket (subprotocol `sip`) FreeSWITCH's browser profile listens on. */
  wsUrl: string;
  /** Our own address: nothing registers, the host only makes the From header plausible. */
  uaUri: string;
  target: string;
  callOptions: {
    mediaConstraints: { audio: true; video: false };
    pcConfig: { iceServers: Array<{ urls: string }> };
    extraHeaders: string[];
  };
}

const TARGET = /^sips?:[A-Za-z0-9_.+-]{1,64}@([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;
const HEADER = /^X-[A-Za-z0-9-]{1,64}$/;
const TICKET = /^[A-Za-z0-9._-]{1,512}$/;

export function browserCallConfig(a: BrowserCallTicketAnswer): BrowserCallConfig {
  const ws = new URL(a.wsUrl);
  if (ws.protocol !== 'ws:' && ws.protocol !== 'wss:') throw new Error(`not a WebSocket URL: ${a.wsUrl}`);
  const target = TARGET.exec(a.target);
  if (!target) throw new Error(`not a SIP address: ${a.target}`);
  // Values go into a SIP header line: nothing that could end it.
  if (!HEADER.test(a.header)) throw new Error('unexpected ticket header name');
  if (!TICKET.test(a.ticket)) throw new Error('unexpected ticket format');
  const iceServers = a.iceServers.filter((u) => /^(stuns?|turns?):/.test(u)).map((urls) => ({ urls }));
  return {
    wsUrl: a.wsUrl,
    uaUri: `sip:browser@${target[1]}`,
    target: a.target,
    callOptions: {
      mediaConstraints: { audio: true, video: false },
      pcConfig: { iceServers },
      extraHeaders: [`${a.header}: ${a.ticket}`],
    },
  };
}

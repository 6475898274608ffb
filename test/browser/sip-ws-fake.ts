import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface CapturedInvite {
  text: string;
}

/**
 * Stands in for FreeSWITCH's SIP-over-WebSocket binding (RFC 7118, subprotocol `sip`): captures each INVITE
 * and answers it with a final failure (`answer`), so a browser's SIP client can be checked on the wire
 * without WebRTC media. Answers OPTIONS with 200 and swallows ACKs.
 */
export class SipWebSocketFake {
  readonly invites: CapturedInvite[] = [];
  /** The subprotocol each connection asked for. */
  readonly protocols: string[] = [];
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #answer: number;
  #waiters: Array<(i: CapturedInvite) => void> = [];

  private constructor(http: Server, answer: number) {
    this.#http = http;
    this.#answer = answer;
    this.#wss = new WebSocketServer({
      server: http,
      handleProtocols: (offered) => (offered.has('sip') ? 'sip' : false),
    });
    this.#wss.on('connection', (ws) => {
      this.protocols.push(ws.protocol);
      ws.on('message', (data) => this.#onMessage(ws, String(data)));
    });
  }

  static async start(opts: { answer: number }): Promise<SipWebSocketFake> {
    const http = createServer((_req, res) => res.writeHead(426).end());
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return new SipWebSocketFake(http, opts.answer);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
  }

  nextInvite(timeoutMs: number): Promise<CapturedInvite> {
    const ready = this.invites[0];
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no INVITE within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push((i) => {
        clearTimeout(timer);
        resolve(i);
      });
    });
  }

  async stop(): Promise<void> {
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #onMessage(ws: WebSocket, text: string): void {
    const method = /^([A-Z]+) /.exec(text)?.[1];
    if (method === 'INVITE') {
      const invite = { text };
      this.invites.push(invite);
      for (const w of this.#waiters.splice(0)) w(invite);
      ws.send(response(text, 100, 'Trying', false));
      ws.send(response(text, this.#answer, REASONS[this.#answer] ?? 'Failed', true));
    } else if (method === 'OPTIONS' || method === 'BYE' || method === 'CANCEL') {
      ws.send(response(text, 200, 'OK', true));
    }
  }
}

const REASONS: Record<number, string> = { 486: 'Busy Here', 403: 'Forbidden', 480: 'Temporarily Unavailable' };

/** A response to `request`: its Via, From, Call-ID and CSeq back, a tag on To when the answer is final. */
function response(request: string, status: number, reason: string, tagged: boolean): string {
  const head = request.split('\r\n\r\n')[0]!.split('\r\n');
  const pick = (name: string) => head.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  const to = pick('To')[0] ?? 'To: <sip:unknown@invalid>';
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...pick('Via'),
    ...pick('From'),
    tagged && !/;tag=/i.test(to) ? `${to};tag=fake${status}` : to,
    ...pick('Call-ID'),
    ...pick('CSeq'),
    'Content-Length: 0',
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

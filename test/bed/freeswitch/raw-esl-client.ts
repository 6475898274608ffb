/**
 * A deliberately small ESL client for the emulator's self-tests (independent of callbridge's src/): raw
 * TCP, replies matched in order, `text/event-json` events parsed into header maps.
 */
import { connect, type Socket } from 'node:net';
import { Waiters } from './async-tools.ts';

export interface RawPacket {
  headers: Record<string, string>;
  body: string;
}

export type JsonEvent = Record<string, string>;

export class RawEslClient {
  readonly socket: Socket;
  /** Every event received, parsed (`_body` holds the body). */
  readonly events: JsonEvent[] = [];
  /** Every packet received, in order (replies, events, notices). */
  readonly packets: RawPacket[] = [];
  closed = false;
  #buf = Buffer.alloc(0);
  #replyWaiters: Array<(p: RawPacket) => void> = [];
  #waiters = new Waiters();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
    socket.on('error', () => {});
  }

  /** Connects and waits for `auth/request`; with a password also authenticates (throws on -ERR). */
  static async connect(port: number, password?: string): Promise<RawEslClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const client = new RawEslClient(socket);
    await client.waitFor(
      () => client.packets.find((p) => p.headers['Content-Type'] === 'auth/request'),
      2000,
      'auth/request',
    );
    if (password !== undefined) {
      const reply = await client.command(`auth ${password}`);
      if (!reply.startsWith('+OK')) throw new Error(`auth failed: ${reply}`);
    }
    return client;
  }

  /** Sends a command (with optional header lines); resolves with the reply packet. */
  send(line: string, headers: Record<string, string> = {}): Promise<RawPacket> {
    const reply = new Promise<RawPacket>((resolve) => this.#replyWaiters.push(resolve));
    let text = `${line}\n`;
    for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\n`;
    this.socket.write(`${text}\n`);
    return reply;
  }

  /** Reply-Text of a command/reply. */
  async command(line: string, headers: Record<string, string> = {}): Promise<string> {
    return (await this.send(line, headers)).headers['Reply-Text'] ?? '';
  }

  /** Body of an api/response. */
  async api(command: string): Promise<string> {
    return (await this.send(`api ${command}`)).body;
  }

  async bgapi(command: string, jobUuid?: string): Promise<string> {
    return this.command(`bgapi ${command}`, jobUuid ? { 'Job-UUID': jobUuid } : {});
  }

  sendmsg(uuid: string, headers: Record<string, string>): Promise<string> {
    return this.command(`sendmsg ${uuid}`, headers);
  }

  /** First event (from `fromIndex`) for which `match` is true. */
  waitEvent(match: (e: JsonEvent) => boolean, timeoutMs = 3000, fromIndex = 0): Promise<JsonEvent> {
    return this.waitFor(() => this.events.slice(fromIndex).find(match), timeoutMs, 'event');
  }

  waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return this.#waiters.until(`raw ESL client ${what}`, probe, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  #notify(): void {
    this.#waiters.poke();
  }

  #onData(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const end = this.#buf.indexOf('\n\n');
      if (end < 0) break;
      const headers: Record<string, string> = {};
      for (const line of this.#buf.subarray(0, end).toString('utf8').split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon)] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['Content-Length'] ?? 0);
      if (this.#buf.length < end + 2 + length) break;
      const body = this.#buf.subarray(end + 2, end + 2 + length).toString('utf8');
      this.#buf = this.#buf.subarray(end + 2 + length);
      const packet = { headers, body };
      this.packets.push(packet);
      const type = headers['Content-Type'];
      if (type === 'command/reply' || type === 'api/response') this.#replyWaiters.shift()?.(packet);
      else if (type === 'text/event-json') this.events.push(JSON.parse(body) as JsonEvent);
    }
    this.#notify();
  }
}

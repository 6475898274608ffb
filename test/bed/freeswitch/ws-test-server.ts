/** A `ws` WebSocketServer standing in for callbridge in the emulator's self-tests: records everything it gets. */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { Waiters } from './async-tools.ts';

export interface WsMessage {
  binary: boolean;
  data: Buffer;
  /** performance.now() on arrival. */
  at: number;
}

export interface WsConnection {
  /** Request path with query, e.g. `/stream?uuid=...`. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  socket: WebSocket;
  messages: WsMessage[];
  /** Close code/reason seen by the server, once closed. */
  closed?: { code: number; reason: string };
  texts(): string[];
  binaries(): WsMessage[];
}

export class WsTestServer {
  readonly connections: WsConnection[] = [];
  readonly #wss: WebSocketServer;
  #waiters = new Waiters();

  private constructor(wss: WebSocketServer) {
    this.#wss = wss;
    wss.on('connection', (socket, req) => {
      const conn: WsConnection = {
        path: req.url ?? '',
        headers: req.headers,
        socket,
        messages: [],
        texts: () => conn.messages.filter((m) => !m.binary).map((m) => m.data.toString('utf8')),
        binaries: () => conn.messages.filter((m) => m.binary),
      };
      socket.on('message', (data, binary) => {
        conn.messages.push({ binary, data: data as Buffer, at: performance.now() });
        this.#notify();
      });
      socket.on('close', (code, reason) => {
        conn.closed = { code, reason: reason.toString() };
        this.#notify();
      });
      this.connections.push(conn);
      this.#notify();
    });
  }

  static async start(): Promise<WsTestServer> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    return new WsTestServer(wss);
  }

  get port(): number {
    return (this.#wss.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  waitFor<T>(probe: () => T | undefined, timeoutMs = 3000, what = 'condition'): Promise<T> {
    return this.#waiters.until(`ws test server ${what}`, probe, timeoutMs);
  }

  waitConnection(n = 0, timeoutMs = 3000): Promise<WsConnection> {
    return this.waitFor(() => this.connections[n], timeoutMs, `connection #${n}`);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.socket.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #notify(): void {
    this.#waiters.poke();
  }
}

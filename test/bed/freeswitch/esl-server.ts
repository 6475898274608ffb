/**
 * mod_event_socket (inbound mode) over real TCP: auth, event subscriptions and filters per connection,
 * api / bgapi / sendmsg handed to the emulator, events serialized as `event json` or `event plain`.
 *
 * Like the real listener, a connection handles one command at a time: events fired while a command runs
 * (including a slow `api originate`) are held back and sent after its reply.
 *
 * Its parts, one job each: the listener and its connections (here), one connection (esl-server-connection.ts),
 * the answers to its commands (esl-server-commands.ts) and the shapes they share (esl-server-types.ts).
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { FsEvent } from './event-templates.ts';
import type { EslPacket } from './esl-wire.ts';
import { handleCommand } from './esl-server-commands.ts';
import { EslConnection } from './esl-server-connection.ts';
import type { EslBackend } from './esl-server-types.ts';

export type { CommandKind, CommandRecord, EslBackend } from './esl-server-types.ts';

export class EslServer {
  #server: Server | undefined;
  #connections = new Set<EslConnection>();
  #nextId = 1;
  #port = 0;
  readonly #backend: EslBackend;

  constructor(backend: EslBackend) {
    this.#backend = backend;
  }

  get port(): number {
    return this.#port;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async listen(port: number): Promise<number> {
    const server = createServer((socket) => this.#connections.add(new EslConnection(this.#nextId++, socket, this)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this.#port;
  }

  /**
   * Stops accepting. `graceful`: each connection gets the disconnect notice and a FIN (destroyed if still
   * open 200 ms later); otherwise every socket is destroyed at once, like a crash.
   */
  async close(graceful: boolean): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    if (graceful) {
      const open = [...this.#connections];
      for (const c of open) c.close();
      const grace = setTimeout(() => this.dropConnections(), 200);
      await Promise.all(
        open.map((c) => (c.socket.closed ? undefined : new Promise((resolve) => c.socket.once('close', resolve)))),
      );
      clearTimeout(grace);
    } else {
      this.dropConnections();
    }
    await closed;
  }

  dropConnections(): void {
    for (const c of this.#connections) {
      c.socket.uncork(); // what was written before the crash left, as it would have without the batching
      c.socket.destroy();
    }
    this.#connections.clear();
  }

  injectRaw(raw: string | Buffer): void {
    for (const c of this.#connections) if (c.authed && !c.closed && !c.socket.destroyed) c.socket.write(raw);
  }

  /** Whether some connection may take an event of this name (its filters are not looked at: they need the headers). */
  wants(name: string, subclass: string | undefined): boolean {
    for (const c of this.#connections) if (c.mayWant(name, subclass)) return true;
    return false;
  }

  broadcast(event: FsEvent): void {
    for (const c of this.#connections) c.deliver(event);
  }

  forget(c: EslConnection): void {
    this.#connections.delete(c);
  }

  /** Not `async`: the connection awaits handleCommand's own promise (a wrapper would delay replies by microtasks). */
  handle(conn: EslConnection, packet: EslPacket): Promise<string | undefined> {
    return handleCommand(this.#backend, conn, packet);
  }
}

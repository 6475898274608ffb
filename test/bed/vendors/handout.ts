import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';

/**
 * Sessions (or requests) a fake hands to tests one at a time, in arrival order: `next()` resolves with the
 * first one not handed out yet, at once or when it arrives.
 */
export class Handout<T> {
  readonly #items: readonly T[];
  readonly #label: string;
  #taken = 0;
  #waiting: Array<{ resolve(item: T): void; timer: NodeJS.Timeout }> = [];

  /** `items` is the fake's own list; call `arrived()` after each push onto it. */
  constructor(items: readonly T[], label: string) {
    this.#items = items;
    this.#label = label;
  }

  arrived(item: T): void {
    const waiter = this.#waiting.shift();
    if (waiter === undefined) return;
    this.#taken++;
    clearTimeout(waiter.timer);
    waiter.resolve(item);
  }

  next(timeoutMs: number): Promise<T> {
    const ready = this.#items[this.#taken];
    if (ready !== undefined) {
      this.#taken++;
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => {
      const entry = {
        resolve,
        timer: setTimeout(() => {
          this.#waiting = this.#waiting.filter((w) => w !== entry);
          reject(new Error(`${this.#label} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiting.push(entry);
    });
  }

  /** Drop the waiters (the fake is stopping). */
  clear(): void {
    for (const w of this.#waiting) clearTimeout(w.timer);
    this.#waiting = [];
  }
}

/**
 * Close a WebSocket fake: end every session (giving them up to 2 s), then the WebSocket and HTTP servers, and
 * wait one loop turn (the listening handle goes in the close-callbacks phase) so no handle is left behind.
 */
export async function closeServers(o: {
  sessions: ReadonlyArray<{ terminate(): void; closed: Promise<unknown> }>;
  sockets: Iterable<Duplex>;
  wss?: WebSocketServer;
  server: Server;
}): Promise<void> {
  for (const s of o.sessions) s.terminate();
  for (const sock of o.sockets) sock.destroy();
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(o.sessions.map((s) => s.closed)),
    new Promise<void>((resolve) => {
      guard = setTimeout(resolve, 2000);
    }),
  ]);
  clearTimeout(guard);
  if (o.wss) await new Promise<void>((resolve) => o.wss!.close(() => resolve()));
  await new Promise<void>((resolve) => o.server.close(() => resolve()));
  await new Promise<void>((resolve) => setTimeout(resolve, 0));
}

/** Listen on a free loopback port, tracking every connection in `sockets` (closeServers destroys them). */
export async function listenOnLoopback(server: Server, sockets: Set<Duplex>): Promise<number> {
  server.on('connection', (sock: Duplex) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

import { randomUUID } from 'node:crypto';
import { type AddressInfo, createServer, type Server, type Socket, connect } from 'node:net';
import { RedisLink } from '../../src/cluster/redis-link.ts';

/** The Redis the cluster tests use (scripts/test-services.sh starts one on loopback). */
export const REDIS_URL = process.env.CALLBRIDGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test (or test run) uses. */
export const testPrefix = (): string => `cbtest-${randomUUID().slice(0, 8)}`;

/**
 * Links to the test Redis, each test file's own: open() fails (never skips) when Redis is not there, and
 * cleanup() deletes every key under the prefixes handed out and closes every link.
 */
export class TestRedis {
  readonly #links: RedisLink[] = [];
  readonly #prefixes: string[] = [];

  prefix(): string {
    const p = testPrefix();
    this.#prefixes.push(p);
    return p;
  }

  async open(url = REDIS_URL, name = 'cluster-test'): Promise<RedisLink> {
    const link = new RedisLink({ url, name, connectTimeoutMs: 2000, commandTimeoutMs: 2000 });
    this.#links.push(link);
    try {
      await link.ready(5000);
    } catch (e) {
      throw new Error(
        `${(e as Error).message}. The cluster tests need a real Redis: run scripts/test-services.sh ` +
          '(or set CALLBRIDGE_TEST_REDIS_URL)',
      );
    }
    return link;
  }

  async cleanup(): Promise<void> {
    try {
      // A link of its own, straight to Redis: the tests' links may be down or behind a cut relay.
      const admin = await this.open();
      for (const p of this.#prefixes) {
        let cursor = '0';
        do {
          const [next, keys] = await admin.command.scan(cursor, 'MATCH', `${p}:*`, 'COUNT', 1000);
          if (keys.length) await admin.command.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      }
    } finally {
      await Promise.all(this.#links.map((l) => l.close()));
    }
  }
}

/** Wait until `cond` holds (checked every 20 ms); fail with `what` after timeoutMs. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A TCP relay in front of the test Redis that the test can cut (every connection dropped, new ones refused)
 * and restore on the same port: a Redis outage without touching the shared server.
 */
export class CuttableRelay {
  readonly #target: URL;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #port = 0;

  constructor(targetUrl = REDIS_URL) {
    this.#target = new URL(targetUrl);
  }

  /** The relay's URL (the target's, with host and port swapped). */
  get url(): string {
    const u = new URL(this.#target);
    u.hostname = '127.0.0.1';
    u.port = String(this.#port);
    return u.toString();
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(Number(this.#target.port || 6379), this.#target.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Drop every connection and refuse new ones until start() again. */
  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}

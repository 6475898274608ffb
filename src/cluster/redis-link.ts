import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { errorText } from '../errors.ts';

export interface RedisLinkOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// (TLS). */
  url: string;
  /** Shown in Redis's CLIENT LIST as `<name>:cmd` and `<name>:sub` (e.g. the instance id). */
  name?: string;
  /** How long one connection attempt may take. */
  connectTimeoutMs?: number;
  /** How long one command may wait for its reply before it fails. */
  commandTimeoutMs?: number;
}

/** Redis could not be reached in time (the message names the server with its password masked). */
export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** The URL with any password (and user name) masked, fit for logs and error messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.username) u.username = '***';
    return u.toString();
  } catch {
    return '(unparsable Redis URL)';
  }
}

export type MessageHandler = (message: string, channel: string) => void;

type LinkState = 'connecting' | 'up' | 'down';

/** Reconnect forever, backing off to at most 2 s between attempts. */
const retryStrategy = (attempt: number): number => Math.min(50 * 2 ** Math.min(attempt, 6), 2000);

/**
 * The two Redis connections an instance needs: `command` for keys, scripts and PUBLISH, and `subscriber`
 * (a connection in subscribe mode can do nothing else). No wait is unbounded: commands fail at once while the
 * link is down (no offline queue), time out after commandTimeoutMs, and are never re-sent after a reconnect.
 * Both reconnect on their own (channels are re-subscribed). Emits `down` (reason) once per outage and `up`
 * when both connections are ready again, so the owner logs an outage once rather than per command; `error`
 * (the outage's first error) is only emitted when someone listens to it.
 */
export class RedisLink extends EventEmitter<{
  up: [];
  down: [reason: string];
  error: [error: Error];
  'handler-error': [error: unknown, channel: string];
}> {
  readonly command: Redis;
  readonly subscriber: Redis;
  /** The server's URL with the password masked. */
  readonly where: string;
  #state: LinkState = 'connecting';
  #lastError: string | undefined;
  #closed = false;
  readonly #handlers = new Map<string, Set<MessageHandler>>();
  readonly #subscribing = new Map<string, Promise<unknown>>();

  constructor(opts: RedisLinkOptions) {
    super();
    this.where = redactRedisUrl(opts.url);
    const base: RedisOptions = {
      connectTimeout: opts.connectTimeoutMs ?? 3000,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy,
      // RESP2: every Redis since 2.6 speaks it; no handshake extras the server may not know.
      protocol: 2,
      disableClientInfo: true,
      maintNotifications: 'disabled',
    };
    const name = opts.name ?? 'callbridge';
    this.command = new Redis(opts.url, { ...base, connectionName: `${name}:cmd` });
    this.subscriber = new Redis(opts.url, { ...base, connectionName: `${name}:sub` });
    for (const conn of [this.command, this.subscriber]) {
      conn.on('error', this.#onError);
      for (const status of ['ready', 'close', 'end', 'reconnecting']) conn.on(status, this.#onStatus);
    }
    this.subscriber.on('message', this.#onMessage);
  }

  /** True while both connections are ready. */
  get isUp(): boolean {
    return this.command.status === 'ready' && this.subscriber.status === 'ready';
  }

  /** Resolves once both connections are ready; rejects with RedisUnavailableError after timeoutMs. */
  ready(timeoutMs: number): Promise<void> {
    if (this.isUp) return Promise.resolve();
    if (this.#closed) return Promise.reject(new RedisUnavailableError(`Redis link to ${this.where} is closed`));
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off('up', onUp);
      };
      const onUp = (): void => {
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        const why = this.#lastError ? `: ${this.#lastError}` : '';
        reject(new RedisUnavailableError(`Redis at ${this.where} not ready within ${timeoutMs} ms${why}`));
      }, timeoutMs);
      this.on('up', onUp);
    });
  }

  /**
   * Deliver every message on `channel` to fn (in the order Redis sent them). Resolves once Redis confirmed the
   * subscription; the returned function removes fn (and unsubscribes when it was the channel's last handler).
   */
  async listen(channel: string, fn: MessageHandler): Promise<() => Promise<void>> {
    let set = this.#handlers.get(channel);
    if (!set) {
      set = new Set();
      this.#handlers.set(channel, set);
      const subscribing = this.subscriber.subscribe(channel).finally(() => this.#subscribing.delete(channel));
      this.#subscribing.set(channel, subscribing);
    }
    set.add(fn);
    try {
      await this.#subscribing.get(channel);
    } catch (e) {
      this.#drop(channel, fn);
      throw e;
    }
    return async () => {
      if (this.#drop(channel, fn) && !this.#closed) await this.subscriber.unsubscribe(channel).catch(() => {});
    };
  }

  /** Quit both connections (waiting at most a second for Redis to confirm) and drop every listener. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.clear();
    await Promise.all([quit(this.command), quit(this.subscriber)]);
    for (const conn of [this.command, this.subscriber]) conn.removeAllListeners();
    // ioredis may still report the closing socket's last error: keep a listener so it goes nowhere.
    for (const conn of [this.command, this.subscriber]) conn.on('error', () => {});
    this.removeAllListeners();
  }

  /** Returns true when `channel` has no handler left. */
  #drop(channel: string, fn: MessageHandler): boolean {
    const set = this.#handlers.get(channel);
    if (!set) return false;
    set.delete(fn);
    if (set.size > 0) return false;
    this.#handlers.delete(channel);
    return true;
  }

  readonly #onMessage = (channel: string, message: string): void => {
    const set = this.#handlers.get(channel);
    if (!set) return;
    for (const fn of set) {
      try {
        fn(message, channel);
      } catch (e) {
        this.emit('handler-error', e, channel);
      }
    }
  };

  readonly #onError = (e: Error): void => {
    this.#lastError = errorText(e);
    if (this.#closed || this.isUp || this.#state === 'down') return;
    this.#goDown(e);
  };

  readonly #onStatus = (): void => {
    if (this.#closed) return;
    if (this.isUp) {
      if (this.#state === 'up') return;
      this.#state = 'up';
      this.#lastError = undefined;
      this.emit('up');
    } else if (this.#state === 'up') {
      this.#goDown(new Error(this.#lastError ?? 'connection closed'));
    }
  };

  #goDown(e: Error): void {
    this.#state = 'down';
    this.emit('down', `Redis at ${this.where} unreachable: ${errorText(e)}`);
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }
}

async function quit(conn: Redis): Promise<void> {
  if (conn.status === 'end') return;
  if (conn.status !== 'ready') {
    conn.disconnect();
    return;
  }
  const timer = setTimeout(() => conn.disconnect(), 1000);
  try {
    await conn.quit();
  } catch {
    conn.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A Lua script run by its SHA1 (EVALSHA), sent whole once when Redis does not know it yet (a new server, or
 * after SCRIPT FLUSH): one round trip per call in the steady state.
 */
export class LuaScript {
  readonly #lua: string;
  readonly #sha: string;

  constructor(lua: string) {
    this.#lua = lua;
    this.#sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!errorText(e).startsWith('NOSCRIPT')) throw e;
      return redis.eval(this.#lua, keys.length, ...keys, ...args);
    }
  }
}

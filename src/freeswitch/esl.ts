import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Logger } from '../log.ts';
import { SUBSCRIBED_EVENTS, SUBSCRIBED_SUBCLASSES, subscribe, type EslCommand, type SendMsg } from './commands.ts';
import type { RawEvent } from './events.ts';

/**
 * A typed ESL client over modesl (inbound connection to mod_event_socket). modesl gives us the wire
 * protocol; this adds what it lacks: reconnect with capped exponential backoff and resubscription,
 * a timeout on every command, pending commands failed (not hung) when the socket drops, and typed events.
 *
 * modesl matches replies to commands strictly first-in-first-out. A command that timed out therefore keeps
 * its slot until its (late) reply arrives, so the next command never receives someone else's reply. If the
 * late reply does not come either, the connection is declared dead and replaced.
 */

const require = createRequire(import.meta.url);
const esl = require('modesl') as { Connection: new (host: string, port: number, password: string, ready?: () => void) => ModeslConnection };

interface ModeslEvent {
  type: string;
  getHeader(name: string): string | null;
  getBody(): string;
}
interface ModeslConnection {
  socket: Socket | null;
  on(event: string, fn: (...args: any[]) => void): void;
  api(command: string, cb: (e: ModeslEvent) => void): void;
  sendRecv(command: string, args: Record<string, string> | null, cb: (e: ModeslEvent) => void): void;
  removeAllListeners(): void;
}

export class EslError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EslError';
  }
}
export class EslNotConnectedError extends EslError {}
export class EslTimeoutError extends EslError {}
/** FreeSWITCH answered `-ERR ...` (or `-USAGE`). */
export class EslCommandError extends EslError {
  readonly reply: string;
  constructor(command: string, reply: string) {
    super(`${command.split(' ', 2).join(' ')}: ${reply.trim()}`);
    this.reply = reply.trim();
  }
}

export interface EslClientOptions {
  host: string;
  port: number;
  password: string;
  commandTimeoutMs: number;
  reconnectMaxMs: number;
  reconnectInitialMs?: number;
  /** Longest wait from opening the socket to the subscription reply (connect + auth + subscribe), ms. */
  connectTimeoutMs?: number;
  logger: Logger;
}

interface Pending {
  command: string;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve(value: string): void;
  reject(err: Error): void;
}

export interface EslClientEvents {
  event: [RawEvent];
  connected: [];
  disconnected: [reason: string];
}

function view(e: ModeslEvent): RawEvent {
  return {
    name: e.getHeader('Event-Name') ?? e.type,
    subclass: e.getHeader('Event-Subclass') ?? undefined,
    header: (n) => e.getHeader(n) ?? undefined,
    body: e.getBody() ?? '',
  };
}

export class EslClient extends EventEmitter<EslClientEvents> {
  readonly #opts: Required<EslClientOptions>;
  #conn: ModeslConnection | undefined;
  #ready = false;
  #stopped = true;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  /** Commands waiting for their reply (api, sendmsg, bgapi acceptance). */
  #inflight = new Set<Pending>();
  /** bgapi jobs waiting for their BACKGROUND_JOB event. */
  #jobs = new Map<string, Pending>();

  constructor(opts: EslClientOptions) {
    super();
    this.#opts = { reconnectInitialMs: 250, connectTimeoutMs: 5000, ...opts };
  }

  get connected(): boolean {
    return this.#ready;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  /** Resolves once connected and subscribed (or rejects after `timeoutMs`). */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.#ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('connected', done);
        reject(new EslTimeoutError(`no ESL connection to ${this.#opts.host}:${this.#opts.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('connected', done);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    this.#drop('client stopped');
  }

  /** `api <command>`: resolves with the reply body, whatever it says. */
  api(command: EslCommand, timeoutMs = this.#opts.commandTimeoutMs): Promise<string> {
    return this.#request(command, timeoutMs, (conn, done) => conn.api(command, (e) => done(e.getBody() ?? '')));
  }

  /** `api <command>` that rejects with EslCommandError when FreeSWITCH answers -ERR/-USAGE. */
  async apiOk(command: EslCommand, timeoutMs?: number): Promise<string> {
    const reply = await this.api(command, timeoutMs);
    if (reply.startsWith('-')) throw new EslCommandError(command, reply);
    return reply;
  }

  /**
   * `bgapi <command>`: for slow commands (originate), which would block the socket's other replies as
   * `api`. Resolves with the BACKGROUND_JOB body (e.g. `+OK <uuid>` or `-ERR USER_BUSY`).
   */
  bgapi(command: EslCommand, timeoutMs: number, jobUuid: string = randomUUID()): Promise<string> {
    const job = new Promise<string>((resolve, reject) => {
      const pending: Pending = { command, settled: false, timer: undefined, resolve, reject };
      pending.timer = setTimeout(
        () => this.#failJob(jobUuid, new EslTimeoutError(`bgapi ${command.split(' ')[0]}: no result within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#jobs.set(jobUuid, pending);
    });
    const accepted = this.#request(command, this.#opts.commandTimeoutMs, (conn, done) =>
      conn.sendRecv(`bgapi ${command}`, { 'Job-UUID': jobUuid }, (e) => done(e.getHeader('Reply-Text') ?? '')),
    );
    accepted.then(
      (reply) => {
        if (!reply.startsWith('+OK')) this.#failJob(jobUuid, new EslCommandError(command, reply));
      },
      (err: Error) => this.#failJob(jobUuid, err),
    );
    return job;
  }

  /** `sendmsg <uuid>` with headers; resolves with the Reply-Text (`+OK` or `-ERR ...`). */
  sendmsg(msg: SendMsg, timeoutMs = this.#opts.commandTimeoutMs): Promise<string> {
    return this.#request(`sendmsg ${msg.uuid}`, timeoutMs, (conn, done) =>
      conn.sendRecv(`sendmsg ${msg.uuid}`, { ...msg.headers }, (e) => done(e.getHeader('Reply-Text') ?? '')),
    );
  }

  #failJob(jobUuid: string, err: Error): void {
    const pending = this.#jobs.get(jobUuid);
    this.#jobs.delete(jobUuid);
    if (pending) this.#settle(pending, err);
  }

  #request(command: string, timeoutMs: number, send: (conn: ModeslConnection, done: (reply: string) => void) => void): Promise<string> {
    const conn = this.#conn;
    if (!conn || !this.#ready) return Promise.reject(new EslNotConnectedError(`ESL not connected (${command.split(' ')[0]})`));
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = { command, settled: false, timer: undefined, resolve, reject };
      pending.timer = setTimeout(() => this.#timedOut(pending, conn, timeoutMs), timeoutMs);
      this.#inflight.add(pending);
      // modesl writes the command line and each header separately; corked, they leave as one segment.
      const socket = conn.socket;
      socket?.cork();
      try {
        send(conn, (reply) => {
          this.#inflight.delete(pending);
          this.#settle(pending, undefined, reply);
        });
      } finally {
        socket?.uncork();
      }
    });
  }

  #timedOut(pending: Pending, conn: ModeslConnection, timeoutMs: number): void {
    this.#settle(pending, new EslTimeoutError(`${pending.command.split(' ', 2).join(' ')}: no reply within ${timeoutMs} ms`));
    // Keep the FIFO slot. If the reply still has not come after another timeout, the socket is stuck.
    pending.timer = setTimeout(() => {
      if (this.#inflight.has(pending) && this.#conn === conn) {
        this.#opts.logger.error({ command: pending.command.split(' ')[0] }, 'ESL connection unresponsive; reconnecting');
        conn.socket?.destroy();
      }
    }, timeoutMs);
  }

  #settle(pending: Pending, err?: Error, value?: string): void {
    clearTimeout(pending.timer);
    if (pending.settled) return;
    pending.settled = true;
    if (err) pending.reject(err);
    else pending.resolve(value ?? '');
  }

  #connect(): void {
    const { host, port, password, logger } = this.#opts;
    const conn = new esl.Connection(host, port, password, () => this.#onAuthenticated(conn));
    this.#conn = conn;
    const socket = conn.socket!;
    // Commands are a few small writes; without this, Nagle holds e.g. a barge-in uuid_break for an ACK.
    socket.setNoDelay(true);
    this.#connectTimer = setTimeout(() => {
      logger.warn({ host, port }, 'ESL connect timed out (no connection, auth or subscription reply)');
      socket.destroy();
    }, this.#opts.connectTimeoutMs);
    socket.once('close', () => this.#onClose(conn));
    conn.on('error', (err: Error) => logger.warn({ err: err.message }, 'ESL socket error'));
    conn.on('esl::event::auth::fail', () => logger.error({ host, port }, 'ESL authentication failed: check FREESWITCH_ESL_PASSWORD'));
    conn.on('esl::event::raw::text/rude-rejection', () =>
      logger.error({ host, port }, 'FreeSWITCH refused the ESL connection (ACL): add callbridge to apply-inbound-acl in event_socket.conf'),
    );
    conn.on('esl::event::**', (e: ModeslEvent, headers: Record<string, string>) => {
      if (headers?.['Content-Type'] !== 'text/event-json') return;
      const raw = view(e);
      if (raw.name === 'BACKGROUND_JOB') this.#onJob(raw);
      this.emit('event', raw);
    });
  }

  #onAuthenticated(conn: ModeslConnection): void {
    const command = subscribe(SUBSCRIBED_EVENTS, SUBSCRIBED_SUBCLASSES);
    conn.sendRecv(command, null, (e) => {
      if (this.#conn !== conn) return;
      const reply = e.getHeader('Reply-Text') ?? '';
      if (!reply.startsWith('+OK')) {
        this.#opts.logger.error({ reply }, 'ESL event subscription refused');
        conn.socket?.destroy();
        return;
      }
      clearTimeout(this.#connectTimer);
      this.#ready = true;
      this.#attempt = 0;
      this.#opts.logger.info({ host: this.#opts.host, port: this.#opts.port }, 'ESL connected');
      this.emit('connected');
    });
  }

  #onJob(e: RawEvent): void {
    const id = e.header('Job-UUID');
    const pending = id ? this.#jobs.get(id) : undefined;
    if (!pending || !id) return;
    this.#jobs.delete(id);
    this.#settle(pending, undefined, e.body);
  }

  #onClose(conn: ModeslConnection): void {
    if (this.#conn !== conn) return;
    clearTimeout(this.#connectTimer);
    const wasReady = this.#ready;
    this.#drop('ESL connection closed');
    if (wasReady) this.emit('disconnected', 'ESL connection closed');
    if (this.#stopped) return;
    const base = Math.min(this.#opts.reconnectMaxMs, this.#opts.reconnectInitialMs * 2 ** this.#attempt++);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    if (wasReady || this.#attempt === 1) this.#opts.logger.warn({ retryInMs: delay }, 'ESL disconnected; reconnecting');
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  /** Forget the current connection: fail everything pending, close the socket. */
  #drop(reason: string): void {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#ready = false;
    clearTimeout(this.#connectTimer);
    for (const p of this.#inflight) this.#settle(p, new EslNotConnectedError(`${reason} (${p.command.split(' ')[0]} pending)`));
    this.#inflight.clear();
    for (const p of this.#jobs.values()) this.#settle(p, new EslNotConnectedError(`${reason} (bgapi job pending)`));
    this.#jobs.clear();
    if (conn) {
      conn.removeAllListeners();
      conn.socket?.removeAllListeners('data');
      conn.socket?.on('error', () => {});
      conn.socket?.destroy();
    }
  }
}

import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import { SUBSCRIBED_EVENTS, SUBSCRIBED_SUBCLASSES, subscribe, type EslCommand, type SendMsg } from './commands.ts';
import { EslConnection, type EslReply } from './esl-connection.ts';
import { EslCommandError, EslError, EslNotConnectedError, EslTimeoutError } from './esl-errors.ts';
import { DEFAULT_MAX_FRAME_BYTES } from './esl-frames.ts';
import { EslPendingReplies } from './esl-pending.ts';
import type { RawEvent } from './events.ts';

/**
 * A typed ESL client (inbound connection to mod_event_socket) over our own connection and frame parser
 * (esl-connection.ts, esl-frames.ts: linear, size-capped, nothing from the peer can throw out of the socket).
 * It adds reconnect with capped exponential backoff and resubscription, a timeout on every command, pending
 * commands failed (not hung) when the socket drops, and typed events. A frame it cannot parse counts as a
 * broken connection: the socket is replaced and `connected` fires again, so callers resync.
 *
 * Replies are matched to commands strictly first-in-first-out. A command that timed out therefore keeps
 * its slot until its (late) reply arrives, so the next command never receives someone else's reply. If the
 * late reply does not come either, the connection is declared dead and replaced. That bookkeeping lives in
 * esl-pending.ts, the error classes in esl-errors.ts (re-exported here).
 */

export { EslCommandError, EslError, EslNotConnectedError, EslTimeoutError };

export interface EslClientOptions {
  host: string;
  port: number;
  password: string;
  commandTimeoutMs: number;
  reconnectMaxMs: number;
  reconnectInitialMs?: number;
  /** Longest wait from opening the socket to the subscription reply (connect + auth + subscribe), ms. */
  connectTimeoutMs?: number;
  /** Largest ESL frame body accepted; a bigger one breaks the connection (default 8 MiB). */
  maxFrameBytes?: number;
  logger: Logger;
}

export interface EslClientEvents {
  event: [RawEvent];
  /** Authenticated and subscribed, after the first connect and after every reconnect. */
  connected: [];
  disconnected: [reason: string];
}

export class EslClient extends EventEmitter<EslClientEvents> {
  readonly #opts: Required<EslClientOptions>;
  #conn: EslConnection | undefined;
  #ready = false;
  #stopped = true;
  #attempt = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  /** Commands waiting for their reply and bgapi jobs waiting for their result (esl-pending.ts). */
  readonly #pending: EslPendingReplies;

  constructor(opts: EslClientOptions) {
    super();
    if (/[\r\n]/.test(opts.password)) throw new EslError('the ESL password must not contain line breaks');
    this.#opts = { reconnectInitialMs: 250, connectTimeoutMs: 5000, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, ...opts };
    this.#pending = new EslPendingReplies(opts.logger, () => this.#conn);
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
        reject(
          new EslTimeoutError(`no ESL connection to ${this.#opts.host}:${this.#opts.port} within ${timeoutMs} ms`),
        );
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
    return this.#request(command, timeoutMs, (conn, done) => conn.send(`api ${command}`, null, (r) => done(r.body)));
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
    const job = this.#pending.job(jobUuid, command, timeoutMs);
    const accepted = this.#request(command, this.#opts.commandTimeoutMs, (conn, done) =>
      conn.send(`bgapi ${command}`, { 'Job-UUID': jobUuid }, (r) => done(r.replyText)),
    );
    accepted.then(
      (reply) => {
        if (!reply.startsWith('+OK')) this.#pending.failJob(jobUuid, new EslCommandError(command, reply));
      },
      (err: Error) => this.#pending.failJob(jobUuid, err),
    );
    return job;
  }

  /** `sendmsg <uuid>` with headers; resolves with the Reply-Text (`+OK` or `-ERR ...`). */
  sendmsg(msg: SendMsg, timeoutMs = this.#opts.commandTimeoutMs): Promise<string> {
    return this.#request(`sendmsg ${msg.uuid}`, timeoutMs, (conn, done) =>
      conn.send(`sendmsg ${msg.uuid}`, msg.headers, (r) => done(r.replyText)),
    );
  }

  #request(
    command: string,
    timeoutMs: number,
    send: (conn: EslConnection, done: (reply: string) => void) => void,
  ): Promise<string> {
    const conn = this.#conn;
    if (!conn || !this.#ready)
      return Promise.reject(new EslNotConnectedError(`ESL not connected (${command.split(' ')[0]})`));
    return this.#pending.request(conn, command, timeoutMs, send);
  }

  #connect(): void {
    const { host, port, password, logger } = this.#opts;
    const conn: EslConnection = new EslConnection(host, port, this.#opts.maxFrameBytes, {
      authRequest: () => conn.send(`auth ${password}`, null, (r) => this.#onAuthReply(conn, r)),
      event: (raw) => this.#onEvent(raw),
      notice: (type, body) => {
        if (type === 'text/rude-rejection') {
          logger.error(
            { host, port },
            'FreeSWITCH refused the ESL connection (ACL): add callbridge to apply-inbound-acl in event_socket.conf',
          );
        } else logger.warn({ notice: body.trim().slice(0, 200) }, 'FreeSWITCH is closing the ESL connection');
      },
      protocolError: (err) => logger.error({ err: err.message }, 'unparsable data from FreeSWITCH; reconnecting'),
      handlerError: (err) =>
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'error while handling an ESL frame'),
    });
    this.#conn = conn;
    const socket = conn.socket;
    this.#connectTimer = setTimeout(() => {
      logger.warn({ host, port }, 'ESL connect timed out (no connection, auth or subscription reply)');
      socket.destroy();
    }, this.#opts.connectTimeoutMs);
    socket.once('close', () => this.#onClose(conn));
    socket.on('error', (err: Error) => logger.warn({ err: err.message }, 'ESL socket error'));
  }

  /** One event: a listener that throws costs that event, never the connection or the process. */
  #onEvent(raw: RawEvent): void {
    if (raw.name === 'BACKGROUND_JOB') this.#pending.completeJob(raw);
    try {
      this.emit('event', raw);
    } catch (err) {
      this.#opts.logger.error(
        { event: raw.name, call: raw.header('Unique-ID'), err: err instanceof Error ? err.message : String(err) },
        'error while handling an ESL event',
      );
    }
  }

  #onAuthReply(conn: EslConnection, reply: EslReply): void {
    if (this.#conn !== conn) return;
    if (!reply.replyText.startsWith('+OK')) {
      this.#opts.logger.error(
        { host: this.#opts.host, port: this.#opts.port },
        'ESL authentication failed: check FREESWITCH_ESL_PASSWORD',
      );
      conn.destroy();
      return;
    }
    this.#onAuthenticated(conn);
  }

  #onAuthenticated(conn: EslConnection): void {
    const command = subscribe(SUBSCRIBED_EVENTS, SUBSCRIBED_SUBCLASSES);
    conn.send(command, null, (r) => {
      if (this.#conn !== conn) return;
      const reply = r.replyText;
      if (!reply.startsWith('+OK')) {
        this.#opts.logger.error({ reply }, 'ESL event subscription refused');
        conn.destroy();
        return;
      }
      clearTimeout(this.#connectTimer);
      this.#ready = true;
      this.#attempt = 0;
      this.#opts.logger.info({ host: this.#opts.host, port: this.#opts.port }, 'ESL connected');
      try {
        this.emit('connected');
      } catch (err) {
        this.#opts.logger.error(
          { err: err instanceof Error ? err.message : String(err) },
          'error in an ESL connected listener',
        );
      }
    });
  }

  #onClose(conn: EslConnection): void {
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
    this.#pending.failAll(reason);
    if (conn) {
      conn.socket.removeAllListeners('data');
      conn.socket.on('error', () => {});
      conn.socket.destroy();
    }
  }
}

/**
 * EslClient's bookkeeping of what is waiting for FreeSWITCH: commands waiting for their reply on the
 * socket (api, sendmsg, bgapi acceptance) and bgapi jobs waiting for their BACKGROUND_JOB event. Each one
 * is settled exactly once: by its reply, its timeout, or the connection dropping (`failAll`).
 *
 * Replies are matched to commands strictly first-in-first-out, so a command that timed out keeps its slot
 * until its (late) reply arrives; if that does not come within another timeout either, the connection is
 * stuck and is destroyed (EslClient then reconnects).
 */

import type { Logger } from '../log.ts';
import type { EslConnection } from './esl-connection.ts';
import { EslNotConnectedError, EslTimeoutError } from './esl-errors.ts';
import type { RawEvent } from './events.ts';

interface Pending {
  command: string;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve(value: string): void;
  reject(err: Error): void;
}

export class EslPendingReplies {
  readonly #logger: Logger;
  /** The client's live connection: a stuck one is destroyed only while it is still the live one. */
  readonly #currentConnection: () => EslConnection | undefined;
  /** Commands waiting for their reply (api, sendmsg, bgapi acceptance). */
  #inflight = new Set<Pending>();
  /** bgapi jobs waiting for their BACKGROUND_JOB event. */
  #jobs = new Map<string, Pending>();

  constructor(logger: Logger, currentConnection: () => EslConnection | undefined) {
    this.#logger = logger;
    this.#currentConnection = currentConnection;
  }

  /** Sends with `send` on `conn` and resolves with what it passes to `done`, or rejects after `timeoutMs`. */
  request(
    conn: EslConnection,
    command: string,
    timeoutMs: number,
    send: (conn: EslConnection, done: (reply: string) => void) => void,
  ): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = { command, settled: false, timer: undefined, resolve, reject };
      pending.timer = setTimeout(() => this.#timedOut(pending, conn, timeoutMs), timeoutMs);
      this.#inflight.add(pending);
      send(conn, (reply) => {
        this.#inflight.delete(pending);
        this.#settle(pending, undefined, reply);
      });
    });
  }

  /** Resolves with the body of the BACKGROUND_JOB for `jobUuid`, or rejects after `timeoutMs`. */
  job(jobUuid: string, command: string, timeoutMs: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = { command, settled: false, timer: undefined, resolve, reject };
      pending.timer = setTimeout(
        () =>
          this.failJob(
            jobUuid,
            new EslTimeoutError(`bgapi ${command.split(' ')[0]}: no result within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      this.#jobs.set(jobUuid, pending);
    });
  }

  failJob(jobUuid: string, err: Error): void {
    const pending = this.#jobs.get(jobUuid);
    this.#jobs.delete(jobUuid);
    if (pending) this.#settle(pending, err);
  }

  /** A BACKGROUND_JOB event: settles the job it names, if it is one of ours. */
  completeJob(e: RawEvent): void {
    const id = e.header('Job-UUID');
    const pending = id ? this.#jobs.get(id) : undefined;
    if (!pending || !id) return;
    this.#jobs.delete(id);
    this.#settle(pending, undefined, e.body);
  }

  /** The connection is gone: fail every command and job still waiting. */
  failAll(reason: string): void {
    for (const p of this.#inflight)
      this.#settle(p, new EslNotConnectedError(`${reason} (${p.command.split(' ')[0]} pending)`));
    this.#inflight.clear();
    for (const p of this.#jobs.values()) this.#settle(p, new EslNotConnectedError(`${reason} (bgapi job pending)`));
    this.#jobs.clear();
  }

  #timedOut(pending: Pending, conn: EslConnection, timeoutMs: number): void {
    this.#settle(
      pending,
      new EslTimeoutError(`${pending.command.split(' ', 2).join(' ')}: no reply within ${timeoutMs} ms`),
    );
    // Keep the FIFO slot. If the reply still has not come after another timeout, the socket is stuck.
    pending.timer = setTimeout(() => {
      if (this.#inflight.has(pending) && this.#currentConnection() === conn) {
        this.#logger.error({ command: pending.command.split(' ')[0] }, 'ESL connection unresponsive; reconnecting');
        conn.destroy();
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
}

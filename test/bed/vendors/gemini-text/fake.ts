/** The fake's server: reads each request, records it, hands it to tests and answers it by its script. */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Handout, closeServers, listenOnLoopback } from '../handout.ts';
import { autoScript } from './auto-reply.ts';
import type { GeminiReplyScript, GeminiTextFakeOptions, GeminiTextRequest } from './options.ts';
import { statusText, writeJsonError } from './protocol.ts';
import { answer } from './reply.ts';
import { checkRequest, readContents } from './request.ts';

export class GeminiTextFake extends EventEmitter {
  /** `http://127.0.0.1:PORT`, for `httpOptions.baseUrl`. */
  readonly baseUrl: string;
  readonly port: number;
  readonly options: GeminiTextFakeOptions;
  readonly requests: GeminiTextRequest[] = [];
  /** Exceptions in the fake's own handlers. */
  readonly errors: Error[] = [];

  readonly #server: Server;
  readonly #sockets: Set<Duplex>;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #scripts: (GeminiReplyScript | ((req: GeminiTextRequest) => GeminiReplyScript))[] = [];
  #defaultScript: ((req: GeminiTextRequest) => GeminiReplyScript) | undefined;
  readonly #handout = new Handout<GeminiTextRequest>(this.requests, 'fake gemini text: no request');
  #stopped = false;

  private constructor(server: Server, port: number, sockets: Set<Duplex>, options: GeminiTextFakeOptions) {
    super();
    this.#sockets = sockets;
    this.#server = server;
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.options = options;
  }

  static async start(options: GeminiTextFakeOptions = {}): Promise<GeminiTextFake> {
    let fake: GeminiTextFake | undefined;
    const server = createServer((req, res) => {
      try {
        fake!.#onRequest(req, res);
      } catch (e) {
        fake!.errors.push(e instanceof Error ? e : new Error(String(e)));
        res.destroy();
      }
    });
    const sockets = new Set<Duplex>();
    const port = await listenOnLoopback(server, sockets);
    fake = new GeminiTextFake(server, port, sockets, options);
    return fake;
  }

  /** Queue scripts for the next requests, in order (each used once). */
  script(...scripts: (GeminiReplyScript | ((req: GeminiTextRequest) => GeminiReplyScript))[]): void {
    this.#scripts.push(...scripts);
  }

  /** The script for requests when the queue is empty (replaces the automatic canned reply). */
  setDefault(fn: ((req: GeminiTextRequest) => GeminiReplyScript) | undefined): void {
    this.#defaultScript = fn;
  }

  /** The next request not yet handed out (in arrival order). */
  nextRequest(timeoutMs = 3000): Promise<GeminiTextRequest> {
    return this.#handout.next(timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#handout.clear();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await closeServers({ sessions: [], sockets: this.#sockets, server: this.#server });
  }

  // ---- internals ------------------------------------------------------------------------------

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        this.#onBody(req, res, path, query, Buffer.concat(chunks));
      } catch (e) {
        this.errors.push(e instanceof Error ? e : new Error(String(e)));
        res.destroy();
      }
    });
  }

  #onBody(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, raw: Buffer): void {
    const checked = checkRequest(req, path, query, raw, this.options);
    if ('code' in checked) {
      const { code, message } = checked;
      writeJsonError(res, code, JSON.stringify({ error: { code, message, status: statusText(code) } }));
      return;
    }
    const { model, apiVersion, body } = checked;
    let resolveDone!: () => void;
    const record: GeminiTextRequest = {
      id: this.requests.length + 1,
      method: req.method!,
      path,
      query,
      model,
      apiVersion,
      headers: req.headers,
      body,
      ...readContents(body),
      receivedAt: performance.now(),
      tokensSent: 0,
      firstTokenAt: undefined,
      endedAt: undefined,
      completed: false,
      aborted: false,
      done: new Promise<void>((r) => {
        resolveDone = r;
      }),
    };
    this.requests.push(record);
    const finish = (completed: boolean) => {
      if (record.endedAt !== undefined) return;
      record.endedAt = performance.now();
      record.completed = completed;
      record.aborted = !completed;
      resolveDone();
    };
    // 'close' on the response before we ended it = the client went away (abort) or we dropped it on purpose.
    res.on('close', () => finish(res.writableFinished || record.completed));
    this.#handout.arrived(record);
    this.emit('request', record);

    const next = this.#scripts.shift();
    const script =
      next === undefined
        ? (this.#defaultScript ?? ((r) => autoScript(this.options, r)))(record)
        : typeof next === 'function'
          ? next(record)
          : next;
    answer(
      record,
      res,
      script,
      () => {
        record.completed = true;
      },
      (ms, fn) => this.#later(ms, fn),
    );
  }
}

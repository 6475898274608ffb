/**
 * The server skeleton the WebSocket vendor fakes (Cartesia, Deepgram, Gemini Live) share: a loopback HTTP
 * server whose upgrades are checked in the order stopped → path (404) → scripted refusal → the vendor's own
 * checks (auth, parameters) → accepted as a session, plus the bookkeeping tests read (`upgrades`, `rejected`,
 * `sessions`, `nextSession`). Each vendor fake supplies its checks, its exact HTTP error bodies and headers
 * (the SDKs parse them) and how to build its session. `WsFakeSession` is the matching per-connection plumbing.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { Handout, closeServers, listenOnLoopback } from './handout.ts';

/** An upgrade request, split up. */
export interface Upgrade {
  req: IncomingMessage;
  /** Path with query, as received. */
  url: string;
  path: string;
  query: URLSearchParams;
}

/** An HTTP error answering an upgrade. */
export interface HttpRefusal {
  status: number;
  /** JSON text. */
  body: string;
  /** Extra headers, written after content-type (e.g. Deepgram's `dg-error`). */
  headers?: Record<string, string>;
}

/** An upgrade turned away: HTTP status, 0 = dropped or left hanging. */
export interface RejectedUpgrade {
  url: string;
  path: string;
  status: number;
}

/**
 * Scripted upgrade refusals: `http-N` answers with HTTP N, `destroy` drops the TCP connection, `hang` never
 * answers; other modes (Gemini's `close-N`) pass the upgrade and are the session's business.
 */
export interface ScriptedRefusal {
  refuse?: string;
  /** Refuse only while fewer than N upgrades were turned away (for any reason). Default: always. */
  refuseCount?: number;
}

/** What a fake's sessions must offer for stop() and openSessions. */
export interface WsSession {
  readonly isOpen: boolean;
  readonly closed: Promise<unknown>;
  terminate(): void;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

/**
 * What every vendor session shares: the `closed` promise and `closeInfo`, `errors`, `isOpen`, `close`/`terminate`,
 * and timers that die with the session. Subclasses handle client frames in `onMessage` and add their own cleanup
 * by overriding `stop` (close, terminate and socket close all run it) and `onClosed` (socket closed).
 */
export abstract class WsFakeSession extends EventEmitter implements WsSession {
  readonly id: number;
  /** Exceptions thrown while handling client frames (a fake bug: tests may assert it stays empty). */
  readonly errors: Error[] = [];
  /** Resolves when the socket has closed (either side). */
  readonly closed: Promise<CloseInfo>;
  closeInfo: CloseInfo | undefined;

  protected readonly ws: WebSocket;
  protected isClosed = false;
  private resolveClosed!: (c: CloseInfo) => void;
  /** Live timers, each with what to do if the session stops first (resolve a pacing sleep, reject a wait). */
  private readonly timers = new Map<NodeJS.Timeout, (() => void) | undefined>();

  protected constructor(id: number, ws: WebSocket) {
    super();
    this.id = id;
    this.ws = ws;
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    ws.on('message', (data, isBinary) => {
      // An exception escaping into ws would leave its receiver stuck (no 'close' ever): contain it.
      try {
        this.onMessage(toBuffer(data), isBinary);
      } catch (e) {
        this.errors.push(e instanceof Error ? e : new Error(String(e)));
        this.terminate();
      }
    });
    ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
    ws.on('error', () => {
      /* a close follows */
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Close from the server side. */
  close(code = 1000, reason = ''): void {
    if (this.isClosed) return;
    this.stop();
    this.ws.close(code, reason);
  }

  /** Drop the TCP connection without a close frame (client sees 1006). */
  terminate(): void {
    this.stop();
    this.ws.terminate();
  }

  /** One client frame. */
  protected abstract onMessage(data: Buffer, isBinary: boolean): void;

  /** The session stops (close(), terminate() or the socket closed): clear every timer. Overrides call super. */
  protected stop(): void {
    const stops = [...this.timers];
    this.timers.clear();
    for (const [t, onStop] of stops) {
      clearTimeout(t);
      onStop?.();
    }
  }

  /** The socket has closed, after stop() and before `closed` resolves and 'close' is emitted. */
  protected onClosed(): void {}

  /** A timer that stop() clears, running `onStop` if given. */
  protected timer(ms: number, fire: () => void, onStop?: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fire();
    }, ms);
    this.timers.set(t, onStop);
    return t;
  }

  protected clearTimer(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }

  /** Pacing pause; resolves early when the session stops (at once if it has closed). */
  protected sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.isClosed) resolve();
      else if (ms <= 0) setImmediate(resolve);
      else this.timer(ms, resolve, resolve);
    });
  }

  private onClose(code: number, reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.stop();
    this.onClosed();
    this.closeInfo = { code, reason };
    this.resolveClosed(this.closeInfo);
    this.emit('close', this.closeInfo);
  }
}

function toBuffer(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

export interface Listening {
  server: Server;
  wss: WebSocketServer;
  sockets: Set<Duplex>;
  port: number;
}

export abstract class WsFake<S extends WsSession, O extends ScriptedRefusal> extends EventEmitter {
  readonly port: number;
  readonly options: O;
  /** Every accepted WebSocket connection, in order. */
  readonly sessions: S[] = [];
  /** Upgrade requests turned away, in order. */
  readonly rejected: RejectedUpgrade[] = [];
  /** Every upgrade request seen (accepted or not). */
  upgrades = 0;

  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly sockets: Set<Duplex>;
  private readonly handout: Handout<S>;
  private readonly nextSessionTimeoutMs: number;
  private stopped = false;

  /** Listen on a free loopback port; plain HTTP requests get a 404 with `notFoundBody` (JSON). */
  protected static async listen(notFoundBody: string, perMessageDeflate = false): Promise<Listening> {
    const server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(notFoundBody);
    });
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate });
    const sockets = new Set<Duplex>();
    const port = await listenOnLoopback(server, sockets);
    return { server, wss, sockets, port };
  }

  /** `label` starts nextSession's timeout error (e.g. 'fake deepgram: no session'). */
  protected constructor(listening: Listening, options: O, label: string, nextSessionTimeoutMs = 3000) {
    super();
    this.server = listening.server;
    this.wss = listening.wss;
    this.sockets = listening.sockets;
    this.port = listening.port;
    this.options = options;
    this.handout = new Handout<S>(this.sessions, label);
    this.nextSessionTimeoutMs = nextSessionTimeoutMs;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
  }

  /** Sessions still open. */
  get openSessions(): S[] {
    return this.sessions.filter((s) => s.isOpen);
  }

  /** The next session not yet handed out (in connection order). */
  nextSession(timeoutMs = this.nextSessionTimeoutMs): Promise<S> {
    return this.handout.next(timeoutMs);
  }

  /** Close every session, the WebSocket server and the HTTP server; clears every timer. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.handout.clear();
    await closeServers({ sessions: this.sessions, sockets: this.sockets, wss: this.wss, server: this.server });
  }

  // ---- what each vendor supplies ----------------------------------------------------------------

  /** The 404 for a path the vendor does not serve, else undefined. */
  protected abstract checkPath(u: Upgrade): HttpRefusal | undefined;

  /** The answer to a scripted `http-N` refusal. */
  protected abstract httpRefusal(status: number, u: Upgrade): HttpRefusal;

  /** Auth and parameter checks, after path and scripted refusal. */
  protected checkRequest(_u: Upgrade): HttpRefusal | undefined {
    return undefined;
  }

  protected abstract createSession(id: number, ws: WebSocket, u: Upgrade): S;

  /** The reason phrase of the status line. */
  protected statusText(_status: number): string {
    return 'Error';
  }

  // ---- internals ------------------------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.upgrades++;
    // Not new URL(req.url, base): the Gemini SDK's '//ws/...' would parse as a protocol-relative URL (host "ws").
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const u: Upgrade = {
      req,
      url,
      path: q < 0 ? url : url.slice(0, q),
      query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
    };
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const notFound = this.checkPath(u);
    if (notFound) return this.reject(u, socket, notFound);
    const { refuse, refuseCount } = this.options;
    if (refuse !== undefined && (refuseCount === undefined || this.rejected.length < refuseCount)) {
      if (refuse === 'destroy' || refuse === 'hang') {
        this.rejected.push({ url: u.url, path: u.path, status: 0 });
        // 'hang': the client's own timeout has to deal with it; stop() destroys the socket.
        if (refuse === 'destroy') socket.destroy();
        return;
      }
      if (refuse.startsWith('http-')) return this.reject(u, socket, this.httpRefusal(Number(refuse.slice(5)), u));
    }
    const bad = this.checkRequest(u);
    if (bad) return this.reject(u, socket, bad);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const session = this.createSession(this.sessions.length + 1, ws, u);
      this.sessions.push(session);
      this.handout.arrived(session);
      this.emit('session', session);
    });
  }

  /** A raw HTTP error on the upgrade socket (the ws server is never involved). */
  private reject(u: Upgrade, socket: Duplex, r: HttpRefusal): void {
    this.rejected.push({ url: u.url, path: u.path, status: r.status });
    const extra = Object.entries(r.headers ?? {})
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.end(
      `HTTP/1.1 ${r.status} ${this.statusText(r.status)}\r\ncontent-type: application/json\r\n${extra}` +
        `content-length: ${Buffer.byteLength(r.body)}\r\nconnection: close\r\n\r\n${r.body}`,
    );
  }
}

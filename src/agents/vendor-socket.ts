/**
 * The one way an agent holds a vendor WebSocket (Gemini Live, Deepgram, Cartesia): a bounded wait for the
 * connection, the rule for whether a failed connect is worth a second try, sends that drop instead of queueing
 * when the socket is backed up, and a close that gives the close handshake a grace period, then drops the TCP
 * connection. Every SDK opens a `ws` socket underneath and hides it in its own way; this file is the only code
 * that reaches into the SDKs' internals to find it (and to undo their other surprises named below).
 */
import type { GoogleGenAI } from '@google/genai';
import { WebSocket } from 'ws';

/** How long a close handshake may take before the TCP connection is dropped. */
export const CLOSE_GRACE_MS = 1000;
const WS_OPEN = 1;
const WS_CLOSED = 3;

/** The parts of a `ws` WebSocket (what each SDK opens underneath) used here. */
interface WsSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Buffer | string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  once(event: 'close', listener: () => void): unknown;
  addEventListener(type: 'close', listener: (e: { code?: number; reason?: string }) => void): void;
  ping?(): void;
  on?(event: 'pong', listener: () => void): unknown;
}

/** What `send` did: `closed` and `backed-up` mean the data was dropped (never queued without bound). */
export type SendResult = 'sent' | 'closed' | 'backed-up';

export interface VendorSocketOptions {
  /** Data is dropped while more than this many bytes wait in the socket. */
  maxBufferedBytes: number;
  /**
   * The SDK's own close, when the SDK must hear of it (it would otherwise reconnect or keep state); it is
   * expected to start the close handshake. Without it, the handshake is started on the socket directly.
   */
  sdkClose?: () => void;
}

export class VendorSocket {
  readonly #ws: WsSocket;
  readonly #maxBuffered: number;
  readonly #sdkClose: (() => void) | undefined;

  constructor(ws: WsSocket, opts: VendorSocketOptions) {
    this.#ws = ws;
    this.#maxBuffered = opts.maxBufferedBytes;
    this.#sdkClose = opts.sdkClose;
  }

  get open(): boolean {
    return this.#ws.readyState === WS_OPEN;
  }

  get closed(): boolean {
    return this.#ws.readyState === WS_CLOSED;
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** Hot path: sends only while open and not backed up. `ws` copies while masking: the caller may reuse `data`. */
  send(data: Buffer | string): SendResult {
    const ws = this.#ws;
    if (ws.readyState !== WS_OPEN) return 'closed';
    if (ws.bufferedAmount > this.#maxBuffered) return 'backed-up';
    ws.send(data);
    return 'sent';
  }

  /** `listener` hears the close (code, reason) however it comes: from the peer, a drop, or our own close. */
  onClose(listener: (code: number | undefined, reason: string | undefined) => void): void {
    this.#ws.addEventListener('close', (e) => listener(e.code, e.reason));
  }

  /** A small control message (keep-alive, finalize, end of stream): sent whenever open, backed up or not. */
  sendControl(data: string): void {
    if (this.#ws.readyState === WS_OPEN) this.#ws.send(data);
  }

  /** A WebSocket ping (false when the socket cannot ping or is not open); `onPong` hears the answers. */
  ping(): boolean {
    const ws = this.#ws;
    if (ws.readyState !== WS_OPEN || typeof ws.ping !== 'function') return false;
    try {
      ws.ping();
      return true;
    } catch {
      return false;
    }
  }

  onPong(listener: () => void): void {
    this.#ws.on?.('pong', listener);
  }

  /** Drop the TCP connection now (a connection found dead); the close event follows with 1006. */
  terminate(): void {
    try {
      this.#ws.terminate();
    } catch {
      /* already gone */
    }
  }

  /**
   * Close handshake with at most CLOSE_GRACE_MS of waiting, then the TCP connection is dropped; `abort` drops
   * it at once (a failed or abandoned connect). Resolves once the socket is closed. Never throws.
   */
  close(abort = false): Promise<void> {
    const ws = this.#ws;
    const sdkClose = this.#sdkClose;
    if (sdkClose !== undefined) {
      try {
        sdkClose();
      } catch {
        /* already closed */
      }
    }
    if (ws.readyState === WS_CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = () => {
        try {
          ws.terminate();
        } catch {
          /* already gone */
        }
      };
      // `ws` always emits close after terminate(); the second timer only guards a socket that never does.
      let last: NodeJS.Timeout | undefined;
      const timer = setTimeout(
        () => {
          kill();
          last = setTimeout(resolve, CLOSE_GRACE_MS);
        },
        abort && sdkClose !== undefined ? 0 : CLOSE_GRACE_MS,
      );
      ws.once('close', () => {
        clearTimeout(timer);
        clearTimeout(last);
        resolve();
      });
      if (sdkClose !== undefined) return;
      try {
        if (!abort && ws.readyState === WS_OPEN) ws.close(1000, 'call ended');
        else kill();
      } catch {
        kill();
      }
    });
  }
}

// ---- connecting -------------------------------------------------------------------------------

/**
 * One connect, bounded in time, which close() can cut short (`abort`). A connection that completes after the
 * wait was given up goes to `late` so it is closed rather than leaked; a late failure is swallowed.
 */
export class ConnectWait<T> {
  readonly result: Promise<T>;
  #timer: NodeJS.Timeout | undefined;
  #reject: ((e: Error) => void) | undefined;
  #givenUp = false;

  constructor(opening: Promise<T>, ms: number, timeoutError: () => Error, late?: (value: T) => void) {
    opening.then(
      (v) => {
        if (this.#givenUp) late?.(v);
      },
      () => {},
    );
    const bound = new Promise<never>((_, reject) => {
      this.#reject = reject;
      this.#timer = setTimeout(() => reject(timeoutError()), ms);
    });
    this.result = Promise.race([opening, bound]).then(
      (v) => {
        this.#settle();
        return v;
      },
      (e: unknown) => {
        this.#settle();
        this.#givenUp = true;
        throw e;
      },
    );
  }

  /** Stop waiting: `result` rejects with `err` (if it has not settled yet). */
  abort(err: Error): void {
    this.#reject?.(err);
  }

  #settle(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#reject = undefined;
  }
}

/** `p`, or a rejection `<what> within <ms> ms` if it takes longer; the timer never outlives the wait. */
export function withinMs<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new ConnectWait(p, ms, () => new Error(`${what} within ${ms} ms`)).result;
}

/** A WebSocket upgrade the vendor refused for a reason a retry cannot fix (bad request, key, permission, path). */
export function refusedForGood(message: string): boolean {
  return /Unexpected server response: 40[0134]\b/.test(message);
}

/** An HTTP status (undefined: none, a network fault) after which trying again may help. */
export function retryableStatus(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

/**
 * `attempt()`, and once more when its failure is retryable and `stillWanted()`; `onRetry` hears the first
 * failure. Connects are retried once: a second refusal is a fault the caller reports, not a loop.
 */
export async function connectWithRetry<T>(
  attempt: () => Promise<T>,
  retryable: (e: unknown) => boolean,
  onRetry: (e: unknown) => void,
): Promise<T> {
  try {
    return await attempt();
  } catch (e) {
    if (!retryable(e)) throw e;
    onRetry(e);
    return attempt();
  }
}

// ---- the sockets inside the SDKs ---------------------------------------------------------------

/** @google/genai: `Live` keeps its socket factory private; its connections expose the `ws` socket as `ws`. */
interface LiveConn {
  ws?: WsSocket;
  close(): void;
  send(message: string): void;
  connect?(): void;
}
/** The SDK's socket callbacks (what its NodeWebSocket sets on the `ws` socket). */
interface LiveCallbacks {
  onopen?: unknown;
  onerror?: unknown;
  onclose?: unknown;
  onmessage?: unknown;
}
interface LiveSocketFactory {
  create(url: string, headers: Record<string, string>, callbacks: unknown): LiveConn;
}

/**
 * The socket of a Gemini Live session about to be opened with `ai.live.connect`. `Live.connect` has no timeout
 * and hides its socket until setupComplete, so the SDK's socket factory is wrapped to keep a handle on the
 * connection: a timed-out or abandoned connect can then be torn down, and the open session's frames can be
 * sent on the socket directly (with backpressure).
 */
export class LiveSocketCapture {
  readonly #maxBuffered: number;
  #conn: LiveConn | undefined;
  /** False when this SDK version has no socket factory to wrap: a timed-out connect cannot be torn down. */
  readonly capturing: boolean;

  /**
   * `rewriteSetup` may change the first frame the SDK sends (the setup) before it leaves, for a field the SDK
   * refuses to send although the endpoint may take it (`sessionResumption.transparent` in Developer API mode).
   */
  constructor(ai: GoogleGenAI, maxBufferedBytes: number, rewriteSetup?: (setup: string) => string) {
    this.#maxBuffered = maxBufferedBytes;
    const live = ai.live as unknown as { webSocketFactory?: LiveSocketFactory };
    const factory = live.webSocketFactory;
    this.capturing = factory !== undefined && typeof factory.create === 'function';
    if (!this.capturing) return;
    live.webSocketFactory = {
      create: (url, headers, callbacks) => {
        const conn = factory!.create(url, headers, callbacks);
        this.#conn = conn;
        if (typeof conn.connect === 'function')
          conn.connect = () => openWithoutCompression(conn, url, headers, callbacks);
        if (rewriteSetup !== undefined && typeof conn.send === 'function') {
          const send = conn.send.bind(conn);
          let first = true;
          conn.send = (message: string) => {
            const out = first ? rewriteSetup(message) : message;
            first = false;
            send(out);
          };
        }
        return conn;
      },
    };
  }

  /** The session's socket, once the SDK has opened it and if it is a `ws` socket this file can use. */
  socket(): VendorSocket | undefined {
    const ws = this.#conn?.ws;
    if (ws === undefined || typeof ws.send !== 'function' || typeof ws.bufferedAmount !== 'number') return undefined;
    return new VendorSocket(ws, { maxBufferedBytes: this.#maxBuffered });
  }

  /** Close whatever was opened (see VendorSocket.close); before the socket exists, through the SDK. */
  async close(abort = false): Promise<void> {
    const socket = this.socket();
    try {
      if (socket !== undefined) await socket.close(abort);
      else this.#conn?.close();
    } catch {
      /* never throws */
    }
  }
}

/**
 * What the SDK's NodeWebSocket.connect does, but without offering permessage-deflate (`ws` clients offer it by
 * default): a service that accepted it would have both sides deflate every audio message — base64 PCM that
 * barely compresses — at a cost per message larger than everything else callbridge does with a frame.
 */
function openWithoutCompression(conn: LiveConn, url: string, headers: Record<string, string>, cb: unknown): void {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const { onopen, onerror, onclose, onmessage } = cb as LiveCallbacks;
  Object.assign(ws, { onopen, onerror, onclose, onmessage });
  conn.ws = ws as unknown as WsSocket;
}

/**
 * @deepgram/sdk 5: the listen socket wraps a ReconnectingWebSocket (`socket`) around the `ws` socket (`_ws`).
 * Frames go on the `ws` socket itself (the wrapper's `send` and `bufferedAmount` only add a queue that is
 * never used: nothing is sent unless open); closing goes through the SDK so the wrapper does not reconnect.
 * Undefined until the SDK has created the `ws` socket.
 */
export function deepgramSocket(
  sdk: { socket: unknown; close(): void },
  maxBufferedBytes: number,
): VendorSocket | undefined {
  const ws = (sdk.socket as { _ws?: WsSocket } | undefined)?._ws;
  if (ws === undefined) return undefined;
  return new VendorSocket(ws, { maxBufferedBytes, sdkClose: () => sdk.close() });
}

/** @cartesia/cartesia-js 4: TTSWS keeps its `ws` socket as `socket` (it sends on it itself, through contexts). */
export function cartesiaSocket(sdk: { socket: unknown }): VendorSocket {
  return new VendorSocket(sdk.socket as WsSocket, { maxBufferedBytes: Infinity });
}

/**
 * @cartesia/cartesia-js 4: `context()` registers a per-context event queue that grows until `receive()`
 * drains it; callbridge reads events from the `event` emitter instead, so the queue is unregistered at once.
 */
export function dropCartesiaContextQueue(sdk: object, contextId: string): void {
  (sdk as { _unregisterContext(id: string): void })._unregisterContext(contextId);
}

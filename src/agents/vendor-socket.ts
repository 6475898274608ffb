/**
 * The one way an agent holds an open vendor WebSocket (Gemini Live, Deepgram, Cartesia): sends that drop instead
 * of queueing when the socket is backed up, and a close that gives the close handshake a grace period, then
 * drops the TCP connection. Connecting is in connect-retry.ts; finding the `ws` socket each SDK hides is in
 * sdk-sockets.ts and gemini-live/live-socket-capture.ts.
 */

/** How long a close handshake may take before the TCP connection is dropped. */
export const CLOSE_GRACE_MS = 1000;
const WS_OPEN = 1;
const WS_CLOSED = 3;

/** The parts of a `ws` WebSocket (what each SDK opens underneath) used here. */
export interface WsSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Buffer | string, options?: { binary?: boolean }): void;
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

  /** `send` for a text message already encoded as UTF-8 bytes: it goes out as a text frame, not a binary one. */
  sendText(data: Buffer): SendResult {
    const ws = this.#ws;
    if (ws.readyState !== WS_OPEN) return 'closed';
    if (ws.bufferedAmount > this.#maxBuffered) return 'backed-up';
    ws.send(data, { binary: false });
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

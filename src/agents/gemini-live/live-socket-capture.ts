/**
 * Gemini Live's socket, which @google/genai hides: its socket factory is wrapped to keep a handle on the `ws`
 * connection, open it without the permessage-deflate offer, and let the first (setup) frame be rewritten.
 */
import type { GoogleGenAI, LiveServerMessage } from '@google/genai';
import { WebSocket } from 'ws';
import { VendorSocket, type WsSocket } from '../vendor-socket.ts';
import { serverAudioMessage } from './server-audio.ts';

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

export interface LiveSocketOptions {
  maxBufferedBytes: number;
  /**
   * May change the first frame the SDK sends (the setup) before it leaves, for a field the SDK refuses to send
   * although the endpoint may take it (`sessionResumption.transparent` in Developer API mode).
   */
  rewriteSetup?: (setup: string) => string;
  /**
   * Model audio recognised on the wire (server-audio.ts), handed over without the SDK's decoding; false when it
   * cannot be taken now (before the session is open), and the SDK gets it as usual.
   */
  audioMessage?: (msg: LiveServerMessage) => boolean;
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

  constructor(ai: GoogleGenAI, opts: LiveSocketOptions) {
    this.#maxBuffered = opts.maxBufferedBytes;
    const { rewriteSetup, audioMessage } = opts;
    const live = ai.live as unknown as { webSocketFactory?: LiveSocketFactory };
    const factory = live.webSocketFactory;
    this.capturing = factory !== undefined && typeof factory.create === 'function';
    if (!this.capturing) return;
    live.webSocketFactory = {
      create: (url, headers, callbacks) => {
        const conn = factory!.create(url, headers, callbacks);
        this.#conn = conn;
        if (typeof conn.connect === 'function')
          conn.connect = () => openWithoutCompression(conn, url, headers, callbacks, audioMessage);
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

  /** The session's socket, once the SDK has opened it and if it is a `ws` socket VendorSocket can use. */
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
function openWithoutCompression(
  conn: LiveConn,
  url: string,
  headers: Record<string, string>,
  cb: unknown,
  audioMessage: LiveSocketOptions['audioMessage'],
): void {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const { onopen, onerror, onclose, onmessage } = cb as LiveCallbacks;
  Object.assign(ws, { onopen, onerror, onclose });
  // The SDK's handler reads only `event.data`: what `ws` would give its `onmessage` (text decoded, binary as is).
  const sdkMessage = onmessage as ((event: { data: Buffer | string }) => void) | undefined;
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (audioMessage !== undefined) {
      const msg = serverAudioMessage(data);
      if (msg !== undefined && audioMessage(msg)) return;
    }
    sdkMessage?.({ data: isBinary ? data : data.toString() });
  });
  conn.ws = ws as unknown as WsSocket;
}

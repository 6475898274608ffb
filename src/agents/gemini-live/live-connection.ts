/**
 * One Gemini Live WebSocket connection: open it (setup frame, setupComplete, bounded in time), send client
 * messages already built as JSON text on the SDK's own socket, hear server messages and the close (code and
 * reason, always logged: 1007/1008/1011 carry the real cause), keep it alive, close it. A call may go through
 * several of these (see LiveResumer); none of them knows about the call.
 */
import type { LiveConnectConfig, LiveServerMessage, Session } from '@google/genai';
import type { Logger } from 'pino';
import { errorText } from '../../errors.ts';
import { googleClient } from '../google-client.ts';
import { ConnectWait } from '../connect-retry.ts';
import type { SendResult, VendorSocket } from '../vendor-socket.ts';
import { LiveSocketCapture } from './live-socket-capture.ts';

export interface LiveConnectionOptions {
  apiKey: string;
  model: string;
  baseUrl?: string;
  config: LiveConnectConfig;
  /** Ask for `lastConsumedClientMessageIndex` (added to the setup frame on the wire: the SDK refuses it). */
  transparent: boolean;
  maxBufferedBytes: number;
  /** Ping this often (0: never); a connection that has answered nothing for `deadAfterMs` is dropped (0: never). */
  pingIntervalMs: number;
  deadAfterMs: number;
  logger: Logger;
}

export interface LiveConnectionEvents {
  message(msg: LiveServerMessage): void;
  /** The connection closed after it was open (not after a close() of ours). */
  closed(code: number, reason: string): void;
}

/** `sessionResumption` in a setup frame gets `transparent: true`. */
function withTransparent(setup: string): string {
  try {
    const msg = JSON.parse(setup) as { setup?: { sessionResumption?: Record<string, unknown> } };
    if (msg.setup === undefined) return setup;
    msg.setup.sessionResumption = { ...msg.setup.sessionResumption, transparent: true };
    return JSON.stringify(msg);
  } catch {
    return setup;
  }
}

let connections = 0;

export class LiveConnection {
  /** Numbered per process, for logs. */
  readonly id = ++connections;
  readonly #opts: LiveConnectionOptions;
  readonly #log: Logger;
  #events: LiveConnectionEvents | undefined;
  #capture: LiveSocketCapture | undefined;
  #connecting: ConnectWait<Session> | undefined;
  #session: Session | undefined;
  #socket: VendorSocket | undefined;
  #open = false;
  #closing: Promise<void> | undefined;
  #closeDuringConnect: string | undefined;
  #lastError: string | undefined;
  #keepalive: NodeJS.Timeout | undefined;
  #lastHeard = 0;
  #dead: string | undefined;

  constructor(opts: LiveConnectionOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
  }

  /** Open and complete the setup within `timeoutMs`; rejects with a message naming the model and the cause. */
  async open(events: LiveConnectionEvents, timeoutMs: number): Promise<void> {
    const { model, apiKey } = this.#opts;
    this.#events = events;
    if (!apiKey) throw new Error(`gemini live: no API key configured for model ${model}`);
    let ai: ReturnType<typeof googleClient>;
    try {
      ai = googleClient(apiKey, this.#opts.baseUrl);
    } catch (e) {
      throw new Error(`gemini live: cannot create the client for model ${model}: ${errorText(e)}`);
    }
    const capture = new LiveSocketCapture(ai, {
      maxBufferedBytes: this.#opts.maxBufferedBytes,
      ...(this.#opts.transparent ? { rewriteSetup: withTransparent } : {}),
      // Once open, model audio skips the SDK's decoding; before that the SDK holds messages back, so it gets all.
      audioMessage: (msg) => {
        if (!this.#open) return false;
        this.#onMessage(msg);
        return true;
      },
    });
    this.#capture = capture;
    if (!capture.capturing) this.#log.warn('gemini live: SDK socket factory not found; a timed-out connect leaks');
    const connecting = new ConnectWait(
      ai.live.connect({
        model,
        config: this.#opts.config,
        callbacks: {
          onmessage: (msg: LiveServerMessage) => this.#onMessage(msg),
          onerror: (e: unknown) => {
            this.#lastError = errorText(e); // a close event follows, with the code
          },
          onclose: (e: unknown) => this.#onClose(e),
        },
      }),
      timeoutMs,
      () => new Error(`gemini live: model ${model} did not complete setup within ${timeoutMs} ms`),
      (late) => {
        try {
          late.close();
        } catch {
          /* already closed */
        }
      },
    );
    this.#connecting = connecting;
    try {
      this.#session = await connecting.result;
      if (this.#closeDuringConnect !== undefined) {
        throw new Error(`connection closed right after setup: ${this.#closeDuringConnect}`);
      }
    } catch (e) {
      this.#connecting = undefined;
      await capture.close(true);
      const msg = errorText(e);
      throw new Error(
        msg.startsWith('gemini live:') ? msg : `gemini live: connecting to model ${model} failed: ${msg}`,
      );
    }
    this.#connecting = undefined;
    if (this.#closing !== undefined) throw new Error(`gemini live: closed while connecting to model ${model}`);
    this.#open = true;
    this.#socket = capture.socket();
    if (this.#socket === undefined)
      this.#log.warn('gemini live: SDK socket not reachable, sending without backpressure');
    this.#startKeepalive();
  }

  /**
   * Hot path: caller audio, a client message already encoded as bytes (live-audio.ts), sent as a text frame;
   * dropped (never queued without bound) while the socket is backed up.
   */
  sendBytes(msg: Buffer): SendResult {
    const socket = this.#socket;
    if (socket !== undefined) return socket.sendText(msg);
    return this.sendAlways(msg.toString()) ? 'sent' : 'closed';
  }

  /** A client message sent whenever open, backed up or not (replayed audio, speak-first text). */
  sendAlways(msg: string): boolean {
    if (!this.#open) return false;
    const socket = this.#socket;
    if (socket !== undefined) {
      if (!socket.open) return false;
      socket.sendControl(msg);
      return true;
    }
    try {
      this.#session!.conn.send(msg);
      return true;
    } catch {
      return false;
    }
  }

  get bufferedAmount(): number {
    return this.#socket?.bufferedAmount ?? 0;
  }

  /**
   * Close (the close handshake, at most CLOSE_GRACE_MS, then the TCP connection is dropped; `abort`: at once).
   * No `closed` event follows. Idempotent; never throws.
   */
  close(abort = false): Promise<void> {
    if (this.#closing === undefined) this.#closing = this.#doClose(abort);
    return this.#closing;
  }

  async #doClose(abort: boolean): Promise<void> {
    this.#events = undefined;
    this.#stopKeepalive();
    this.#connecting?.abort(new Error(`gemini live: closed while connecting to model ${this.#opts.model}`));
    const wasOpen = this.#open;
    this.#open = false;
    this.#socket = undefined;
    await this.#capture?.close(abort || !wasOpen);
  }

  #onMessage(msg: LiveServerMessage): void {
    this.#lastHeard = performance.now();
    this.#events?.message(msg);
  }

  #onClose(e: unknown): void {
    const ev = (e ?? {}) as { code?: number; reason?: unknown };
    const code = ev.code ?? 1006;
    const raw = typeof ev.reason === 'string' ? ev.reason : ev.reason instanceof Buffer ? ev.reason.toString() : '';
    const reason = this.#dead ?? (raw || this.#lastError || '');
    this.#stopKeepalive();
    this.#socket = undefined;
    const ours = this.#closing !== undefined;
    // Every close is logged with its code and reason: 1007/1008/1011 carry the service's real cause.
    this.#log[ours ? 'debug' : 'warn'](
      { connection: this.id, code, reason, by: ours ? 'us' : 'peer' },
      'gemini live connection closed',
    );
    if (!this.#open) {
      this.#closeDuringConnect ??= `${code} ${reason}`.trim();
      return;
    }
    this.#open = false;
    const events = this.#events;
    this.#events = undefined;
    events?.closed(code, reason);
  }

  /**
   * Pings show a dead network path (no close frame, no FIN) that would otherwise swallow caller audio. The
   * service answers pings late (8–30 s are reported), so nothing is declared dead before `deadAfterMs` without a
   * pong or any message: the client never times out a connection the service still serves.
   */
  #startKeepalive(): void {
    const { pingIntervalMs, deadAfterMs } = this.#opts;
    const socket = this.#socket;
    if (pingIntervalMs <= 0 || socket === undefined) return;
    this.#lastHeard = performance.now();
    socket.onPong(() => {
      this.#lastHeard = performance.now();
    });
    this.#keepalive = setInterval(() => {
      const silentMs = performance.now() - this.#lastHeard;
      if (deadAfterMs > 0 && silentMs > deadAfterMs) {
        this.#dead = `ping timeout: nothing heard for ${Math.round(silentMs)} ms`;
        this.#stopKeepalive();
        socket.terminate();
        return;
      }
      socket.ping();
    }, pingIntervalMs);
  }

  #stopKeepalive(): void {
    clearInterval(this.#keepalive);
    this.#keepalive = undefined;
  }
}

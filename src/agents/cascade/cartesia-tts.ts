/**
 * Cartesia streaming TTS (@cartesia/cartesia-js 4, WebSocket contexts) as the cascade's TextToSpeech.
 *
 * One instance = one WebSocket; each reply is a context (a CartesiaStream, ./cartesia-stream.ts): text pieces go
 * out with `continue: true`, the end with `continue: false`, a barge-in sends `cancel`. Audio comes back as raw
 * 16-bit PCM at CARTESIA_SAMPLE_RATE (8 kHz by default, the rate G.711 calls play at, so the playout need not
 * resample). Word timestamps are asked for so an interrupted reply can be cut where the caller stopped hearing it.
 *
 * SDK behaviours this file works around (@cartesia/cartesia-js 4.2):
 * - the ESM build cannot find `ws` (it calls `require` inside ESM) and would fall back to the global WebSocket;
 *   the CJS build is loaded through createRequire;
 * - the URL is forced to `wss://`: for an `http://` base URL (a local fake) `createConnection` opens plain TCP;
 * - `client.tts.websocket()` resolves only once open and gives no way to listen for errors before that: a refused
 *   connect then ends in an *unhandled rejection* (crash). TTSWS is constructed directly and `error` bound first;
 * - TTSWS silently opens a new socket when sending on a closed one, and has no `close` event: we watch the
 *   underlying socket and never send unless it is open (../sdk-sockets.ts reaches it);
 * - `context()` registers a per-context event queue that grows until `receive()` drains it; events are consumed
 *   from the `event` emitter instead, so that queue is dropped at once (../sdk-sockets.ts);
 * - no connect timeout of its own (ws `handshakeTimeout` plus ours).
 */
import { createRequire } from 'node:module';
import net from 'node:net';
import type * as CartesiaModule from '@cartesia/cartesia-js';
import type { TTSWS } from '@cartesia/cartesia-js/resources/tts/ws.js';
import type { Logger } from '../../log.ts';
import {
  closeWhy,
  StageError,
  type TextToSpeech,
  type TtsConnectionListener,
  type TtsListener,
  type TtsStream,
} from './stages.ts';
import { type CartesiaEvent, CartesiaStream } from './cartesia-stream.ts';
import type { CartesiaTtsOptions } from './cartesia-options.ts';
import { errorText } from '../../errors.ts';
import { refusedForGood, withinMs } from '../connect-retry.ts';
import { cartesiaSocket, dropCartesiaContextQueue } from '../sdk-sockets.ts';
import type { VendorSocket } from '../vendor-socket.ts';

const require = createRequire(import.meta.url);
const { Cartesia } = require('@cartesia/cartesia-js') as typeof CartesiaModule;
const { TTSWS: TTSWSClass } = require('@cartesia/cartesia-js/resources/tts/ws.js') as {
  TTSWS: new (client: CartesiaModule.Cartesia, options?: object) => TTSWS;
};

export class CartesiaTts implements TextToSpeech {
  readonly name = 'cartesia';
  readonly sampleRate: 8000 | 16000;

  readonly #opts: CartesiaTtsOptions;
  readonly #log: Logger;
  #state: 'idle' | 'connecting' | 'open' | 'lost' | 'closed' = 'idle';
  #ws: TTSWS | undefined;
  #socket: VendorSocket | undefined;
  #listener: TtsConnectionListener | undefined;
  readonly #streams = new Map<string, CartesiaStream>();
  #lastError: string | undefined;
  #closePromise: Promise<void> | undefined;

  constructor(opts: CartesiaTtsOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.sampleRate = opts.sampleRate;
  }

  /** Open and able to send: false as soon as the socket is closing, even before its `close` event has run. */
  get connected(): boolean {
    return this.canSend();
  }

  async connect(listener: TtsConnectionListener): Promise<void> {
    if (this.#state !== 'idle') {
      throw new StageError('tts', `cartesia: connect() called in state ${this.#state}`, false);
    }
    const { apiKey, connectTimeoutMs } = this.#opts;
    if (!apiKey) {
      this.#state = 'closed';
      throw new StageError('tts', 'cartesia: no API key configured (CARTESIA_API_KEY)', false);
    }
    this.#listener = listener;
    this.#state = 'connecting';
    const t0 = performance.now();
    const baseURL = this.#opts.baseUrl?.replace(/\/+$/, '');
    const client = new Cartesia(baseURL === undefined ? { apiKey } : { apiKey, baseURL });
    const wsOptions: Record<string, unknown> = { handshakeTimeout: connectTimeoutMs, perMessageDeflate: false };
    if (baseURL?.startsWith('http:')) {
      // The SDK forces wss://; a plain-http base URL means a plain-TCP endpoint.
      wsOptions.createConnection = (o: { host?: string; hostname?: string; port?: number | string }) =>
        net.connect({ host: o.hostname ?? o.host ?? '127.0.0.1', port: Number(o.port) });
    }
    let ws: TTSWS;
    try {
      ws = new TTSWSClass(client, wsOptions);
    } catch (e) {
      this.#state = 'closed';
      throw new StageError('tts', `cartesia: cannot create the socket: ${errorText(e)}`, false, { cause: e });
    }
    this.#ws = ws;
    ws.on('error', (e: unknown) => {
      // Socket errors (the close follows) and per-context errors (routed from 'event' as well).
      this.#lastError = errorText(e);
    });
    ws.on('event', (ev: unknown) => this.#onEvent(ev as CartesiaEvent));
    const socket = cartesiaSocket(ws);
    this.#socket = socket;
    socket.onClose((code, reason) => this.#onClose(code, reason));

    const ready = ws.connect();
    ready.catch(() => {}); // may reject after we gave up waiting
    try {
      await withinMs(ready, connectTimeoutMs, 'no connection');
      if ((this.#state as string) !== 'connecting') throw new Error('closed while connecting');
      if (!socket.open) throw new Error(`connection closed right after opening ${this.#lastError ?? ''}`.trim());
    } catch (e) {
      const wasClosed = (this.#state as string) === 'closed';
      this.#state = 'closed';
      await socket.close(true);
      const msg = errorText(e);
      const retryable = !refusedForGood(msg);
      const err = new StageError('tts', `cartesia: connecting failed: ${msg}`, retryable && !wasClosed, { cause: e });
      if (!wasClosed) {
        this.#log.warn({ err: err.message, ms: Math.round(performance.now() - t0) }, 'cartesia connect failed');
      }
      throw err;
    }
    this.#state = 'open';
    this.#log.debug({ model: this.#opts.model, connectMs: Math.round(performance.now() - t0) }, 'cartesia connected');
  }

  open(listener: TtsListener): TtsStream {
    const ws = this.#ws;
    if (this.#state !== 'open' || ws === undefined || !this.canSend()) {
      throw new StageError('tts', 'cartesia: not connected', true);
    }
    const o = this.#opts;
    const ctx = ws.context({
      model_id: o.model,
      voice: { mode: 'id', id: o.voiceId },
      output_format: { container: 'raw', encoding: 'pcm_s16le', sample_rate: o.sampleRate },
      ...(o.language ? { language: o.language.split('-')[0]!.toLowerCase() as 'en' } : {}),
      add_timestamps: o.wordTimestamps ?? true,
      max_buffer_delay_ms: o.maxBufferDelayMs ?? 0,
    });
    dropCartesiaContextQueue(ws, ctx.contextId); // events come through #onEvent; see the file comment
    const stream = new CartesiaStream(this, ctx, listener, o.timeoutMs);
    this.#streams.set(stream.id, stream);
    return stream;
  }

  close(): Promise<void> {
    if (this.#closePromise === undefined) this.#closePromise = this.#doClose();
    return this.#closePromise;
  }

  /** @internal for CartesiaStream */
  canSend(): boolean {
    return this.#state === 'open' && this.#socket?.open === true;
  }

  /** @internal for CartesiaStream */
  forget(id: string): void {
    this.#streams.delete(id);
  }

  // ---- internals ------------------------------------------------------------------------------

  #onEvent(ev: CartesiaEvent): void {
    const id = ev.context_id;
    if (id === undefined) {
      if (ev.type === 'error') {
        const { status_code: status, title, message } = ev;
        this.#log.warn({ status, title, message }, 'cartesia error without context');
      }
      return;
    }
    this.#streams.get(id)?.onEvent(ev);
  }

  #onClose(code: number | undefined, reason: string | undefined): void {
    if (this.#state !== 'open') return;
    this.#state = 'lost';
    const why = `cartesia connection closed: ${code ?? 1006} ${reason || this.#lastError || ''}`.trim();
    const err = new StageError('tts', why, true, { why: closeWhy(code ?? 1006, reason ?? '') });
    this.#log.warn({ err: err.message }, 'cartesia connection lost');
    for (const s of [...this.#streams.values()]) s.fail(err);
    try {
      this.#listener?.lost(err);
    } catch (x) {
      this.#log.error({ err: errorText(x) }, 'cartesia: listener threw');
    }
  }

  async #doClose(): Promise<void> {
    this.#state = 'closed';
    for (const s of [...this.#streams.values()]) s.cancel();
    this.#streams.clear();
    await this.#socket?.close(false);
  }
}

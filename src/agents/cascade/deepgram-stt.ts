/**
 * Deepgram live transcription (listen v1, @deepgram/sdk 5) as the cascade's SpeechToText.
 *
 * One instance = one WebSocket stream; a reconnect is a new instance (the agent owns that policy). The SDK's
 * own reconnect is off (`reconnectAttempts: 0`): it would retry up to 30 times and replay nothing useful.
 *
 * SDK behaviours this file works around (@deepgram/sdk 5.13):
 * - a failed connect dispatches `close` (code 1000, no reason) *before* `error` (with the cause), and
 *   `waitForOpen()` rejects only on `error`: the close is reported a microtask later so the error is known;
 * - `V1Socket.close()` calls the `close` handlers itself with code 1000: ignored once we are closing;
 * - `waitForOpen()` listeners are never removed and its promise may reject after we gave up: always handled;
 * - `socket.send()` queues without bound while the socket is not open: audio goes on the `ws` socket underneath,
 *   and only while it is open (../sdk-sockets.ts reaches it).
 *
 * Joining and sending the caller's audio is ./deepgram-audio-sender.ts; reading the results, ./deepgram-results.ts.
 */
import { DeepgramClient } from '@deepgram/sdk';
import type { Logger } from '../../log.ts';
import { closeWhy, StageError, type SpeechToText, type SttListener } from './stages.ts';
import { DeepgramAudioSender } from './deepgram-audio-sender.ts';
import { deliverDeepgramMessage } from './deepgram-results.ts';
import type { DeepgramSttOptions } from './deepgram-options.ts';
import { errorText } from '../../errors.ts';
import { noCompressionAgent } from '../no-compression-agent.ts';
import { refusedForGood, withinMs } from '../connect-retry.ts';
import { deepgramSocket } from '../sdk-sockets.ts';
import type { VendorSocket } from '../vendor-socket.ts';

/** The SDK's own endpoint when no base URL is set. */
const DEEPGRAM_DEFAULT_URL = 'wss://api.deepgram.com';

type DgSocket = Awaited<ReturnType<DeepgramClient['listen']['v1']['connect']>>;
type State = 'idle' | 'connecting' | 'open' | 'lost' | 'closed';

const KEEPALIVE = JSON.stringify({ type: 'KeepAlive' });
const FINALIZE = JSON.stringify({ type: 'Finalize' });
const CLOSE_STREAM = JSON.stringify({ type: 'CloseStream' });

export class DeepgramStt implements SpeechToText {
  readonly name = 'deepgram';

  readonly #opts: DeepgramSttOptions;
  readonly #log: Logger;
  readonly #maxBuffered: number;
  #state: State = 'idle';
  #listener: SttListener | undefined;
  #sdk: DgSocket | undefined;
  /** Set only while open: the hot path checks just this. */
  #socket: VendorSocket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #framesAtTick = 0;
  #lastError: string | undefined;
  #closePromise: Promise<void> | undefined;
  readonly #audio: DeepgramAudioSender;

  constructor(opts: DeepgramSttOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#maxBuffered = opts.maxBufferedBytes ?? 128 * 1024;
    this.#audio = new DeepgramAudioSender(opts.sendMs ?? 0, opts.sampleRate);
  }

  /** Frames sent, and frames dropped because the socket was backed up (logged once at close). */
  get framesSent(): number {
    return this.#audio.framesSent;
  }

  get framesDropped(): number {
    return this.#audio.framesDropped;
  }

  async connect(listener: SttListener): Promise<void> {
    if (this.#state !== 'idle') {
      throw new StageError('stt', `deepgram: connect() called in state ${this.#state}`, false);
    }
    const { apiKey, model, sampleRate, connectTimeoutMs } = this.#opts;
    if (!apiKey) {
      this.#state = 'closed';
      throw new StageError('stt', 'deepgram: no API key configured (DEEPGRAM_API_KEY)', false);
    }
    this.#listener = listener;
    this.#state = 'connecting';
    const t0 = performance.now();
    let baseUrl = this.#opts.baseUrl?.replace(/\/+$/, '');
    if (baseUrl !== undefined) baseUrl = baseUrl.replace(/^http(s?):/, 'ws$1:');
    const dg = new DeepgramClient(baseUrl === undefined ? { apiKey } : { apiKey, baseUrl });
    let socket: DgSocket;
    try {
      socket = await dg.listen.v1.connect({
        model,
        ...(this.#opts.language ? { language: this.#opts.language } : {}),
        encoding: 'linear16',
        sample_rate: sampleRate,
        channels: 1,
        interim_results: 'true',
        endpointing: this.#opts.endpointingMs,
        utterance_end_ms: this.#opts.utteranceEndMs,
        vad_events: 'true',
        smart_format: 'true',
        // The SDK's generated type asks for this; the header actually sent comes from apiKey ("Token KEY").
        Authorization: `Token ${apiKey}`,
        reconnectAttempts: 0,
        agent: noCompressionAgent(baseUrl ?? DEEPGRAM_DEFAULT_URL),
        connectionTimeoutInSeconds: Math.max(1, Math.ceil(connectTimeoutMs / 1000)),
      });
    } catch (e) {
      this.#state = 'closed';
      const why = `deepgram: cannot open a stream for model ${model}: ${errorText(e)}`;
      throw new StageError('stt', why, false, { cause: e });
    }
    this.#sdk = socket;
    socket.on('message', (m) => this.#onMessage(m as unknown as Record<string, unknown>));
    socket.on('error', (e) => {
      this.#lastError = errorText(e);
    });
    socket.on('close', (e) => this.#onClose(e as unknown as { code?: number; reason?: string }));
    socket.connect();

    const opened = socket.waitForOpen();
    opened.catch(() => {}); // may reject after we gave up waiting
    try {
      await withinMs(opened, connectTimeoutMs, 'no connection');
      if ((this.#state as State) !== 'connecting') throw new Error('closed while connecting');
      if (deepgramSocket(socket, this.#maxBuffered)?.open !== true) {
        throw new Error(`connection closed right after opening ${this.#lastError ?? ''}`.trim());
      }
    } catch (e) {
      const wasClosed = (this.#state as State) === 'closed';
      this.#state = 'closed';
      await this.#teardown(true);
      const retryable = !refusedForGood(errorText(e));
      const why = `deepgram: connecting (model ${model}) failed: ${errorText(e)}`;
      const err = new StageError('stt', why, retryable && !wasClosed, { cause: e });
      if (!wasClosed) {
        this.#log.warn({ err: err.message, ms: Math.round(performance.now() - t0) }, 'deepgram connect failed');
      }
      throw err;
    }
    this.#state = 'open';
    this.#socket = deepgramSocket(socket, this.#maxBuffered);
    this.#audio.setSocket(this.#socket);
    const keepAliveMs = this.#opts.keepAliveMs ?? 3000;
    this.#timer = setInterval(() => this.#tick(), keepAliveMs);
    this.#log.debug({ model, connectMs: Math.round(performance.now() - t0) }, 'deepgram connected');
  }

  /** Hot path: joined with the frames before it into messages of at most sendMs (see DeepgramAudioSender). */
  sendAudio(frame: Buffer): void {
    this.#audio.push(frame);
  }

  finalize(): void {
    this.#audio.flush(); // every sample heard so far goes before the Finalize
    this.#socket?.sendControl(FINALIZE);
  }

  close(): Promise<void> {
    if (this.#closePromise === undefined) this.#closePromise = this.#doClose();
    return this.#closePromise;
  }

  // ---- internals ------------------------------------------------------------------------------

  async #doClose(): Promise<void> {
    const prev = this.#state;
    this.#state = 'closed';
    if (this.framesDropped > 0) {
      const { framesDropped, framesSent } = this;
      this.#log.warn({ framesDropped, framesSent }, 'Deepgram socket backed up: caller audio frames were dropped');
    }
    clearInterval(this.#timer);
    this.#timer = undefined;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#audio.setSocket(undefined);
    if (prev === 'open' && socket !== undefined) {
      try {
        this.#audio.sendRest(socket);
        socket.sendControl(CLOSE_STREAM); // stop billing at once; we do not wait for the last results
      } catch {
        /* ignore */
      }
    }
    await this.#teardown(false);
  }

  /** Close the stream through the SDK and wait, bounded, until the socket is really closed. */
  async #teardown(abort: boolean): Promise<void> {
    const sdk = this.#sdk;
    if (sdk === undefined) return;
    const socket = deepgramSocket(sdk, this.#maxBuffered);
    if (socket !== undefined) return socket.close(abort);
    try {
      sdk.close();
    } catch {
      /* already closed */
    }
  }

  #tick(): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    const framesSent = this.#audio.framesSent;
    if (framesSent === this.#framesAtTick) socket.sendControl(KEEPALIVE);
    this.#framesAtTick = framesSent;
    const stallMs = this.#opts.stallTimeoutMs ?? 10000;
    if (stallMs > 0 && (this.#audio.bytesSinceMessage / 2 / this.#opts.sampleRate) * 1000 > stallMs) {
      this.#lose(new StageError('stt', `deepgram: no result for ${stallMs} ms of audio`, true, { why: 'stall' }));
    }
  }

  #onMessage(m: Record<string, unknown>): void {
    if (this.#state !== 'open') return;
    this.#audio.bytesSinceMessage = 0;
    const error = deliverDeepgramMessage(m, this.#listener!);
    if (error !== undefined) this.#lose(new StageError('stt', `deepgram error: ${error}`, true, { why: 'error' }));
  }

  #onClose(e: { code?: number; reason?: string }): void {
    if (this.#state !== 'open') return; // connecting: connect() reports; closed: our own close
    const code = e.code ?? 1006;
    const reason = typeof e.reason === 'string' ? e.reason : '';
    // On a transport error the SDK dispatches close (1000, no reason) before the error: report after it.
    queueMicrotask(() => {
      const why = `deepgram stream closed: ${code} ${reason || this.#lastError || ''}`.trim();
      this.#lose(new StageError('stt', why, true, { why: closeWhy(code, reason) }));
    });
  }

  #lose(err: StageError): void {
    if (this.#state !== 'open') return;
    this.#state = 'lost';
    this.#socket = undefined;
    this.#audio.setSocket(undefined);
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#log.warn({ err: err.message }, 'deepgram stream lost');
    void this.#teardown(true);
    try {
      this.#listener?.lost(err);
    } catch (e) {
      this.#log.error({ err: errorText(e) }, 'deepgram: listener threw');
    }
  }
}

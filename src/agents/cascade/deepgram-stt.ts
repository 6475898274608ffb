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
 *   and only while it is open (../vendor-socket.ts).
 */
import { DeepgramClient } from '@deepgram/sdk';
import type { Logger } from '../../log.ts';
import { closeWhy, StageError, type SpeechToText, type SttListener, type SttResult, type SttWord } from './stages.ts';
import { errorText } from '../../errors.ts';
import type { AgentSettings } from '../agent.ts';
import type { EnvOf } from '../vendor-settings.ts';
import type { deepgramSettings } from './deepgram-settings.ts';
import { noCompressionAgent } from '../no-compression-agent.ts';
import { deepgramSocket, refusedForGood, withinMs, type VendorSocket } from '../vendor-socket.ts';

/** The SDK's own endpoint when no base URL is set. */
const DEEPGRAM_DEFAULT_URL = 'wss://api.deepgram.com';

export interface DeepgramSttOptions {
  apiKey: string;
  /** Override of the endpoint (tests, proxies): `ws://host:port` (http/https are turned into ws/wss). */
  baseUrl?: string;
  /** e.g. 'nova-3', 'nova-2-phonecall'. */
  model: string;
  /** BCP-47 language, e.g. 'en-US' (omitted: the model's default). */
  language?: string;
  sampleRate: 8000 | 16000;
  /** Silence (ms) after which Deepgram marks a final `speech_final`. */
  endpointingMs: number;
  /** Gap in words (ms) after which Deepgram sends UtteranceEnd (Deepgram's minimum is 1000). */
  utteranceEndMs: number;
  connectTimeoutMs: number;
  /** A KeepAlive goes out when no audio was sent for this long (the service closes after ~10 s). Default 3000. */
  keepAliveMs?: number;
  /** Audio sent for this long without any message back → the stream counts as lost. Default 10000; 0 = off. */
  stallTimeoutMs?: number;
  /** Audio is dropped while more than this many bytes wait in the socket. Default 128 KiB (≈ 8 s at 8 kHz). */
  maxBufferedBytes?: number;
  /**
   * Caller frames are joined into messages of at most this much audio (ms): a WebSocket message per frame costs
   * a send (masking, a syscall) each. Default 0: every frame on its own.
   */
  sendMs?: number;
  logger: Logger;
}

type DgSocket = Awaited<ReturnType<DeepgramClient['listen']['v1']['connect']>>;
type State = 'idle' | 'connecting' | 'open' | 'lost' | 'closed';

const KEEPALIVE = JSON.stringify({ type: 'KeepAlive' });
const FINALIZE = JSON.stringify({ type: 'Finalize' });
const CLOSE_STREAM = JSON.stringify({ type: 'CloseStream' });

export class DeepgramStt implements SpeechToText {
  readonly name = 'deepgram';
  /** Frames sent, and frames dropped because the socket was backed up (logged once at close). */
  framesSent = 0;
  framesDropped = 0;

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
  /** Audio bytes sent since the last message from Deepgram (stall detection). */
  #bytesSinceMessage = 0;
  #lastError: string | undefined;
  #closePromise: Promise<void> | undefined;
  /** Caller audio waiting to go out as one message (sendMs), and how many frames it holds. */
  #pending: Buffer;
  readonly #sendBytes: number;
  #pendingBytes = 0;
  #pendingFrames = 0;

  constructor(opts: DeepgramSttOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#maxBuffered = opts.maxBufferedBytes ?? 128 * 1024;
    this.#sendBytes = Math.floor(((opts.sendMs ?? 0) * opts.sampleRate) / 1000) * 2;
    this.#pending = Buffer.alloc(this.#sendBytes);
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
    const keepAliveMs = this.#opts.keepAliveMs ?? 3000;
    this.#timer = setInterval(() => this.#tick(), keepAliveMs);
    this.#log.debug({ model, connectMs: Math.round(performance.now() - t0) }, 'deepgram connected');
  }

  /**
   * Hot path: the frame joins the audio waiting to go out, which goes as one binary message once another frame
   * like it would take it past sendMs (ws copies while masking, so the caller may reuse `frame`; each message gets
   * a buffer of its own). A frame of sendMs or more goes on its own.
   */
  sendAudio(frame: Buffer): void {
    if (this.#socket === undefined) return;
    const n = frame.length;
    if (this.#pendingBytes + n > this.#sendBytes) {
      this.#flush();
      if (n > this.#sendBytes) return this.#send(frame, 1);
    }
    frame.copy(this.#pending, this.#pendingBytes);
    this.#pendingBytes += n;
    this.#pendingFrames++;
    if (this.#pendingBytes + n > this.#sendBytes) this.#flush();
  }

  finalize(): void {
    this.#flush(); // every sample heard so far goes before the Finalize
    this.#socket?.sendControl(FINALIZE);
  }

  close(): Promise<void> {
    if (this.#closePromise === undefined) this.#closePromise = this.#doClose();
    return this.#closePromise;
  }

  // ---- internals ------------------------------------------------------------------------------

  /** The audio waiting (if any) as one message. */
  #flush(): void {
    const bytes = this.#pendingBytes;
    const frames = this.#pendingFrames;
    if (bytes === 0) return;
    this.#pendingBytes = 0;
    this.#pendingFrames = 0;
    // The sent buffer is never written again: a socket that negotiated compression deflates it later.
    const audio = this.#pending.subarray(0, bytes);
    this.#pending = Buffer.allocUnsafe(this.#sendBytes);
    this.#send(audio, frames);
  }

  #send(audio: Buffer, frames: number): void {
    const sent = this.#socket?.send(audio) ?? 'closed';
    if (sent === 'sent') {
      this.framesSent += frames;
      this.#bytesSinceMessage += audio.length;
    } else if (sent === 'backed-up') {
      this.framesDropped += frames;
    }
  }

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
    if (prev === 'open' && socket !== undefined) {
      try {
        if (this.#pendingBytes > 0) socket.send(this.#pending.subarray(0, this.#pendingBytes));
        this.#pendingBytes = 0;
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
    if (this.framesSent === this.#framesAtTick) socket.sendControl(KEEPALIVE);
    this.#framesAtTick = this.framesSent;
    const stallMs = this.#opts.stallTimeoutMs ?? 10000;
    if (stallMs > 0 && (this.#bytesSinceMessage / 2 / this.#opts.sampleRate) * 1000 > stallMs) {
      this.#lose(new StageError('stt', `deepgram: no result for ${stallMs} ms of audio`, true, { why: 'stall' }));
    }
  }

  #onMessage(m: Record<string, unknown>): void {
    if (this.#state !== 'open') return;
    this.#bytesSinceMessage = 0;
    const listener = this.#listener!;
    switch (m.type) {
      case 'Results': {
        const alt = (m.channel as { alternatives?: Array<Record<string, unknown>> } | undefined)?.alternatives?.[0];
        const rawWords = (alt?.words as Array<Record<string, unknown>> | undefined) ?? [];
        const words: SttWord[] = rawWords.map((w) => ({
          word: String(w.punctuated_word ?? w.word ?? ''),
          start: Number(w.start ?? 0),
          end: Number(w.end ?? 0),
          confidence: Number(w.confidence ?? 0),
        }));
        const r: SttResult = {
          text: String(alt?.transcript ?? ''),
          isFinal: m.is_final === true,
          speechFinal: m.speech_final === true,
          fromFinalize: m.from_finalize === true,
          start: Number(m.start ?? 0),
          duration: Number(m.duration ?? 0),
          confidence: Number(alt?.confidence ?? 0),
          words,
        };
        listener.result(r);
        return;
      }
      case 'UtteranceEnd':
        listener.utteranceEnd(Number(m.last_word_end ?? -1));
        return;
      case 'SpeechStarted':
        listener.speechStarted(Number(m.timestamp ?? 0));
        return;
      case 'Metadata':
        return;
      case 'Error': {
        const what = String(m.description ?? m.message ?? JSON.stringify(m)).slice(0, 200);
        this.#lose(new StageError('stt', `deepgram error: ${what}`, true, { why: 'error' }));
        return;
      }
      default:
        return;
    }
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

/** DeepgramStt options for one call: the environment, overridden by the call's settings. */
export function deepgramOptions(
  env: EnvOf<typeof deepgramSettings>,
  settings: AgentSettings,
  sampleRate: 8000 | 16000,
  logger: Logger,
): DeepgramSttOptions {
  return {
    apiKey: env.DEEPGRAM_API_KEY ?? '',
    ...(env.DEEPGRAM_BASE_URL !== undefined ? { baseUrl: env.DEEPGRAM_BASE_URL } : {}),
    model: settings.deepgramModel ?? env.DEEPGRAM_MODEL,
    language: settings.language,
    sampleRate,
    endpointingMs: env.DEEPGRAM_ENDPOINTING_MS,
    utteranceEndMs: env.DEEPGRAM_UTTERANCE_END_MS,
    connectTimeoutMs: env.DEEPGRAM_CONNECT_TIMEOUT_MS,
    sendMs: env.DEEPGRAM_SEND_MS,
    logger,
  };
}

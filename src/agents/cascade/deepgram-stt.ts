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
 * - `socket.send()` queues without bound while the socket is not open: audio is only sent while it is open.
 */
import { DeepgramClient } from '@deepgram/sdk';
import type { Logger } from '../../log.ts';
import { refusedForGood, StageError, withinMs, type SpeechToText, type SttListener, type SttResult, type SttWord } from './stages.ts';
import { errorText } from '../../errors.ts';

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
  logger: Logger;
}

/** The parts of the SDK's ReconnectingWebSocket (and its inner `ws` socket) used here. */
interface RawSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Buffer | string): void;
  _ws?: { readyState: number; once(ev: 'close', fn: () => void): unknown; terminate(): void };
}

type DgSocket = Awaited<ReturnType<DeepgramClient['listen']['v1']['connect']>>;
type State = 'idle' | 'connecting' | 'open' | 'lost' | 'closed';

const WS_OPEN = 1;
const WS_CLOSED = 3;
const CLOSE_GRACE_MS = 1000;
const KEEPALIVE = JSON.stringify({ type: 'KeepAlive' });
const FINALIZE = JSON.stringify({ type: 'Finalize' });
const CLOSE_STREAM = JSON.stringify({ type: 'CloseStream' });

export class DeepgramStt implements SpeechToText {
  readonly name = 'deepgram';
  /** Frames sent, and frames dropped because the socket was backed up (logged once at close). */
  framesSent = 0;
  framesDropped = 0;

  private readonly opts: DeepgramSttOptions;
  private readonly log: Logger;
  private readonly maxBuffered: number;
  private state: State = 'idle';
  private listener: SttListener | undefined;
  private socket: DgSocket | undefined;
  /** Set only while open: the hot path checks just this. */
  private raw: RawSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private framesAtTick = 0;
  /** Audio bytes sent since the last message from Deepgram (stall detection). */
  private bytesSinceMessage = 0;
  private lastError: string | undefined;
  private closePromise: Promise<void> | undefined;

  constructor(opts: DeepgramSttOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.maxBuffered = opts.maxBufferedBytes ?? 128 * 1024;
  }

  async connect(listener: SttListener): Promise<void> {
    if (this.state !== 'idle') throw new StageError('stt', `deepgram: connect() called in state ${this.state}`, false);
    const { apiKey, model, sampleRate, connectTimeoutMs } = this.opts;
    if (!apiKey) {
      this.state = 'closed';
      throw new StageError('stt', 'deepgram: no API key configured (DEEPGRAM_API_KEY)', false);
    }
    this.listener = listener;
    this.state = 'connecting';
    const t0 = performance.now();
    let baseUrl = this.opts.baseUrl?.replace(/\/+$/, '');
    if (baseUrl !== undefined) baseUrl = baseUrl.replace(/^http(s?):/, 'ws$1:');
    const dg = new DeepgramClient(baseUrl === undefined ? { apiKey } : { apiKey, baseUrl });
    let socket: DgSocket;
    try {
      socket = await dg.listen.v1.connect({
        model,
        ...(this.opts.language ? { language: this.opts.language } : {}),
        encoding: 'linear16',
        sample_rate: sampleRate,
        channels: 1,
        interim_results: 'true',
        endpointing: this.opts.endpointingMs,
        utterance_end_ms: this.opts.utteranceEndMs,
        vad_events: 'true',
        smart_format: 'true',
        // The SDK's generated type asks for this; the header actually sent comes from apiKey ("Token KEY").
        Authorization: `Token ${apiKey}`,
        reconnectAttempts: 0,
        connectionTimeoutInSeconds: Math.max(1, Math.ceil(connectTimeoutMs / 1000)),
      });
    } catch (e) {
      this.state = 'closed';
      throw new StageError('stt', `deepgram: cannot open a stream for model ${model}: ${errorText(e)}`, false, { cause: e });
    }
    this.socket = socket;
    socket.on('message', (m) => this.onMessage(m as unknown as Record<string, unknown>));
    socket.on('error', (e) => {
      this.lastError = errorText(e);
    });
    socket.on('close', (e) => this.onClose(e as unknown as { code?: number; reason?: string }));
    socket.connect();

    const opened = socket.waitForOpen();
    opened.catch(() => {}); // may reject after we gave up waiting
    try {
      await withinMs(opened, connectTimeoutMs, 'no connection');
      if ((this.state as State) !== 'connecting') throw new Error('closed while connecting');
      if (socket.readyState !== WS_OPEN) throw new Error(`connection closed right after opening ${this.lastError ?? ''}`.trim());
    } catch (e) {
      const wasClosed = (this.state as State) === 'closed';
      this.state = 'closed';
      await this.teardown(true);
      const retryable = !refusedForGood(errorText(e));
      const err = new StageError('stt', `deepgram: connecting (model ${model}) failed: ${errorText(e)}`, retryable && !wasClosed, { cause: e });
      if (!wasClosed) this.log.warn({ err: err.message, ms: Math.round(performance.now() - t0) }, 'deepgram connect failed');
      throw err;
    }
    this.state = 'open';
    this.raw = socket.socket as unknown as RawSocket;
    const keepAliveMs = this.opts.keepAliveMs ?? 3000;
    this.timer = setInterval(() => this.tick(), keepAliveMs);
    this.log.debug({ model, connectMs: Math.round(performance.now() - t0) }, 'deepgram connected');
  }

  /** Hot path: one binary frame straight onto the socket (ws copies while masking, so the caller may reuse it). */
  sendAudio(frame: Buffer): void {
    const raw = this.raw;
    if (raw === undefined || raw.readyState !== WS_OPEN) return;
    if (raw.bufferedAmount > this.maxBuffered) {
      this.framesDropped++;
      return;
    }
    raw.send(frame);
    this.framesSent++;
    this.bytesSinceMessage += frame.length;
  }

  finalize(): void {
    const raw = this.raw;
    if (raw === undefined || raw.readyState !== WS_OPEN) return;
    raw.send(FINALIZE);
  }

  close(): Promise<void> {
    if (this.closePromise === undefined) this.closePromise = this.doClose();
    return this.closePromise;
  }

  // ---- internals ------------------------------------------------------------------------------

  private async doClose(): Promise<void> {
    const prev = this.state;
    this.state = 'closed';
    if (this.framesDropped > 0) this.log.warn({ framesDropped: this.framesDropped, framesSent: this.framesSent }, 'Deepgram socket backed up: caller audio frames were dropped');
    clearInterval(this.timer);
    this.timer = undefined;
    const raw = this.raw;
    this.raw = undefined;
    if (prev === 'open' && raw !== undefined && raw.readyState === WS_OPEN) {
      try {
        raw.send(CLOSE_STREAM); // stop billing at once; we do not wait for the last results
      } catch {
        /* ignore */
      }
    }
    await this.teardown(false);
  }

  /** Close the socket (SDK close → `ws` close handshake) and wait, bounded, until it is really closed. */
  private async teardown(abort: boolean): Promise<void> {
    const socket = this.socket;
    if (socket === undefined) return;
    const inner = (socket.socket as unknown as RawSocket)._ws;
    try {
      socket.close();
    } catch {
      /* already closed */
    }
    if (inner === undefined || inner.readyState === WS_CLOSED) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(
        () => {
          try {
            inner.terminate();
          } catch {
            /* ignore */
          }
          resolve();
        },
        abort ? 0 : CLOSE_GRACE_MS,
      );
      inner.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private tick(): void {
    const raw = this.raw;
    if (raw === undefined) return;
    if (this.framesSent === this.framesAtTick && raw.readyState === WS_OPEN) {
      raw.send(KEEPALIVE);
    }
    this.framesAtTick = this.framesSent;
    const stallMs = this.opts.stallTimeoutMs ?? 10000;
    if (stallMs > 0 && (this.bytesSinceMessage / 2 / this.opts.sampleRate) * 1000 > stallMs) {
      this.lose(new StageError('stt', `deepgram: no result for ${stallMs} ms of audio`, true));
    }
  }

  private onMessage(m: Record<string, unknown>): void {
    if (this.state !== 'open') return;
    this.bytesSinceMessage = 0;
    const listener = this.listener!;
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
      case 'Error':
        this.lose(new StageError('stt', `deepgram error: ${String(m.description ?? m.message ?? JSON.stringify(m)).slice(0, 200)}`, true));
        return;
      default:
        return;
    }
  }

  private onClose(e: { code?: number; reason?: string }): void {
    if (this.state !== 'open') return; // connecting: connect() reports; closed: our own close
    const code = e.code ?? 1006;
    const reason = typeof e.reason === 'string' ? e.reason : '';
    // On a transport error the SDK dispatches close (1000, no reason) before the error: report after it.
    queueMicrotask(() => this.lose(new StageError('stt', `deepgram stream closed: ${code} ${reason || this.lastError || ''}`.trim(), true)));
  }

  private lose(err: StageError): void {
    if (this.state !== 'open') return;
    this.state = 'lost';
    this.raw = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    this.log.warn({ err: err.message }, 'deepgram stream lost');
    void this.teardown(true);
    try {
      this.listener?.lost(err);
    } catch (e) {
      this.log.error({ err: errorText(e) }, 'deepgram: listener threw');
    }
  }
}

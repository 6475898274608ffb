/**
 * A local fake of Cartesia's TTS WebSocket (`/tts/websocket`) speaking the real wire protocol.
 *
 * The official SDK (@cartesia/cartesia-js 4, CJS build) reaches it with
 *   const client = new Cartesia({ apiKey, baseURL: fake.baseUrl });             // http://127.0.0.1:PORT
 *   const ws = await client.tts.websocket({ createConnection: (o) => net.connect({ host: o.host, port: o.port }) });
 * (the SDK forces `wss://`; `createConnection` makes it speak plain ws to the fake).
 *
 * Client → server (text frames): generation requests
 *   {model_id, voice, output_format:{container:'raw', encoding, sample_rate}, transcript, context_id, continue,
 *    add_timestamps?, language?, flush?}
 * and `{"cancel":true,"context_id"}`. Server → client: per context, `chunk` messages with base64 audio at the
 * requested rate/encoding, `timestamps` (word_timestamps) when asked for, then `done` once the context got
 * `continue:false` and all its text was spoken; `error` messages (with status_code/title/message, `done:true`)
 * for bad requests. A cancelled context gets nothing more.
 *
 * The audio is a tone whose length is proportional to the text (`msPerChar`), paced faster than real time.
 * Scripting: `failRequest` (an error for chosen requests, optionally followed at once by a close), per-session `sendError`, `close`, `terminate`;
 * fake-wide `refuse` for the upgrade. Everything received is recorded (`requests`, `cancels`, contexts).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { WsFake, WsFakeSession, type HttpRefusal, type Listening, type Upgrade } from './ws-fake.ts';

export interface CartesiaErrorSpec {
  status_code: number;
  title: string;
  message: string;
  error_code?: string;
}

export interface CartesiaFakeOptions {
  /** The key the fake accepts; undefined accepts any non-empty key. */
  apiKey?: string;
  /** Turn upgrades away: `http-N` with that status, `destroy` drops the TCP connection, `hang` never answers. */
  refuse?: `http-${number}` | 'destroy' | 'hang';
  /** Refuse only the first N upgrades. Default: all. */
  refuseCount?: number;
  /** Audio per character of transcript. Default 60 ms (≈ speech at 15 chars/s). */
  msPerChar?: number;
  /** Audio per chunk message. Default 40 ms. */
  chunkMs?: number;
  /** Delay before the first chunk of each transcript (synthesis latency). Default 10 ms. */
  firstChunkDelayMs?: number;
  /** Delay between chunks. Default 2 ms; 0 = setImmediate. */
  paceMs?: number;
  /** Tone frequency. Default 440 Hz. */
  toneHz?: number;
  /** Keep every server message in `session.sent` (default true; off for long load runs). */
  recordSent?: boolean;
  /**
   * Return an error for a request instead of audio (`n` counts generation requests over the whole fake, from 1).
   * `thenClose`: close the socket right after the error, both frames in one TCP write (the client reads them at once).
   */
  failRequest?: (
    req: Record<string, any>,
    n: number,
  ) => (CartesiaErrorSpec & { thenClose?: { code: number; reason?: string } }) | undefined;
}

export interface FakeTtsContext {
  id: string;
  /** Transcripts received, in order (the final empty `continue:false` one included). */
  transcripts: string[];
  /** The first request's settings. */
  modelId: string;
  voice: unknown;
  outputFormat: { container: string; encoding: string; sample_rate: number };
  addTimestamps: boolean;
  language: string | undefined;
  /** `continue:false` received. */
  ended: boolean;
  cancelled: boolean;
  cancelledAt: number | undefined;
  /** `done` sent. */
  done: boolean;
  /** Audio bytes and ms sent. */
  audioBytes: number;
  audioMs: number;
  chunks: number;
  firstChunkAt: number | undefined;
  errored: CartesiaErrorSpec | undefined;
}

const PATH = '/tts/websocket';
const RATES = new Set([8000, 16000, 22050, 24000, 44100, 48000]);
const ENCODINGS = new Set(['pcm_s16le', 'pcm_f32le', 'pcm_mulaw', 'pcm_alaw']);

function bytesPerSample(encoding: string): number {
  return encoding === 'pcm_f32le' ? 4 : encoding === 'pcm_s16le' ? 2 : 1;
}

/** `ms` of a tone in the given encoding. */
function tone(ms: number, rate: number, encoding: string, hz: number, phase0: number): Buffer {
  const n = Math.round((rate * ms) / 1000);
  const bps = bytesPerSample(encoding);
  const out = Buffer.alloc(n * bps);
  for (let i = 0; i < n; i++) {
    const v = Math.sin((2 * Math.PI * hz * (phase0 + i)) / rate) * 0.25;
    if (encoding === 'pcm_s16le') out.writeInt16LE(Math.round(v * 32767), i * 2);
    else if (encoding === 'pcm_f32le') out.writeFloatLE(v, i * 4);
    else out[i] = encoding === 'pcm_mulaw' ? 0xff : 0xd5; // G.711 silence is fine for a fake
  }
  return out;
}

/** One client connection. */
export class FakeCartesiaSession extends WsFakeSession {
  readonly headers: IncomingMessage['headers'];
  readonly query: URLSearchParams;
  /** Every parsed client message, in order. */
  readonly requests: Record<string, any>[] = [];
  /** Context ids cancelled, in order, with when the cancel arrived. */
  readonly cancels: { contextId: string; at: number }[] = [];
  readonly contexts = new Map<string, FakeTtsContext>();
  /** Every server message sent (audio payloads replaced by their size). */
  readonly sent: Record<string, any>[] = [];

  private readonly fake: CartesiaFake;
  /** Per context: transcripts waiting to be spoken, and whether a speaker loop runs. */
  private readonly queues = new Map<string, { items: string[]; running: boolean; phase: number; offsetSec: number }>();

  constructor(id: number, ws: WebSocket, req: IncomingMessage, query: URLSearchParams, fake: CartesiaFake) {
    super(id, ws);
    this.headers = req.headers;
    this.query = query;
    this.fake = fake;
  }

  /** Resolves when a context with this id (or the next new one) exists. */
  waitForContext(pred: (c: FakeTtsContext) => boolean = () => true, timeoutMs = 3000): Promise<FakeTtsContext> {
    for (const c of this.contexts.values()) if (pred(c)) return Promise.resolve(c);
    return new Promise((resolve, reject) => {
      const on = (c: FakeTtsContext) => {
        if (!pred(c)) return;
        clearTimeout(timer);
        this.off('context', on);
        resolve(c);
      };
      const timer = setTimeout(() => {
        this.off('context', on);
        reject(new Error(`fake cartesia session ${this.id}: no matching context within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('context', on);
    });
  }

  send(msg: Record<string, any>): void {
    if (this.isClosed) return;
    if (this.fake.options.recordSent === false) {
      /* load runs: counters only (contexts keep their own) */
    } else if (msg.type === 'chunk')
      this.sent.push({ ...msg, data: `<${Buffer.byteLength(String(msg.data), 'base64')} bytes>` });
    else this.sent.push(msg);
    this.ws.send(JSON.stringify(msg));
  }

  /** An error message for a context (status_code 500 by default), marking it done as the service does. */
  sendError(contextId: string | undefined, spec: Partial<CartesiaErrorSpec> = {}): void {
    const e: CartesiaErrorSpec = {
      status_code: spec.status_code ?? 500,
      title: spec.title ?? 'Internal Server Error',
      message: spec.message ?? 'fake error',
      ...(spec.error_code ? { error_code: spec.error_code } : {}),
    };
    if (contextId !== undefined) {
      const ctx = this.contexts.get(contextId);
      if (ctx) ctx.errored = e;
      this.queues.delete(contextId);
    }
    this.send({ type: 'error', ...(contextId !== undefined ? { context_id: contextId } : {}), ...e, done: true });
  }

  // ---- internals ------------------------------------------------------------------------------

  protected override onMessage(buf: Buffer): void {
    let msg: Record<string, any>;
    try {
      msg = JSON.parse(buf.toString('utf8')) as Record<string, any>;
    } catch {
      this.sendError(undefined, { status_code: 400, title: 'Invalid JSON', message: 'could not parse message' });
      return;
    }
    this.requests.push(msg);
    this.emit('request', msg);
    const contextId = typeof msg.context_id === 'string' ? msg.context_id : undefined;
    if (msg.cancel === true) {
      if (contextId === undefined) return;
      this.cancels.push({ contextId, at: performance.now() });
      const ctx = this.contexts.get(contextId);
      if (ctx) {
        ctx.cancelled = true;
        ctx.cancelledAt = performance.now();
      }
      this.queues.delete(contextId);
      this.emit('cancel', contextId);
      return;
    }
    const n = ++this.fake.generationRequests;
    const bad = this.validate(msg);
    if (bad) {
      this.sendError(contextId, bad);
      return;
    }
    const scripted = this.fake.options.failRequest?.(msg, n);
    let ctx = this.contexts.get(contextId!);
    if (!ctx) {
      const of = msg.output_format as FakeTtsContext['outputFormat'];
      ctx = {
        id: contextId!,
        transcripts: [],
        modelId: String(msg.model_id),
        voice: msg.voice,
        outputFormat: { container: of.container, encoding: of.encoding, sample_rate: of.sample_rate },
        addTimestamps: msg.add_timestamps === true,
        language: typeof msg.language === 'string' ? msg.language : undefined,
        ended: false,
        cancelled: false,
        cancelledAt: undefined,
        done: false,
        audioBytes: 0,
        audioMs: 0,
        chunks: 0,
        firstChunkAt: undefined,
        errored: undefined,
      };
      this.contexts.set(ctx.id, ctx);
      this.queues.set(ctx.id, { items: [], running: false, phase: 0, offsetSec: 0 });
      this.emit('context', ctx);
    }
    if (ctx.cancelled || ctx.done || ctx.errored) return; // like the service: late input for a finished context is ignored
    ctx.transcripts.push(String(msg.transcript ?? ''));
    if (scripted) {
      const { thenClose, ...spec } = scripted;
      if (thenClose === undefined) return this.sendError(ctx.id, spec);
      const sock = (this.ws as unknown as { _socket: Duplex })._socket;
      sock.cork();
      this.sendError(ctx.id, spec);
      this.close(thenClose.code, thenClose.reason);
      sock.uncork();
      return;
    }
    if (msg.continue === false) ctx.ended = true;
    const q = this.queues.get(ctx.id)!;
    const text = String(msg.transcript ?? '');
    if (text.trim()) q.items.push(text);
    if (!q.running) void this.speak(ctx);
  }

  private validate(msg: Record<string, any>): Partial<CartesiaErrorSpec> | undefined {
    if (typeof msg.context_id !== 'string' || !msg.context_id)
      return { status_code: 400, title: 'Invalid request', message: 'context_id is required' };
    if (!msg.model_id) return { status_code: 400, title: 'Invalid model', message: 'model_id is required' };
    const voiceId = typeof msg.voice === 'string' ? msg.voice : msg.voice?.id;
    if (!voiceId) return { status_code: 400, title: 'Invalid voice', message: 'voice.id is required' };
    const of = msg.output_format;
    if (of?.container !== 'raw' || !ENCODINGS.has(of.encoding) || !RATES.has(of.sample_rate)) {
      return {
        status_code: 400,
        title: 'Invalid output format',
        message: `unsupported output_format ${JSON.stringify(of)}`,
      };
    }
    if (typeof msg.transcript !== 'string')
      return { status_code: 400, title: 'Invalid request', message: 'transcript is required' };
    return undefined;
  }

  /** Speak the queued transcripts of a context one after the other; `done` once ended and drained. */
  private async speak(ctx: FakeTtsContext): Promise<void> {
    const q = this.queues.get(ctx.id);
    if (!q) return;
    q.running = true;
    const o = this.fake.options;
    const live = () => !this.isClosed && this.queues.get(ctx.id) === q && !ctx.cancelled && !ctx.errored;
    try {
      while (live() && q.items.length > 0) {
        const text = q.items.shift()!;
        const { encoding, sample_rate: rate } = ctx.outputFormat;
        const totalMs = Math.max(40, Math.round(text.length * (o.msPerChar ?? 60)));
        const chunkMs = o.chunkMs ?? 40;
        await this.sleep(o.firstChunkDelayMs ?? 10);
        let sentTimestamps = false;
        for (let done = 0; done < totalMs && live(); done += chunkMs) {
          const ms = Math.min(chunkMs, totalMs - done);
          const pcm = tone(ms, rate, encoding, o.toneHz ?? 440, q.phase);
          q.phase += Math.round((rate * ms) / 1000);
          ctx.audioBytes += pcm.length;
          ctx.audioMs += ms;
          ctx.chunks++;
          ctx.firstChunkAt ??= performance.now();
          this.send({
            type: 'chunk',
            context_id: ctx.id,
            status_code: 206,
            done: false,
            data: pcm.toString('base64'),
            step_time: 5,
          });
          if (ctx.addTimestamps && !sentTimestamps) {
            sentTimestamps = true;
            const words = text.split(/\s+/).filter(Boolean);
            const per = totalMs / 1000 / Math.max(1, words.length);
            const base = q.offsetSec;
            this.send({
              type: 'timestamps',
              context_id: ctx.id,
              status_code: 206,
              done: false,
              word_timestamps: {
                words,
                start: words.map((_, i) => +(base + i * per).toFixed(3)),
                end: words.map((_, i) => +(base + (i + 1) * per).toFixed(3)),
              },
            });
          }
          if (done + chunkMs < totalMs) await this.sleep(o.paceMs ?? 2);
        }
        q.offsetSec += totalMs / 1000;
      }
      if (live() && ctx.ended && q.items.length === 0 && !ctx.done) {
        ctx.done = true;
        this.send({ type: 'done', context_id: ctx.id, status_code: 200, done: true });
        this.emit('done', ctx);
      }
    } finally {
      q.running = false;
    }
    // Text that arrived while the last sleep was pending.
    if (live() && (q.items.length > 0 || (ctx.ended && !ctx.done))) void this.speak(ctx);
  }

  /** Dropping the queues ends every speaker loop (`live()` fails once its sleep returns). */
  protected override stop(): void {
    super.stop();
    this.queues.clear();
  }
}

export class CartesiaFake extends WsFake<FakeCartesiaSession, CartesiaFakeOptions> {
  /** `http://127.0.0.1:PORT`, for the client's `baseURL`. */
  readonly baseUrl: string;
  /** Generation requests received over all sessions. */
  generationRequests = 0;

  private constructor(listening: Listening, options: CartesiaFakeOptions) {
    super(listening, options, 'fake cartesia: no session');
    this.baseUrl = `http://127.0.0.1:${this.port}`;
  }

  static async start(options: CartesiaFakeOptions = {}): Promise<CartesiaFake> {
    return new CartesiaFake(
      await WsFake.listen('{"error":"not found (fake cartesia serves /tts/websocket only)"}'),
      options,
    );
  }

  /** Every context over all sessions, in creation order. */
  allContexts(): FakeTtsContext[] {
    return this.sessions.flatMap((s) => [...s.contexts.values()]);
  }

  /** Every cancel over all sessions. */
  allCancels(): { contextId: string; at: number }[] {
    return this.sessions.flatMap((s) => s.cancels);
  }

  protected override checkPath(u: Upgrade): HttpRefusal | undefined {
    return u.path.replace(/\/+$/, '') === PATH ? undefined : error(404, `not found: ${u.path}`);
  }

  protected override httpRefusal(status: number): HttpRefusal {
    return error(status, 'refused by fake');
  }

  protected override checkRequest({ req, query }: Upgrade): HttpRefusal | undefined {
    const auth = String(req.headers.authorization ?? '');
    const key = /^Bearer\s+(.+)$/i.exec(auth)?.[1] ?? String(req.headers['x-api-key'] ?? query.get('api_key') ?? '');
    if (!key || (this.options.apiKey !== undefined && key !== this.options.apiKey))
      return error(401, 'Invalid API key');
    if (!req.headers['cartesia-version'] && !query.get('cartesia_version'))
      return error(400, 'cartesia-version header is required');
    return undefined;
  }

  protected override statusText(status: number): string {
    return status === 401 ? 'Unauthorized' : 'Error';
  }

  protected override createSession(id: number, ws: WebSocket, { req, query }: Upgrade): FakeCartesiaSession {
    return new FakeCartesiaSession(id, ws, req, query, this);
  }
}

/** An upgrade refusal with Cartesia's error body. */
function error(status: number, message: string): HttpRefusal {
  return { status, body: JSON.stringify({ error: message }) };
}

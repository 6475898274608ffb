/**
 * A local fake of Deepgram's live transcription API (`/v1/listen`, listen v1) speaking the real wire protocol.
 *
 * The official SDK (@deepgram/sdk 5) reaches it with
 *   new DeepgramClient({ apiKey, baseUrl: fake.url })   // ws://127.0.0.1:PORT
 *   await dg.listen.v1.connect({ model, encoding: 'linear16', sample_rate: 8000, ..., reconnectAttempts: 0 })
 * which opens `ws://127.0.0.1:PORT/v1/listen?model=...` with `Authorization: Token KEY`.
 *
 * Like the real service: a bad key or a bad query is refused at the upgrade with an HTTP error whose JSON body
 * and `dg-error` header name the problem; caller audio arrives as binary frames of raw PCM; control messages are
 * text frames `{"type":"KeepAlive"|"Finalize"|"CloseStream"}`; the server sends `Results` (interim, final,
 * speech_final), `SpeechStarted` (vad_events=true), `UtteranceEnd` (utterance_end_ms) and, on CloseStream,
 * a `Metadata` message before closing with 1000. A connection that gets neither audio nor a text frame for
 * `idleTimeoutMs` (real service: ~10 s) is closed with 1011 and Deepgram's NET-0001 reason.
 *
 * Two ways to drive it:
 * - scripted: tests call `session.sendInterim()/sendFinal()/sendUtteranceEnd()/...` themselves (usually after
 *   `await session.waitForAudioMs(n)`);
 * - automatic (`auto`): energy per 20 ms window of the received audio (in audio time, not wall time) finds speech;
 *   while speech goes on it sends SpeechStarted and interim results that reveal the scripted transcript word by
 *   word; `endpointing` ms of silence after enough speech → a final with speech_final; `utterance_end_ms` of
 *   silence after the last word → UtteranceEnd. Finalize flushes the pending words as a `from_finalize` final.
 *   Usable by a load benchmark (no per-frame logging, no per-frame JSON; `recordAudio: false` keeps counters only).
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { rmsInt16LE } from '../audio.ts';
import { WsFake, WsFakeSession, type HttpRefusal, type Listening, type Upgrade } from './ws-fake.ts';

export type { CloseInfo } from './ws-fake.ts';

export interface DeepgramAutoOptions {
  /** What the caller "said" in their nth speech segment (n from 1). Default: `caller turn n`. */
  transcript?: string | ((turn: number) => string);
  /** RMS (int16) at or above which a 20 ms window counts as speech. Default 500. */
  speechThreshold?: number;
  /** Speech shorter than this is noise: no transcript at all (an empty final at most). Default 120 ms. */
  minSpeechMs?: number;
  /** An interim result per this much speech. Default 300 ms. 0 = no interims. */
  interimEveryMs?: number;
  /** Silence that ends an utterance with speech_final; default: the `endpointing` query value, else 300 (false/0 = never). */
  endpointingMs?: number;
  /** Wall-clock delay before each result is sent (the model's latency). Default 0. */
  latencyMs?: number;
  /** Word confidence in the results. Default 0.98. */
  confidence?: number;
  /** An empty final result per this much silence (the real service keeps sending Results during silence). Default 2000; 0 = never. */
  silenceResultsEveryMs?: number;
}

export interface DeepgramFakeOptions {
  /** The key the fake accepts; undefined accepts any non-empty key. */
  apiKey?: string;
  /** Turn every upgrade away: `http-N` answers with HTTP N and a Deepgram error body; `destroy` drops the TCP connection; `hang` never answers. */
  refuse?: `http-${number}` | 'destroy' | 'hang';
  /** Refuse only the first N connections (then accept): retry tests. Default: all. */
  refuseCount?: number;
  /** Accepted models; undefined accepts any. */
  models?: string[];
  /** Close a connection after this long without audio or text frames (real: ~10 s). Default 10000; 0 = never. */
  idleTimeoutMs?: number;
  /** Answer by itself (see the file comment). */
  auto?: DeepgramAutoOptions;
  /** Keep the received audio (default true). Off for load tests: only counters remain. */
  recordAudio?: boolean;
}

export interface WordSpec {
  word: string;
  start: number;
  end: number;
  confidence?: number;
  punctuated_word?: string;
}

export interface ResultSpec {
  transcript: string;
  isFinal?: boolean;
  speechFinal?: boolean;
  fromFinalize?: boolean;
  /** Seconds of stream audio. Default: words' span, else the audio received so far minus `duration`. */
  start?: number;
  duration?: number;
  confidence?: number;
  /** Default: the transcript's words spread evenly over [start, start + duration]. */
  words?: WordSpec[];
}

export interface ControlMessage {
  type: string;
  /** performance.now() on arrival. */
  at: number;
  /** Seconds of audio received before it. */
  audioSec: number;
}

const PATH = '/v1/listen';
const WINDOW_MS = 20;
const NET_0001 =
  'Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001';

function requestId(): string {
  return crypto.randomUUID();
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Words of `text` spread evenly over [start, end] (seconds). */
export function spreadWords(text: string, start: number, end: number, confidence = 0.98): WordSpec[] {
  const tokens = text.split(/\s+/).filter(Boolean);
  if (tokens.length === 0) return [];
  const step = (end - start) / tokens.length;
  return tokens.map((t, i) => ({
    word: t.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '') || t,
    punctuated_word: t,
    start: round3(start + i * step),
    end: round3(start + (i + 1) * step),
    confidence,
  }));
}

/** One client connection (one live transcription stream). */
export class FakeDeepgramSession extends WsFakeSession {
  /** The query parameters of the upgrade request (model, encoding, sample_rate, interim_results, ...). */
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly requestId = requestId();
  /** Binary audio frames received (empty when recordAudio is off). */
  readonly audioChunks: Buffer[] = [];
  audioInBytes = 0;
  /** Text frames received, parsed, in order (KeepAlive, Finalize, CloseStream, anything else). */
  readonly controls: ControlMessage[] = [];
  /** Every server message sent, in order. */
  readonly sent: Record<string, any>[] = [];
  /** Speech segments the automatic mode has turned into transcripts. */
  autoTurns = 0;

  private readonly opts: DeepgramFakeOptions;
  private readonly rate: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private audioWaiters: { bytes: number; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] =
    [];
  // automatic mode (audio time, seconds)
  private carry: Buffer | undefined;
  private samplesSeen = 0;
  private inSpeech = false;
  private speechStart = 0;
  private speechMs = 0;
  private silenceMs = 0;
  private lastWordEnd = -1;
  private sentUtteranceEnd = true;
  private interimCount = 0;
  private speechStartedSent = false;
  private silenceSinceResultMs = 0;

  constructor(
    id: number,
    ws: WebSocket,
    query: URLSearchParams,
    headers: IncomingMessage['headers'],
    opts: DeepgramFakeOptions,
  ) {
    super(id, ws);
    this.query = query;
    this.headers = headers;
    this.opts = opts;
    this.rate = Number(query.get('sample_rate') ?? 16000) || 16000;
    this.armIdle();
  }

  /** Seconds of audio received. */
  get audioSec(): number {
    return this.audioInBytes / 2 / this.rate;
  }

  get audioIn(): Buffer {
    return Buffer.concat(this.audioChunks);
  }

  controlsOf(type: string): ControlMessage[] {
    return this.controls.filter((c) => c.type === type);
  }

  /** Resolves once at least `ms` of audio has arrived; rejects after `timeoutMs` or when the session closes. */
  waitForAudioMs(ms: number, timeoutMs = 3000): Promise<void> {
    const bytes = Math.ceil((ms * this.rate) / 1000) * 2;
    if (this.audioInBytes >= bytes) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.audioWaiters = this.audioWaiters.filter((w) => w.timer !== timer);
        reject(
          new Error(
            `fake deepgram session ${this.id}: only ${Math.round(this.audioSec * 1000)} ms of audio after ${timeoutMs} ms (wanted ${ms})`,
          ),
        );
      }, timeoutMs);
      this.audioWaiters.push({ bytes, resolve, reject, timer });
    });
  }

  /** Resolves with the next text frame of `type` (already received ones do not count). */
  nextControl(type: string, timeoutMs = 3000): Promise<ControlMessage> {
    return new Promise((resolve, reject) => {
      const on = (c: ControlMessage) => {
        if (c.type !== type) return;
        clearTimeout(timer);
        this.off('control', on);
        resolve(c);
      };
      const timer = setTimeout(() => {
        this.off('control', on);
        reject(new Error(`fake deepgram session ${this.id}: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('control', on);
    });
  }

  // ---- scripted server messages -------------------------------------------------------------

  send(msg: Record<string, any>): void {
    if (this.isClosed) return;
    this.sent.push(msg);
    this.ws.send(JSON.stringify(msg));
  }

  /** A `Results` message shaped like the real one. */
  sendResult(r: ResultSpec): void {
    const confidence = r.confidence ?? 0.98;
    let { start, duration, words } = r;
    if (words === undefined) {
      const d = duration ?? Math.max(0.2, 0.3 * r.transcript.split(/\s+/).filter(Boolean).length);
      const s = start ?? Math.max(0, this.audioSec - d);
      words = spreadWords(r.transcript, s, s + d, confidence);
      start ??= s;
      duration ??= d;
    }
    if (start === undefined) start = words.length ? words[0]!.start : Math.max(0, this.audioSec - (duration ?? 0));
    if (duration === undefined) duration = words.length ? words[words.length - 1]!.end - start : 0;
    this.send({
      type: 'Results',
      channel_index: [0, 1],
      duration: round3(duration),
      start: round3(start),
      is_final: r.isFinal ?? false,
      speech_final: r.speechFinal ?? false,
      channel: {
        alternatives: [{ transcript: r.transcript, confidence, words: words.map((w) => ({ confidence, ...w })) }],
      },
      metadata: {
        request_id: this.requestId,
        model_info: {
          name: `general-${this.query.get('model') ?? 'nova-3'}`,
          version: '2025-01-01.0',
          arch: this.query.get('model') ?? 'nova-3',
        },
        model_uuid: '00000000-0000-4000-8000-000000000000',
      },
      from_finalize: r.fromFinalize ?? false,
    });
  }

  sendInterim(transcript: string, spec: Omit<ResultSpec, 'transcript' | 'isFinal' | 'speechFinal'> = {}): void {
    this.sendResult({ ...spec, transcript, isFinal: false, speechFinal: false });
  }

  sendFinal(transcript: string, spec: Omit<ResultSpec, 'transcript' | 'isFinal'> = {}): void {
    this.sendResult({ ...spec, transcript, isFinal: true });
  }

  sendSpeechStarted(timestamp = this.audioSec): void {
    this.send({ type: 'SpeechStarted', channel: [0], timestamp: round3(timestamp) });
  }

  sendUtteranceEnd(lastWordEnd: number): void {
    this.send({ type: 'UtteranceEnd', channel: [0, 1], last_word_end: round3(lastWordEnd) });
  }

  sendMetadata(): void {
    this.send({
      type: 'Metadata',
      transaction_key: 'deprecated',
      request_id: this.requestId,
      sha256: '0'.repeat(64),
      created: new Date().toISOString(),
      duration: round3(this.audioSec),
      channels: 1,
    });
  }

  // ---- internals ------------------------------------------------------------------------------

  protected override onMessage(buf: Buffer, isBinary: boolean): void {
    this.armIdle();
    if (isBinary) {
      this.onAudio(buf);
      return;
    }
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
    } catch {
      this.close(1008, 'DATA-0000: invalid text frame');
      return;
    }
    const c: ControlMessage = { type: String(msg.type ?? ''), at: performance.now(), audioSec: this.audioSec };
    this.controls.push(c);
    this.emit('control', c);
    if (c.type === 'Finalize') this.onFinalize();
    else if (c.type === 'CloseStream') this.onCloseStream();
  }

  private onAudio(pcm: Buffer): void {
    if (pcm.length === 0) return;
    this.audioInBytes += pcm.length;
    if (this.opts.recordAudio !== false) this.audioChunks.push(pcm);
    if (this.audioWaiters.length > 0) {
      const due = this.audioWaiters.filter((w) => this.audioInBytes >= w.bytes);
      if (due.length > 0) {
        this.audioWaiters = this.audioWaiters.filter((w) => this.audioInBytes < w.bytes);
        for (const w of due) {
          clearTimeout(w.timer);
          w.resolve();
        }
      }
    }
    if (this.opts.auto) this.autoAudio(pcm);
  }

  private onFinalize(): void {
    if (!this.opts.auto) return;
    // Flush whatever was heard as a final (speech_final stays false for finalize results, as the real service does).
    const p = this.pendingNow();
    this.resetSegment();
    if (p)
      this.later(() =>
        this.sendFinal(p.text, {
          fromFinalize: true,
          speechFinal: false,
          words: spreadWords(p.text, p.start, p.end, this.conf()),
        }),
      );
    else this.later(() => this.sendFinal('', { fromFinalize: true, start: this.audioSec, duration: 0, words: [] }));
  }

  private onCloseStream(): void {
    const p = this.opts.auto ? this.pendingNow() : undefined;
    this.resetSegment();
    if (p) this.sendFinal(p.text, { speechFinal: true, words: spreadWords(p.text, p.start, p.end, this.conf()) });
    this.sendMetadata();
    this.close(1000, '');
  }

  private conf(): number {
    return this.opts.auto?.confidence ?? 0.98;
  }

  private transcriptFor(turn: number): string {
    const t = this.opts.auto?.transcript;
    if (typeof t === 'function') return t(turn);
    return t ?? `caller turn ${turn}`;
  }

  /** The words heard so far of the segment in progress (undefined if it is too short to be speech). */
  private pendingNow(): { text: string; start: number; end: number } | undefined {
    if (!this.inSpeech) return undefined;
    const minSpeech = this.opts.auto?.minSpeechMs ?? 120;
    if (this.speechMs < minSpeech) return undefined;
    const turn = ++this.autoTurns;
    const end = this.speechStart + this.speechMs / 1000;
    return { text: this.transcriptFor(turn), start: this.speechStart, end };
  }

  private resetSegment(): void {
    this.inSpeech = false;
    this.speechMs = 0;
    this.silenceMs = 0;
    this.interimCount = 0;
    this.speechStartedSent = false;
  }

  private autoAudio(pcm: Buffer): void {
    const ar = this.opts.auto!;
    const threshold = ar.speechThreshold ?? 500;
    const minSpeechMs = ar.minSpeechMs ?? 120;
    const interimEvery = ar.interimEveryMs ?? 300;
    const qEnd = this.query.get('endpointing');
    const endpointing = ar.endpointingMs ?? (qEnd === null ? 300 : qEnd === 'false' ? 0 : Number(qEnd));
    const utteranceEndMs = Number(this.query.get('utterance_end_ms') ?? 0);
    const vadEvents = this.query.get('vad_events') === 'true';
    const interim = this.query.get('interim_results') === 'true';
    const silenceEvery = ar.silenceResultsEveryMs ?? 2000;
    const windowBytes = Math.round((this.rate * WINDOW_MS) / 1000) * 2;
    let buf = pcm;
    if (this.carry !== undefined) {
      buf = Buffer.concat([this.carry, pcm]);
      this.carry = undefined;
    }
    let off = 0;
    for (; off + windowBytes <= buf.length; off += windowBytes) {
      const t = this.samplesSeen / this.rate; // window start, seconds
      this.samplesSeen += windowBytes / 2;
      const speech = rmsInt16LE(buf, off, off + windowBytes) >= threshold;
      if (speech) {
        this.silenceSinceResultMs = 0;
        if (!this.inSpeech) {
          this.inSpeech = true;
          this.speechStart = t;
          this.speechMs = 0;
          this.silenceMs = 0;
          this.interimCount = 0;
          this.speechStartedSent = false;
        }
        this.speechMs += this.silenceMs + WINDOW_MS; // short pauses inside an utterance count as speech
        this.silenceMs = 0;
        if (vadEvents && !this.speechStartedSent && this.speechMs >= Math.min(minSpeechMs, 60)) {
          this.speechStartedSent = true;
          const ts = this.speechStart;
          this.later(() => this.sendSpeechStarted(ts));
        }
        if (
          interim &&
          interimEvery > 0 &&
          this.speechMs >= minSpeechMs &&
          this.speechMs >= (this.interimCount + 1) * interimEvery
        ) {
          this.interimCount++;
          const words = this.transcriptFor(this.autoTurns + 1)
            .split(/\s+/)
            .filter(Boolean);
          const shown = Math.max(1, Math.min(words.length - 1, this.interimCount));
          const text = words.slice(0, shown).join(' ');
          const s = this.speechStart;
          const e = t + WINDOW_MS / 1000;
          this.later(() => this.sendInterim(text, { words: spreadWords(text, s, e, this.conf()) }));
        }
        continue;
      }
      // silence
      this.silenceSinceResultMs += WINDOW_MS;
      if (this.inSpeech) {
        this.silenceMs += WINDOW_MS;
        if (this.speechMs < minSpeechMs && this.silenceMs >= 200) {
          this.resetSegment(); // a click or a cough: nothing to transcribe
        } else if (endpointing > 0 && this.speechMs >= minSpeechMs && this.silenceMs >= endpointing) {
          const p = this.pendingNow()!;
          this.resetSegment();
          this.lastWordEnd = p.end;
          this.sentUtteranceEnd = false;
          this.silenceSinceResultMs = 0;
          this.later(() =>
            this.sendFinal(p.text, { speechFinal: true, words: spreadWords(p.text, p.start, p.end, this.conf()) }),
          );
        }
      }
      if (
        !this.inSpeech &&
        !this.sentUtteranceEnd &&
        utteranceEndMs > 0 &&
        t + WINDOW_MS / 1000 - this.lastWordEnd >= utteranceEndMs / 1000
      ) {
        this.sentUtteranceEnd = true;
        const lwe = this.lastWordEnd;
        this.later(() => this.sendUtteranceEnd(lwe));
      }
      if (silenceEvery > 0 && !this.inSpeech && this.silenceSinceResultMs >= silenceEvery) {
        this.silenceSinceResultMs = 0;
        const s = t + WINDOW_MS / 1000 - silenceEvery / 1000;
        this.later(() => this.sendFinal('', { start: Math.max(0, s), duration: silenceEvery / 1000, words: [] }));
      }
    }
    if (off < buf.length) this.carry = Buffer.from(buf.subarray(off));
  }

  /** Run `fn` after the configured latency (now when 0). */
  private later(fn: () => void): void {
    const ms = this.opts.auto?.latencyMs ?? 0;
    if (ms <= 0) {
      fn();
      return;
    }
    this.timer(ms, fn);
  }

  private armIdle(): void {
    const ms = this.opts.idleTimeoutMs ?? 10000;
    if (ms <= 0 || this.isClosed) return;
    if (this.idleTimer) this.clearTimer(this.idleTimer);
    this.idleTimer = this.timer(ms, () => this.close(1011, NET_0001));
  }

  /** Audio waiters fail only once the socket is gone (audio may still arrive while a close is under way). */
  protected override onClosed(): void {
    for (const w of this.audioWaiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`fake deepgram session ${this.id} closed while waiting for audio`));
    }
    this.audioWaiters = [];
  }
}

const ENCODINGS = ['linear16', 'mulaw', 'alaw', 'opus', 'flac', 'amr-nb', 'amr-wb', 'speex', 'g729', 'linear32'];

/** An upgrade refusal as Deepgram sends it: the error in the JSON body and in the `dg-error` header. */
function dgError(status: number, errCode: string, errMsg: string): HttpRefusal {
  return {
    status,
    body: JSON.stringify({ err_code: errCode, err_msg: errMsg, request_id: requestId() }),
    headers: { 'dg-error': errMsg },
  };
}

export class DeepgramFake extends WsFake<FakeDeepgramSession, DeepgramFakeOptions> {
  /** `ws://127.0.0.1:PORT`, for the SDK's `baseUrl`. */
  readonly url: string;

  private constructor(listening: Listening, options: DeepgramFakeOptions) {
    super(listening, options, 'fake deepgram: no session');
    this.url = `ws://127.0.0.1:${this.port}`;
  }

  static async start(options: DeepgramFakeOptions = {}): Promise<DeepgramFake> {
    return new DeepgramFake(
      await WsFake.listen('{"err_code":"NOT_FOUND","err_msg":"fake deepgram serves /v1/listen over WebSocket only"}'),
      options,
    );
  }

  protected override checkPath(u: Upgrade): HttpRefusal | undefined {
    return u.path.replace(/\/+$/, '') === PATH ? undefined : dgError(404, 'NOT_FOUND', `no such endpoint: ${u.path}`);
  }

  protected override httpRefusal(status: number): HttpRefusal {
    return status === 401
      ? dgError(401, 'INVALID_AUTH', 'Invalid credentials.')
      : dgError(status, 'SERVICE_ERROR', 'refused by fake');
  }

  protected override checkRequest({ req, query }: Upgrade): HttpRefusal | undefined {
    const o = this.options;
    const m = /^(?:Token|Bearer)\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
    if (!m || (o.apiKey !== undefined && m[1] !== o.apiKey))
      return dgError(401, 'INVALID_AUTH', 'Invalid credentials.');
    const model = query.get('model') ?? '';
    if (o.models && !o.models.includes(model))
      return dgError(400, 'Bad Request', `No such model/language/tier combination found: model=${model}`);
    const enc = query.get('encoding');
    if (enc !== null && !ENCODINGS.includes(enc)) return dgError(400, 'Bad Request', `Invalid encoding: ${enc}`);
    if (enc !== null && !query.get('sample_rate'))
      return dgError(400, 'Bad Request', 'sample_rate is required when encoding is set');
    return undefined;
  }

  protected override statusText(status: number): string {
    return status === 401 ? 'Unauthorized' : status === 400 ? 'Bad Request' : status === 404 ? 'Not Found' : 'Error';
  }

  protected override createSession(id: number, ws: WebSocket, { req, query }: Upgrade): FakeDeepgramSession {
    return new FakeDeepgramSession(id, ws, query, req.headers, this.options);
  }
}

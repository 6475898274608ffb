/**
 * A local fake of Google's Gemini Live API (BidiGenerateContent) speaking the real wire protocol.
 *
 * The official SDK reaches it with
 *   new GoogleGenAI({ apiKey, httpOptions: { baseUrl: fake.baseUrl, apiVersion: 'v1beta' } })
 * and then connects to `ws://127.0.0.1:PORT//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=KEY`
 * (note the double slash the SDK produces when a baseUrl is given).
 *
 * Like the real service it sends every server message as a *binary* WebSocket frame holding JSON
 * (the SDK's Node transport hands `JSON.parse` a Buffer, which works), answers the first client frame
 * `{"setup":{...}}` with `{"setupComplete":{}}`, and rejects a wrong API key the way the real service is
 * reported to: it accepts the upgrade, then closes with 1008 "API key not valid. Please pass a valid API key."
 * (the SDK surfaces "Live connection closed before setup completed (code 1008): ...").
 *
 * Tests script each session (`sendAudio`, `interrupt`, `turnComplete`, `goAway`, `close`, ...) or let the
 * fake answer by itself (`autoReply`): it watches the caller audio it receives (energy per 20 ms window),
 * answers after speech followed by silence, and sends `interrupted: true` when the caller talks over it.
 *
 * Long sessions, like the service: a setup carrying `sessionResumption` gets `sessionResumptionUpdate`s (a
 * resumable handle after setup, after each generation and every `resumption.updateEveryMs` while idle; `resumable:
 * false` with no handle while a reply is being generated or a tool call is pending; `lastConsumedClientMessageIndex`
 * only when the setup asked for `transparent`). Each handle keeps a snapshot of the conversation (turn count, the
 * caller audio the model has consumed, the turn-taking state), so a connection opened with it continues the
 * conversation; an unknown or expired handle is refused with a 1007 close. `goAway(ms)` (or `goAwayAfterMs`) is
 * followed by a 1011 close once `ms` has passed; `terminate()` drops a connection abruptly. With a `gemini-3.8`
 * model a setup the service refuses (a thinking level, proactive audio switched off) is closed with 1007 and the
 * reason.
 *
 * Tools: `callTool` / `toolCall` (parallel calls) send a toolCall, `cancelTool` a toolCallCancellation; the
 * client's toolResponses are recorded (`toolResponses`, `nextToolResponse(id)`), and with `holdTurnsForTools`
 * autoReply waits for every answer before it replies.
 *
 * Hot path (hundreds of sessions in a benchmark): audio frames are recognised by prefix and their base64
 * payload is decoded straight from the received Buffer, without JSON.parse and without logging.
 */
import type { WebSocket } from 'ws';
import { WsFake, WsFakeSession, type HttpRefusal, type Listening, type Upgrade } from './ws-fake.ts';

export type { CloseInfo } from './ws-fake.ts';

/**
 * How to turn a connection away. `http-N`: answer the upgrade with HTTP N; `close-N`: accept, then close with code N
 * after the setup frame; `destroy`: drop the TCP connection; `hang`: never answer the upgrade.
 */
export type Refusal = `http-${number}` | `close-${number}` | 'destroy' | 'hang';

export interface AutoReplyOptions {
  /** 24 kHz 16-bit mono model audio for each reply (turn numbers start at 1). */
  replyAudio: Int16Array | ((turn: number) => Int16Array);
  /** RMS (of int16 samples) at or above which a 20 ms window counts as speech. Default 500. */
  speechThreshold?: number;
  /** Speech needed before a following silence ends the caller's turn. Default 200 ms. */
  minSpeechMs?: number;
  /** Silence that ends the caller's turn. Default 500 ms. */
  silenceMs?: number;
  /** Speech while replying that triggers `interrupted: true`. Default 60 ms (the real service: 50–100 ms). */
  bargeInMs?: number;
  /** Model audio per message. Default 40 ms. */
  chunkMs?: number;
  /** Wall-clock pause between audio messages (faster than real time). Default 5 ms; 0 = setImmediate. */
  paceMs?: number;
  /** Stream each reply in real time instead (`chunkMs` of audio every `chunkMs`, on a clock: no drift), as a model streams a long answer. */
  realtime?: boolean;
  /** Transcripts sent with each reply; false = none. Defaults: "caller turn N" / "agent reply N". */
  transcripts?: false | { caller?: (turn: number) => string; agent?: (turn: number) => string };
  /** Also reply to `clientContent` with turnComplete and to `realtimeInput.text` (speak-first). Default true. */
  replyToText?: boolean;
  /**
   * Like the real service, assume the client plays the reply in real time: send generationComplete when the
   * audio is out, but turnComplete only when the reply's duration has passed since it started, and treat
   * caller speech until then as barge-in. Default true; false sends turnComplete right after the audio.
   */
  realtimePlayback?: boolean;
}

export interface GeminiLiveFakeOptions {
  /** The key the fake accepts; undefined accepts any non-empty key. */
  apiKey?: string;
  /** Delay between the setup frame and setupComplete. */
  setupDelayMs?: number;
  /** Turn every connection away this way. */
  refuse?: Refusal;
  /** Refuse only while fewer than N upgrades were turned away (not for `close-N`, which happens after the upgrade). Default: all. */
  refuseCount?: number;
  /** Close reason for `refuse: 'close-N'` (defaults mimic Google's texts). */
  refuseReason?: string;
  /** Accept the setup frame but never answer it (connect-timeout tests). */
  neverCompleteSetup?: boolean;
  /** Accepted model names (e.g. 'models/gemini-3.1-flash-live-preview'); undefined accepts any. */
  models?: string[];
  /** Answer by itself (load and end-to-end tests). */
  autoReply?: AutoReplyOptions;
  /** Keep received caller audio and sent model audio payloads (default true). Off for long load tests: only counters remain. */
  recordAudio?: boolean;
  /** Send server messages as text frames instead of binary ones (the real service sends binary). */
  textFrames?: boolean;
  /** Negotiate permessage-deflate if the client offers it (the SDK's ws client does). Default false. */
  perMessageDeflate?: boolean;
  /** Session resumption (used when the setup carries `sessionResumption`). */
  resumption?: ResumptionOptions;
  /** Send `goAway` this long after setupComplete on every connection (the service's connection limit, sped up). */
  goAwayAfterMs?: number;
  /** `timeLeft` of those goAways; the connection is closed with 1011 when it has passed. Default 2000. */
  goAwayTimeLeftMs?: number;
  /** autoReply starts no reply while a tool call is unanswered (as the service will not continue the turn). */
  holdTurnsForTools?: boolean;
}

export interface ResumptionOptions {
  /** How long a handle stays valid after it was issued. Default 2 h (the service keeps them for hours). */
  handleTtlMs?: number;
  /** Resumable updates while nothing is being generated. Default 500 ms. */
  updateEveryMs?: number;
  /** Refuse (1013) a handle whose conversation is still open on another connection. Default true (reported). */
  refuseWhileOpen?: boolean;
}

/** What a handle resumes: the conversation as the model had it when the handle was issued. */
interface Snapshot {
  conversation: number;
  turns: number;
  /** The conversation's caller audio, of which the first `audioCount` chunks were consumed (shared, append-only). */
  audio: Buffer[];
  audioCount: number;
  audioBytes: number;
  speechMs: number;
  silenceRunMs: number;
  issuedAt: number;
  session: FakeLiveSession;
}

/** Handles the fake has issued, across connections (a conversation outlives each of them). */
class HandleStore {
  readonly #snapshots = new Map<string, Snapshot>();
  #issued = 0;
  #conversations = 0;

  newConversation(): number {
    return ++this.#conversations;
  }

  issue(s: Snapshot): string {
    const handle = `fake-handle-${s.conversation}-${++this.#issued}`;
    this.#snapshots.set(handle, s);
    return handle;
  }

  /** The snapshot of a handle issued less than `ttlMs` ago. */
  find(handle: string, ttlMs: number): Snapshot | undefined {
    const s = this.#snapshots.get(handle);
    return s !== undefined && performance.now() - s.issuedAt <= ttlMs ? s : undefined;
  }

  /** Forget every handle (what `expireHandles()` on the fake does). */
  clear(): void {
    this.#snapshots.clear();
  }
}

export interface SendAudioOptions {
  /** Audio per message. Default 40 ms. */
  chunkMs?: number;
  /** Wall-clock pause between messages. Default 5 ms; 0 = setImmediate. */
  paceMs?: number;
  /** Real time instead of `paceMs`: message k leaves `k × chunkMs` after the first (late timers do not add up). */
  realtime?: boolean;
  /** Output transcription sent along, one word per audio message. */
  transcript?: string;
}

const PATH_RE =
  /^\/+ws\/google\.ai\.generativelanguage\.(v1alpha|v1beta|v1)\.GenerativeService\.(BidiGenerateContent|BidiGenerateContentConstrained)$/;
const AUDIO_PREFIX = Buffer.from('{"realtimeInput":{"audio":{"data":"');
const MIME_INFIX = Buffer.from('","mimeType":"');
const QUOTE = 0x22;
const WINDOW_MS = 20;

const HANDLE_REFUSED_REASON = 'Session resumption handle is invalid or has expired.';
const HANDLE_IN_USE_REASON = 'The session is still connected on another stream.';
const DEADLINE_REASON = 'Deadline expired before operation could complete.';
const BAD_KEY_REASON = 'API key not valid. Please pass a valid API key.';
const NO_KEY_REASON =
  "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
const DEFAULT_CLOSE_REASONS: Record<number, string> = {
  1007: 'Request contains an invalid argument.',
  1008: BAD_KEY_REASON,
  1011: 'Internal error encountered.',
  1013: 'The service is currently unavailable.',
};

function rateOf(mimeType: string): number {
  const m = /rate=(\d+)/.exec(mimeType);
  return m ? Number(m[1]) : 16000;
}

function truncateReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

/**
 * Whether the RMS of the 16-bit LE samples in bytes [start, end) reaches `threshold` (rmsInt16LE(...) >= threshold,
 * exactly): read through an Int16Array when aligned, and stopped as soon as the running sum gets there.
 */
function reachesRms(buf: Buffer, start: number, end: number, threshold: number): boolean {
  const n = (end - start) >> 1;
  if (n === 0) return threshold <= 0;
  const at = buf.byteOffset + start;
  const samples = at % 2 === 0 ? new Int16Array(buf.buffer, at, n) : undefined;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = samples ? samples[i]! : buf.readInt16LE(start + 2 * i);
    sum += v * v;
    // The sum only grows: once the RMS over all n samples reaches the threshold it stays there.
    if ((i & 31) === 31 && Math.sqrt(sum / n) >= threshold) return true;
  }
  return Math.sqrt(sum / n) >= threshold;
}

let scratch = Buffer.alloc(0);
/** Base64 caller audio decoded into one buffer reused by every session (valid until the next call). */
function decodeScratch(base64: string): Buffer {
  const max = (base64.length * 3) >> 2;
  if (scratch.length < max) scratch = Buffer.alloc(Math.max(max, 4096));
  return scratch.subarray(0, scratch.write(base64, 'base64'));
}

const audioRecords = new Map<string, Record<string, any>>();
/**
 * What `sent` remembers of an audio message when audio is not recorded: one frozen record per mime type and size
 * shared by every such message (hundreds a second in a benchmark, all kept: one object each grew the old heap).
 */
function audioRecord(mimeType: string, bytes: number): Record<string, any> {
  const key = `${mimeType} ${bytes}`;
  let record = audioRecords.get(key);
  if (!record) {
    const inlineData = Object.freeze({ mimeType, data: `<${bytes} bytes>` });
    record = Object.freeze({
      serverContent: Object.freeze({
        modelTurn: Object.freeze({ parts: Object.freeze([Object.freeze({ inlineData })]) }),
      }),
    });
    audioRecords.set(key, record);
  }
  return record;
}

/**
 * The wire form of reply audio messages (`{"serverContent":{"modelTurn":...}}` without transcription), per
 * reply audio and chunking: a benchmark's sessions all stream the same reply. The audio is compared with the
 * copy the messages were made from, so changed audio gets new messages.
 */
class ReplyWireCache {
  #byAudio = new WeakMap<ArrayBufferLike, Map<string, { copy: Buffer; messages: (string | Buffer)[] }>>();

  message(pcm: Buffer, rate: number, chunkBytes: number, index: number, text: boolean): string | Buffer {
    let forBuffer = this.#byAudio.get(pcm.buffer);
    if (!forBuffer) {
      forBuffer = new Map();
      this.#byAudio.set(pcm.buffer, forBuffer);
    }
    const key = `${pcm.byteOffset}:${pcm.length}:${rate}:${chunkBytes}:${text}`;
    let entry = forBuffer.get(key);
    if (entry && index === 0 && !entry.copy.equals(pcm)) entry = undefined;
    if (!entry) {
      entry = { copy: Buffer.from(pcm), messages: [] };
      forBuffer.set(key, entry);
    }
    let wire = entry.messages[index];
    if (wire === undefined) {
      const chunk = pcm.subarray(index * chunkBytes, Math.min((index + 1) * chunkBytes, pcm.length));
      const mimeType = `audio/pcm;rate=${rate}`;
      const json = JSON.stringify({
        serverContent: { modelTurn: { parts: [{ inlineData: { mimeType, data: chunk.toString('base64') } }] } },
      });
      wire = text ? json : Buffer.from(json);
      entry.messages[index] = wire;
    }
    return wire;
  }
}
const replyWire = new ReplyWireCache();

function toBuffer(pcm: Int16Array | Buffer): Buffer {
  if (Buffer.isBuffer(pcm)) return pcm;
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/** One client connection (one Live session). */
export class FakeLiveSession extends WsFakeSession {
  /** Request path as received (with the SDK's double slash). */
  readonly path: string;
  readonly apiVersion: string;
  /** The `key` query parameter, or null. */
  readonly key: string | null;
  /** The `setup` object of the first client frame, once received. */
  setup: Record<string, any> | undefined;
  /** True once setupComplete has been sent. */
  setupCompleted = false;

  /** Caller audio received, one Buffer per realtimeInput message (empty when recordAudio is off). */
  readonly audioChunks: Buffer[] = [];
  /** Total caller audio bytes received (counted even when recordAudio is off). */
  audioInBytes = 0;
  /** Caller audio arrival: largest gap between two audio messages (ms), and how many exceeded `lateAfterMs`. */
  maxAudioGapMs = 0;
  /** A gap above this counts as late (default 60: three 20 ms frames; raise it when frames are bigger). */
  lateAfterMs = 60;
  lateAudio = 0;
  /** Called for each late caller audio message with when the previous one arrived (performance.now()). */
  onLateAudio: ((previousAt: number) => void) | undefined = undefined;
  audioInMs = 0;
  /** Distinct mimeTypes of received audio. */
  readonly audioMimeTypes: string[] = [];
  /** Audio messages received in the older `mediaChunks` form. */
  mediaChunksMessages = 0;
  /** Every non-audio client message, parsed, in order (setup first). */
  readonly received: Record<string, any>[] = [];
  readonly clientContents: Record<string, any>[] = [];
  readonly texts: string[] = [];
  readonly toolResponses: Record<string, any>[] = [];
  /** Every server message sent, parsed form (audio payloads replaced by `<N bytes>` when recordAudio is off). */
  readonly sent: Record<string, any>[] = [];
  /** Model audio bytes sent (24 kHz unless told otherwise). */
  audioOutBytes = 0;
  /** `interrupted: true` messages sent. */
  interruptions = 0;
  /** Replies started by autoReply (continued from the handle's conversation when resumed). */
  autoTurns = 0;
  /** The conversation this connection belongs to (kept across resumptions). */
  conversation = 0;
  /** The handle this connection resumed, if any. */
  resumedFrom: string | undefined;
  /** Client messages after setup consumed on this connection (what `lastConsumedClientMessageIndex` counts, from 0). */
  consumedMessages = 0;
  /** The conversation's caller audio as the model has it: what the resumed handle held, then this connection's. */
  conversationAudio: Buffer[] = [];
  conversationAudioBytes = 0;
  /** performance.now() of the first and last caller audio on this connection (0: none). */
  firstAudioAt = 0;
  lastAudioAt = 0;
  /** Handles sent on this connection, newest last. */
  readonly handles: string[] = [];
  /** A goAway was sent (the 1011 close follows after its timeLeft). */
  goAwaySent = false;
  /** performance.now() of the goAway and of setupComplete (0: not yet). */
  goAwayAt = 0;
  setupCompletedAt = 0;

  private readonly opts: GeminiLiveFakeOptions;
  private readonly recordAudio: boolean;
  private cachedAudioIn: Buffer | undefined;
  private audioWaiters: { ms: number; resolve: () => void }[] = [];
  private replyGen = 0;
  private replying = false;
  private readonly onSetupComplete: () => void;
  private readonly store: HandleStore;
  /** A reply is being generated (audio not all sent yet): handles are not resumable. */
  private generating = false;
  private readonly pendingTools = new Set<string>();
  private toolCallSeq = 0;
  /** A reply autoReply would have started while a tool call was unanswered (holdTurnsForTools). */
  private heldTurn: (() => void) | undefined;
  private lastUpdateResumable: boolean | undefined;
  // autoReply VAD state (in audio time)
  private vadCarry: Buffer | undefined;
  private speechMs = 0;
  private silenceRunMs = 0;
  private bargeSpeechMs = 0;

  constructor(
    id: number,
    ws: WebSocket,
    path: string,
    query: URLSearchParams,
    opts: GeminiLiveFakeOptions,
    onSetupComplete: () => void,
    store: HandleStore,
  ) {
    super(id, ws);
    this.opts = opts;
    this.store = store;
    this.onSetupComplete = onSetupComplete;
    this.recordAudio = opts.recordAudio !== false;
    this.path = path;
    this.apiVersion = PATH_RE.exec(path)?.[1] ?? '';
    this.key = query.get('key') ?? query.get('access_token');
  }

  /** All caller audio received so far, as one Buffer (16-bit LE PCM). */
  get audioIn(): Buffer {
    if (this.cachedAudioIn === undefined || this.cachedAudioIn.length !== this.audioInBytes) {
      this.cachedAudioIn = Buffer.concat(this.audioChunks);
    }
    return this.cachedAudioIn;
  }

  receivedAudioMs(): number {
    return this.audioInMs;
  }

  /** Resolves once at least `ms` of caller audio has arrived; rejects after `timeoutMs` or when the session closes. */
  waitForAudioMs(ms: number, timeoutMs = 2000): Promise<void> {
    if (this.audioInMs >= ms) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.audioWaiters = this.audioWaiters.filter((w) => w !== waiter);
        reject(new Error(`fake gemini session ${this.id}: only ${this.audioInMs} ms of audio ${why} (wanted ${ms})`));
      };
      const t = this.timer(
        timeoutMs,
        () => fail(`after ${timeoutMs} ms`),
        () => fail('when the session closed'),
      );
      const waiter = {
        ms,
        resolve: () => {
          this.clearTimer(t);
          resolve();
        },
      };
      this.audioWaiters.push(waiter);
    });
  }

  /** Resolves with the next non-audio client message of the given top-level kind (e.g. 'clientContent'). */
  nextMessage(kind: string, timeoutMs = 2000): Promise<Record<string, any>> {
    return new Promise((resolve, reject) => {
      const on = (msg: Record<string, any>) => {
        if (kind in msg) {
          this.clearTimer(t);
          this.off('clientMessage', on);
          resolve(msg);
        }
      };
      const fail = (why: string) => {
        this.off('clientMessage', on);
        reject(new Error(`fake gemini session ${this.id}: no ${kind} message ${why}`));
      };
      const t = this.timer(
        timeoutMs,
        () => fail(`within ${timeoutMs} ms`),
        () => fail('before the session closed'),
      );
      this.on('clientMessage', on);
    });
  }

  // ---- scripted server messages -------------------------------------------------------------

  /** Send any server message as is. */
  send(msg: Record<string, any>): void {
    if (this.isClosed) return;
    this.sent.push(msg);
    const json = JSON.stringify(msg);
    if (this.opts.textFrames) this.ws.send(json);
    else this.ws.send(Buffer.from(json), { binary: true });
  }

  /**
   * Model audio (24 kHz 16-bit mono), chunked and paced faster than real time. Resolves when all of it
   * was sent, or early when the reply is interrupted (`interrupt()`, autoReply barge-in) or the session closes.
   */
  async sendAudio(pcm24k: Int16Array | Buffer, options: SendAudioOptions = {}): Promise<void> {
    const gen = ++this.replyGen;
    this.replying = true;
    this.startGenerating();
    try {
      await this.streamAudio(gen, toBuffer(pcm24k), 24000, options);
    } finally {
      if (this.replyGen === gen) this.replying = false;
    }
  }

  sendInputTranscription(text: string, finished?: boolean): void {
    this.send({ serverContent: { inputTranscription: finished === undefined ? { text } : { text, finished } } });
  }

  sendOutputTranscription(text: string, finished?: boolean): void {
    this.send({ serverContent: { outputTranscription: finished === undefined ? { text } : { text, finished } } });
  }

  /** `interrupted: true`; also stops a reply being sent by sendAudio/autoReply. */
  interrupt(): void {
    this.replyGen++;
    this.replying = false;
    this.interruptions++;
    this.send({ serverContent: { interrupted: true } });
    this.endGenerating();
  }

  generationComplete(): void {
    this.send({ serverContent: { generationComplete: true } });
    this.endGenerating();
  }

  turnComplete(): void {
    this.send({ serverContent: { turnComplete: true } });
    this.endGenerating();
  }

  /**
   * `goAway` with `timeLeft` as a protobuf Duration string, e.g. "10s"; like the service, the connection is closed
   * with 1011 once `ms` has passed (unless `close: false`).
   */
  goAway(ms: number, close = true): void {
    this.goAwaySent = true;
    this.goAwayAt = performance.now();
    this.send({ goAway: { timeLeft: `${ms / 1000}s` } });
    if (close) this.timer(ms, () => this.close(1011, DEADLINE_REASON));
  }

  /** A hand-made update (the fake sends its own when the setup asks for resumption). */
  sessionResumptionUpdate(newHandle: string, resumable = true): void {
    this.send({ sessionResumptionUpdate: { newHandle, resumable } });
  }

  /** Issue a resumable handle now if nothing is being generated (the fake also does so by itself). */
  issueHandle(): string | undefined {
    this.sendResumptionUpdate();
    return this.lastUpdateResumable ? this.handles.at(-1) : undefined;
  }

  usageMetadata(
    meta: Record<string, unknown> = { promptTokenCount: 0, responseTokenCount: 0, totalTokenCount: 0 },
  ): void {
    this.send({ usageMetadata: meta });
  }

  /**
   * A toolCall with these function calls (two or more: parallel calls): handles are not resumable, and with
   * `holdTurnsForTools` no reply starts, until every call has a response or is cancelled.
   */
  toolCall(functionCalls: { id: string; name: string; args?: Record<string, unknown> }[]): void {
    for (const c of functionCalls) this.pendingTools.add(c.id);
    this.send({ toolCall: { functionCalls } });
    this.sendResumptionUpdate();
  }

  /** The model calls one tool; returns the call's id (`call-N` unless given). */
  callTool(name: string, args: Record<string, unknown> = {}, opts: { id?: string } = {}): string {
    const id = opts.id ?? `call-${++this.toolCallSeq}`;
    this.toolCall([{ id, name, args }]);
    return id;
  }

  /** `toolCallCancellation` (the service sends it when the caller interrupts a turn with calls pending). */
  cancelTool(ids: string[]): void {
    for (const id of ids) this.pendingTools.delete(id);
    this.send({ toolCallCancellation: { ids } });
    this.sendResumptionUpdate();
    this.releaseHeldTurn();
  }

  /** Ids of the calls still waiting for a response. */
  get pendingToolIds(): string[] {
    return [...this.pendingTools];
  }

  /** Resolves with the next functionResponse for `id` (recorded in `toolResponses` too). */
  async nextToolResponse(id: string, timeoutMs = 2000): Promise<Record<string, any>> {
    const seen = (): Record<string, any> | undefined =>
      this.toolResponses.flatMap((r) => (r.functionResponses ?? []) as Record<string, any>[]).find((r) => r.id === id);
    const end = performance.now() + timeoutMs;
    for (;;) {
      const r = seen();
      if (r !== undefined) return r;
      if (performance.now() > end) throw new Error(`fake gemini session ${this.id}: no response to tool call ${id}`);
      await this.nextMessage('toolResponse', Math.max(1, end - performance.now())).catch(() => undefined);
    }
  }

  /** Close from the server side. The reason is cut to the 123 bytes a close frame can carry (as Google's are). */
  override close(code = 1000, reason = ''): void {
    super.close(code, truncateReason(reason));
  }

  /** Stop reading from the client (its socket backs up: backpressure tests). */
  pauseReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    this.ws.resume();
  }

  // ---- internals ------------------------------------------------------------------------------

  private async streamAudio(gen: number, pcm: Buffer, rate: number, options: SendAudioOptions): Promise<void> {
    const chunkMs = options.chunkMs ?? 40;
    const paceMs = options.paceMs ?? 5;
    const chunkBytes = Math.max(2, Math.round((rate * chunkMs) / 1000) * 2);
    const mimeType = `audio/pcm;rate=${rate}`;
    const words = options.transcript ? options.transcript.split(/(?<=\s)/) : [];
    let w = 0;
    const t0 = performance.now();
    for (let off = 0, k = 1; off < pcm.length; off += chunkBytes, k++) {
      if (this.replyGen !== gen || this.isClosed) return;
      const chunk = pcm.subarray(off, Math.min(off + chunkBytes, pcm.length));
      this.audioOutBytes += chunk.length;
      if (!this.recordAudio && w >= words.length) {
        // The same reply audio every turn (autoReply): its messages are serialized once, not per session and turn.
        const wire = replyWire.message(pcm, rate, chunkBytes, off / chunkBytes, this.opts.textFrames === true);
        this.sent.push(audioRecord(mimeType, chunk.length));
        if (typeof wire === 'string') this.ws.send(wire);
        else this.ws.send(wire, { binary: true });
        if (off + chunkBytes < pcm.length)
          await this.sleep(options.realtime ? Math.max(0, t0 + k * chunkMs - performance.now()) : paceMs);
        continue;
      }
      const data = chunk.toString('base64');
      const serverContent: Record<string, any> = { modelTurn: { parts: [{ inlineData: { mimeType, data } }] } };
      if (w < words.length) serverContent.outputTranscription = { text: words[w++] };
      if (this.recordAudio) {
        this.send({ serverContent });
      } else {
        // Keep the record small: replace the payload in what is remembered, send the real thing.
        const json = JSON.stringify({ serverContent });
        serverContent.modelTurn = { parts: [{ inlineData: { mimeType, data: `<${chunk.length} bytes>` } }] };
        this.sent.push({ serverContent });
        if (this.opts.textFrames) this.ws.send(json);
        else this.ws.send(Buffer.from(json), { binary: true });
      }
      if (off + chunkBytes < pcm.length)
        await this.sleep(options.realtime ? Math.max(0, t0 + k * chunkMs - performance.now()) : paceMs);
    }
    if (this.replyGen === gen && w < words.length) this.sendOutputTranscription(words.slice(w).join(''));
  }

  protected override onMessage(buf: Buffer): void {
    // Fast path: {"realtimeInput":{"audio":{"data":"<b64>","mimeType":"<mime>"}}} as the SDK and the adapter send it.
    if (
      buf.length > AUDIO_PREFIX.length &&
      buf[2] === 0x72 /* r */ &&
      buf.compare(AUDIO_PREFIX, 0, AUDIO_PREFIX.length, 0, AUDIO_PREFIX.length) === 0
    ) {
      const start = AUDIO_PREFIX.length;
      const end = buf.indexOf(QUOTE, start);
      if (end > 0 && buf.compare(MIME_INFIX, 0, MIME_INFIX.length, end, end + MIME_INFIX.length) === 0) {
        const mimeStart = end + MIME_INFIX.length;
        const mimeEnd = buf.indexOf(QUOTE, mimeStart);
        if (mimeEnd > 0) {
          const pcm = this.recordAudio
            ? Buffer.from(buf.toString('latin1', start, end), 'base64')
            : decodeScratch(buf.toString('latin1', start, end)); // not kept: decoded into a reused buffer
          if (this.setup !== undefined) this.consumedMessages++;
          this.onAudio(pcm, buf.toString('latin1', mimeStart, mimeEnd));
          return;
        }
      }
    }
    let msg: Record<string, any>;
    try {
      msg = JSON.parse(buf.toString('utf8')) as Record<string, any>;
    } catch {
      this.close(1007, 'Invalid JSON payload received.');
      return;
    }
    this.onJson(msg);
  }

  private onJson(msg: Record<string, any>): void {
    if (this.setup === undefined) {
      if (!msg.setup || typeof msg.setup !== 'object') {
        this.received.push(msg);
        this.close(1007, 'Request contains an invalid argument.');
        return;
      }
      this.received.push(msg);
      this.setup = msg.setup as Record<string, any>;
      this.emit('setup', this.setup);
      this.emit('clientMessage', msg);
      this.afterSetup();
      return;
    }
    this.consumedMessages++;
    const ri = msg.realtimeInput as Record<string, any> | undefined;
    if (ri) {
      if (ri.audio && typeof ri.audio.data === 'string') {
        this.onAudio(Buffer.from(ri.audio.data, 'base64'), String(ri.audio.mimeType ?? ''));
        return;
      }
      if (Array.isArray(ri.mediaChunks)) {
        this.mediaChunksMessages++;
        for (const c of ri.mediaChunks) {
          if (c && typeof c.data === 'string') this.onAudio(Buffer.from(c.data, 'base64'), String(c.mimeType ?? ''));
        }
        return;
      }
      this.received.push(msg);
      if (typeof ri.text === 'string') {
        this.texts.push(ri.text);
        if (this.opts.autoReply && this.opts.autoReply.replyToText !== false) this.startAutoReply(false);
      }
      this.emit('clientMessage', msg);
      return;
    }
    this.received.push(msg);
    if (msg.clientContent) {
      this.clientContents.push(msg.clientContent as Record<string, any>);
      // Gemini 3.1 Live accepts clientContent only to seed history at the start (historyConfig); mid-session
      // it closes with 1007 (livekit/agents#5251, google/adk-python#5018). Text goes via realtimeInput.text.
      if (/3\.1/.test(String(this.setup?.model ?? ''))) {
        this.close(1007, 'Request contains an invalid argument.');
        return;
      }
      if (msg.clientContent.turnComplete && this.opts.autoReply && this.opts.autoReply.replyToText !== false)
        this.startAutoReply(false);
    } else if (msg.toolResponse) {
      this.toolResponses.push(msg.toolResponse as Record<string, any>);
      for (const r of (msg.toolResponse.functionResponses ?? []) as { id?: string }[]) {
        if (r.id !== undefined) this.pendingTools.delete(r.id);
      }
      this.sendResumptionUpdate();
      this.releaseHeldTurn();
    }
    this.emit('clientMessage', msg);
  }

  private afterSetup(): void {
    const o = this.opts;
    if (o.refuse?.startsWith('close-')) {
      const code = Number(o.refuse.slice(6));
      this.close(code, o.refuseReason ?? DEFAULT_CLOSE_REASONS[code] ?? 'refused by fake');
      return;
    }
    if (!this.key) {
      this.close(1008, NO_KEY_REASON);
      return;
    }
    if (o.apiKey !== undefined && this.key !== o.apiKey) {
      this.close(1008, BAD_KEY_REASON);
      return;
    }
    const model = String(this.setup?.model ?? '');
    if (o.models && !o.models.includes(model)) {
      this.close(
        1008,
        `${model} is not found for API version ${this.apiVersion}, or is not supported for bidiGenerateContent. Call ListModels to see the list of available models and their supported methods.`,
      );
      return;
    }
    const refusal = this.setupRefusal(model);
    if (refusal !== undefined) {
      this.close(1007, refusal);
      return;
    }
    if (!this.resume()) return;
    if (o.neverCompleteSetup) return;
    const complete = () => {
      if (this.isClosed) return;
      this.setupCompleted = true;
      this.setupCompletedAt = performance.now();
      this.send({ setupComplete: {} });
      this.onSetupComplete();
      this.afterSetupComplete();
    };
    if (o.setupDelayMs && o.setupDelayMs > 0) {
      this.timer(o.setupDelayMs, complete);
    } else {
      complete();
    }
  }

  private onAudio(pcm: Buffer, mimeType: string): void {
    if (this.setup === undefined) {
      this.close(1007, 'Request contains an invalid argument.'); // audio before the setup frame
      return;
    }
    if (this.audioMimeTypes.length === 0 || !this.audioMimeTypes.includes(mimeType)) this.audioMimeTypes.push(mimeType);
    const rate = mimeType === 'audio/pcm;rate=16000' ? 16000 : rateOf(mimeType);
    this.audioInBytes += pcm.length;
    this.audioInMs += (pcm.length / 2 / rate) * 1000;
    // FreeSWITCH sends a frame every 20 ms; a gap of three frames means something on the way stalled.
    const now = performance.now();
    if (this.lastAudioAt > 0) {
      const gap = now - this.lastAudioAt;
      if (gap > this.maxAudioGapMs) this.maxAudioGapMs = gap;
      if (gap > this.lateAfterMs) {
        this.lateAudio++;
        this.onLateAudio?.(this.lastAudioAt);
      }
    } else {
      this.firstAudioAt = now;
    }
    this.lastAudioAt = now;
    this.conversationAudioBytes += pcm.length;
    if (this.recordAudio) {
      this.audioChunks.push(pcm);
      this.conversationAudio.push(pcm);
    }
    if (this.audioWaiters.length > 0) {
      const due = this.audioWaiters.filter((w) => this.audioInMs >= w.ms);
      if (due.length > 0) {
        this.audioWaiters = this.audioWaiters.filter((w) => this.audioInMs < w.ms);
        for (const w of due) w.resolve();
      }
    }
    if (this.opts.autoReply && this.setupCompleted) this.vad(pcm, rate);
  }

  /** Energy per 20 ms window of caller audio; turn-taking in audio time. */
  private vad(pcm: Buffer, rate: number): void {
    const ar = this.opts.autoReply!;
    const threshold = ar.speechThreshold ?? 500;
    const minSpeechMs = ar.minSpeechMs ?? 200;
    const silenceMs = ar.silenceMs ?? 500;
    const bargeInMs = ar.bargeInMs ?? 60;
    const windowBytes = Math.round((rate * WINDOW_MS) / 1000) * 2;
    let buf = pcm;
    if (this.vadCarry !== undefined) {
      buf = Buffer.concat([this.vadCarry, pcm]);
      this.vadCarry = undefined;
    }
    let off = 0;
    for (; off + windowBytes <= buf.length; off += windowBytes) {
      const speech = reachesRms(buf, off, off + windowBytes, threshold);
      if (speech) {
        this.speechMs += WINDOW_MS;
        this.silenceRunMs = 0;
        if (this.replying) {
          this.bargeSpeechMs += WINDOW_MS;
          if (this.bargeSpeechMs >= bargeInMs) {
            // The caller talks over the reply: like the real service, interrupted then turnComplete.
            this.bargeSpeechMs = 0;
            this.interrupt();
            this.turnComplete();
          }
        }
      } else {
        this.bargeSpeechMs = 0;
        this.silenceRunMs += WINDOW_MS;
        if (this.silenceRunMs >= silenceMs) {
          if (this.speechMs >= minSpeechMs && !this.replying) this.startAutoReply(true);
          this.speechMs = 0;
        }
      }
    }
    if (off < buf.length) this.vadCarry = Buffer.from(buf.subarray(off));
  }

  private releaseHeldTurn(): void {
    if (this.pendingTools.size > 0 || this.heldTurn === undefined) return;
    const go = this.heldTurn;
    this.heldTurn = undefined;
    go();
  }

  private startAutoReply(afterSpeech: boolean): void {
    if (this.opts.holdTurnsForTools && this.pendingTools.size > 0) {
      // Like the service: the model does not go on while a call it made is unanswered.
      this.heldTurn = () => this.startAutoReply(afterSpeech);
      return;
    }
    const ar = this.opts.autoReply!;
    const turn = ++this.autoTurns;
    const gen = ++this.replyGen;
    this.replying = true;
    this.startGenerating();
    this.speechMs = 0;
    this.bargeSpeechMs = 0;
    const callerText =
      ar.transcripts === false ? undefined : (ar.transcripts?.caller ?? ((n: number) => `caller turn ${n}`))(turn);
    const agentText =
      ar.transcripts === false ? undefined : (ar.transcripts?.agent ?? ((n: number) => `agent reply ${n}`))(turn);
    const audio = typeof ar.replyAudio === 'function' ? ar.replyAudio(turn) : ar.replyAudio;
    if (afterSpeech && callerText !== undefined) this.sendInputTranscription(callerText);
    const opts: SendAudioOptions = {
      chunkMs: ar.chunkMs ?? 40,
      paceMs: ar.paceMs ?? 5,
      realtime: ar.realtime ?? false,
    };
    if (agentText !== undefined) opts.transcript = agentText;
    const pcm = toBuffer(audio);
    const playbackEnds = performance.now() + pcm.length / 48; // 24 kHz × 2 bytes = 48 bytes per ms
    const run = async () => {
      await this.streamAudio(gen, pcm, 24000, opts);
      if (this.replyGen !== gen || this.isClosed) return;
      this.generationComplete();
      if (ar.realtimePlayback !== false) {
        // Like the real service: turnComplete only once the client has (presumably) played the reply out;
        // caller speech until then still interrupts it.
        const left = playbackEnds - performance.now();
        if (left > 0) await this.sleep(left);
        if (this.replyGen !== gen || this.isClosed) return;
      }
      this.replying = false;
      this.turnComplete();
    };
    run().catch(() => {
      /* socket gone */
    });
  }

  // ---- session resumption and the 3.8 setup rules ----------------------------------------------

  /** Why the service would refuse this setup for `model` (1007), if it would. */
  private setupRefusal(model: string): string | undefined {
    if (!/gemini-3\.8/.test(model)) return undefined;
    const s = this.setup!;
    if (s.generationConfig?.thinkingConfig?.thinkingLevel !== undefined) {
      return `thinking_level is not supported by ${model.replace(/^models\//, '')}.`;
    }
    if (s.proactivity?.proactiveAudio === false) {
      return `proactive_audio cannot be disabled for ${model.replace(/^models\//, '')}.`;
    }
    return undefined;
  }

  /** Continue the conversation of the setup's handle, or start a new one; false when the handle was refused. */
  private resume(): boolean {
    const handle = this.setup?.sessionResumption?.handle as string | undefined;
    if (handle === undefined || handle === '') {
      this.conversation = this.store.newConversation();
      return true;
    }
    const r = this.opts.resumption ?? {};
    const snap = this.store.find(handle, r.handleTtlMs ?? 2 * 3600_000);
    if (snap === undefined) {
      this.close(1007, HANDLE_REFUSED_REASON);
      return false;
    }
    if ((r.refuseWhileOpen ?? true) && snap.session.isOpen) {
      this.close(1013, HANDLE_IN_USE_REASON);
      return false;
    }
    this.resumedFrom = handle;
    this.conversation = snap.conversation;
    this.autoTurns = snap.turns;
    this.conversationAudio = snap.audio.slice(0, snap.audioCount);
    this.conversationAudioBytes = snap.audioBytes;
    this.speechMs = snap.speechMs;
    this.silenceRunMs = snap.silenceRunMs;
    return true;
  }

  private afterSetupComplete(): void {
    if (this.setup?.sessionResumption !== undefined) {
      this.sendResumptionUpdate();
      const every = this.opts.resumption?.updateEveryMs ?? 500;
      const tick = () => {
        if (!this.generating) this.sendResumptionUpdate();
        this.timer(every, tick);
      };
      this.timer(every, tick);
    }
    const after = this.opts.goAwayAfterMs;
    if (after !== undefined) this.timer(after, () => this.goAway(this.opts.goAwayTimeLeftMs ?? 2000));
  }

  private startGenerating(): void {
    this.generating = true;
    if (this.lastUpdateResumable !== false) this.sendResumptionUpdate();
  }

  private endGenerating(): void {
    if (!this.generating) return;
    this.generating = false;
    this.sendResumptionUpdate();
  }

  /** Like the service: a handle only when resuming would lose nothing, else `resumable: false` (once). */
  private sendResumptionUpdate(): void {
    const setup = this.setup;
    if (this.isClosed || !this.setupCompleted || setup?.sessionResumption === undefined) return;
    const resumable = !this.generating && this.pendingTools.size === 0;
    if (!resumable) {
      if (this.lastUpdateResumable !== false) this.send({ sessionResumptionUpdate: { resumable: false } });
      this.lastUpdateResumable = false;
      return;
    }
    this.lastUpdateResumable = true;
    const newHandle = this.store.issue({
      conversation: this.conversation,
      turns: this.autoTurns,
      audio: this.conversationAudio,
      audioCount: this.conversationAudio.length,
      audioBytes: this.conversationAudioBytes,
      speechMs: this.speechMs,
      silenceRunMs: this.silenceRunMs,
      issuedAt: performance.now(),
      session: this,
    });
    this.handles.push(newHandle);
    const update: Record<string, unknown> = { newHandle, resumable: true };
    if (setup.sessionResumption.transparent === true && this.consumedMessages > 0) {
      update.lastConsumedClientMessageIndex = String(this.consumedMessages - 1);
    }
    this.send({ sessionResumptionUpdate: update });
  }

  /** A new generation ends any reply being streamed (sendAudio, autoReply). */
  protected override stop(): void {
    super.stop();
    this.replyGen++;
  }

  protected override onClosed(): void {
    this.replying = false;
    this.generating = false;
  }
}

export class GeminiLiveFake extends WsFake<FakeLiveSession, GeminiLiveFakeOptions> {
  /** `http://127.0.0.1:PORT`, for `httpOptions.baseUrl`. */
  readonly baseUrl: string;
  private readonly handles = new HandleStore();

  private constructor(listening: Listening, options: GeminiLiveFakeOptions) {
    super(listening, options, 'fake gemini: no session', 2000);
    this.baseUrl = `http://127.0.0.1:${this.port}`;
  }

  static async start(options: GeminiLiveFakeOptions = {}): Promise<GeminiLiveFake> {
    const listening = await WsFake.listen(
      '{"error":{"code":404,"message":"Not found (fake Gemini Live serves WebSocket only)","status":"NOT_FOUND"}}',
      options.perMessageDeflate ?? false,
    );
    return new GeminiLiveFake(listening, options);
  }

  protected override checkPath(u: Upgrade): HttpRefusal | undefined {
    return PATH_RE.test(u.path)
      ? undefined
      : { status: 404, body: '{"error":{"code":404,"message":"Not found","status":"NOT_FOUND"}}' };
  }

  protected override httpRefusal(status: number): HttpRefusal {
    return { status, body: `{"error":{"code":${status},"message":"refused by fake","status":"PERMISSION_DENIED"}}` };
  }

  protected override statusText(status: number): string {
    return status === 404 ? 'Not Found' : status === 403 ? 'Forbidden' : 'Error';
  }

  // The key and the model are checked after the setup frame (the real service closes with 1008), not here.
  protected override createSession(id: number, ws: WebSocket, { path, query }: Upgrade): FakeLiveSession {
    const session: FakeLiveSession = new FakeLiveSession(
      id,
      ws,
      path,
      query,
      this.options,
      () => this.emit('setupComplete', session),
      this.handles,
    );
    return session;
  }

  /** Every handle issued so far stops being valid (as after the service's retention period). */
  expireHandles(): void {
    this.handles.clear();
  }

  /** The connections of one conversation, in order (the first, then each resumption). */
  conversationSessions(conversation: number): FakeLiveSession[] {
    return this.sessions.filter((s) => s.conversation === conversation);
  }
}

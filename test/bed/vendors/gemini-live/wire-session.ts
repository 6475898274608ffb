/**
 * The base of a fake Live session: reading client frames (the audio fast path, JSON otherwise), keeping what the
 * client sent, and sending server messages. What a message leads to is for the layers above (abstract hooks).
 */
import type { WebSocket } from 'ws';
import { WsFakeSession } from '../ws-fake.ts';
import type { GeminiLiveFakeOptions } from './options.ts';
import { AUDIO_PREFIX, MIME_INFIX, PATH_RE, QUOTE, decodeScratch, truncateReason } from './protocol.ts';

export abstract class LiveWireSession extends WsFakeSession {
  /** Request path as received (with the SDK's double slash). */
  readonly path: string;
  readonly apiVersion: string;
  /** The `key` query parameter, or null. */
  readonly key: string | null;
  /** The `setup` object of the first client frame, once received. */
  setup: Record<string, any> | undefined;
  /** True once setupComplete has been sent. */
  setupCompleted = false;
  /** performance.now() of setupComplete (0: not yet). */
  setupCompletedAt = 0;
  /** Audio messages received in the older `mediaChunks` form. */
  mediaChunksMessages = 0;
  /** Every non-audio client message, parsed, in order (setup first). */
  readonly received: Record<string, any>[] = [];
  readonly clientContents: Record<string, any>[] = [];
  readonly texts: string[] = [];
  /** Every server message sent, parsed form (audio payloads replaced by `<N bytes>` when recordAudio is off). */
  readonly sent: Record<string, any>[] = [];
  /** Client messages after setup consumed on this connection (what `lastConsumedClientMessageIndex` counts, from 0). */
  consumedMessages = 0;

  protected readonly opts: GeminiLiveFakeOptions;
  protected readonly recordAudio: boolean;

  constructor(id: number, ws: WebSocket, path: string, query: URLSearchParams, opts: GeminiLiveFakeOptions) {
    super(id, ws);
    this.opts = opts;
    this.recordAudio = opts.recordAudio !== false;
    this.path = path;
    this.apiVersion = PATH_RE.exec(path)?.[1] ?? '';
    this.key = query.get('key') ?? query.get('access_token');
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

  /** Send any server message as is. */
  send(msg: Record<string, any>): void {
    if (this.isClosed) return;
    this.sent.push(msg);
    const json = JSON.stringify(msg);
    if (this.opts.textFrames) this.ws.send(json);
    else this.ws.send(Buffer.from(json), { binary: true });
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

  // ---- what the layers above do with client messages -------------------------------------------

  /** Caller audio (16-bit LE PCM; `pcm` may be a reused buffer when recordAudio is off). */
  protected abstract onAudio(pcm: Buffer, mimeType: string): void;

  /** The setup frame has been received: check it and answer it. */
  protected abstract afterSetup(): void;

  /** A `realtimeInput.text` or a clientContent with turnComplete: autoReply may answer it. */
  protected abstract replyToClientText(): void;

  /** The client answered tool calls. */
  protected abstract onToolResponse(toolResponse: Record<string, any>): void;

  // ---- internals ------------------------------------------------------------------------------

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
        this.replyToClientText();
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
      if (msg.clientContent.turnComplete) this.replyToClientText();
    } else if (msg.toolResponse) {
      this.onToolResponse(msg.toolResponse as Record<string, any>);
    }
    this.emit('clientMessage', msg);
  }
}

/**
 * One Cartesia reply (a WebSocket context) as a TtsStream: its text goes out while the connection can send;
 * its audio, word timestamps, `done` and errors come back through the connection (CartesiaTts routes events by
 * context id); a timer fails the reply when its audio does not come or stalls. Audio is handed on as it comes,
 * 16-bit samples kept whole across chunks.
 */
import type { TTSWSContext } from '@cartesia/cartesia-js/resources/tts/ws.js';
import { StageError, type TtsListener, type TtsStream, type TtsWordTimes } from './stages.ts';
import { retryableStatus } from '../connect-retry.ts';

/** An event from Cartesia's WebSocket (the fields this adapter reads). */
export interface CartesiaEvent {
  type?: string;
  context_id?: string;
  audio?: Uint8Array;
  data?: string;
  word_timestamps?: { words?: string[]; start?: number[]; end?: number[] } | null;
  status_code?: number;
  title?: string;
  message?: string;
  error_code?: string;
}

/** What a reply needs from its connection. */
export interface CartesiaStreamOwner {
  /** Open and able to send. */
  canSend(): boolean;
  /** The reply is over: its events are no longer routed to it. */
  forget(id: string): void;
}

export class CartesiaStream implements TtsStream {
  readonly id: string;
  readonly #owner: CartesiaStreamOwner;
  readonly #ctx: TTSWSContext;
  readonly #listener: TtsListener;
  readonly #timeoutMs: number;
  #finished = false;
  #ended = false;
  #pushed = false;
  #gotAudio = false;
  #timer: NodeJS.Timeout | undefined;
  /** An odd byte left over from the previous chunk (16-bit samples must not be split). */
  #carry: number = -1;

  constructor(owner: CartesiaStreamOwner, ctx: TTSWSContext, listener: TtsListener, timeoutMs: number) {
    this.#owner = owner;
    this.#ctx = ctx;
    this.id = ctx.contextId;
    this.#listener = listener;
    this.#timeoutMs = timeoutMs;
  }

  push(text: string): void {
    if (this.#finished || this.#ended || !text) return;
    if (!this.#owner.canSend()) return this.fail(new StageError('tts', 'cartesia: connection not open', true));
    this.#ctx.push({ transcript: text }).catch(() => {});
    if (!this.#pushed) {
      this.#pushed = true;
      this.#arm(); // first audio due within timeoutMs
    }
  }

  end(): void {
    if (this.#finished || this.#ended) return;
    this.#ended = true;
    if (!this.#owner.canSend()) return this.fail(new StageError('tts', 'cartesia: connection not open', true));
    this.#ctx.no_more_inputs().catch(() => {});
    this.#arm();
  }

  cancel(): void {
    if (this.#finished) return;
    this.#finish();
    if (this.#owner.canSend()) this.#ctx.cancel().catch(() => {});
  }

  // ---- from the connection ----

  onEvent(ev: CartesiaEvent): void {
    if (this.#finished) return;
    switch (ev.type) {
      case 'chunk': {
        const a = ev.audio;
        if (a === undefined || a.length === 0) return;
        this.#gotAudio = true;
        if (this.#ended || !this.#pushed) this.#arm();
        else this.#disarm(); // text still coming from the model: its pace is the model's
        this.#emitAudio(a);
        return;
      }
      case 'timestamps': {
        const w = ev.word_timestamps;
        if (w && Array.isArray(w.words) && Array.isArray(w.start) && Array.isArray(w.end) && this.#listener.words) {
          this.#listener.words({ words: w.words, start: w.start, end: w.end } satisfies TtsWordTimes);
        }
        return;
      }
      case 'done':
        this.#finish();
        this.#listener.done();
        return;
      case 'error': {
        const status = ev.status_code ?? 0;
        const what = `cartesia error ${status} ${ev.title ?? ''}: ${ev.message ?? ''}`.trim();
        this.fail(new StageError('tts', what, retryableStatus(status || undefined)));
        return;
      }
      default:
        return;
    }
  }

  fail(err: StageError): void {
    if (this.#finished) return;
    this.#finish();
    this.#listener.error(err);
  }

  #emitAudio(a: Uint8Array): void {
    let buf = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    if (this.#carry >= 0) {
      const joined = Buffer.allocUnsafe(buf.length + 1);
      joined[0] = this.#carry;
      buf.copy(joined, 1);
      buf = joined;
      this.#carry = -1;
    }
    if (buf.length & 1) {
      this.#carry = buf[buf.length - 1]!;
      buf = buf.subarray(0, buf.length - 1);
    }
    if (buf.length > 0) this.#listener.audio(buf);
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const what = `cartesia: ${this.#gotAudio ? 'audio stalled' : 'no audio'} for ${this.#timeoutMs} ms`;
      this.fail(new StageError('tts', what, true));
      if (this.#owner.canSend()) this.#ctx.cancel().catch(() => {});
    }, this.#timeoutMs);
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #finish(): void {
    this.#finished = true;
    this.#disarm();
    this.#owner.forget(this.id);
  }
}

/**
 * One client connection: the audio and text frames it sent (and waits on them), the idle timeout, scripted server
 * messages, and the automatic mode (auto-transcriber.ts) fed with its audio and control messages.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { WsFakeSession } from '../ws-fake.ts';
import { AutoTranscriber } from './auto-transcriber.ts';
import { metadataMessage, resultMessage, speechStartedMessage, utteranceEndMessage } from './messages.ts';
import type { ControlMessage, DeepgramFakeOptions, ResultSpec } from './options.ts';
import { NET_0001, requestId } from './protocol.ts';

type AudioWaiter = { bytes: number; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

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

  readonly #opts: DeepgramFakeOptions;
  readonly #rate: number;
  readonly #auto: AutoTranscriber;
  #idleTimer: NodeJS.Timeout | undefined;
  #audioWaiters: AudioWaiter[] = [];

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
    this.#opts = opts;
    this.#rate = Number(query.get('sample_rate') ?? 16000) || 16000;
    this.#auto = new AutoTranscriber(opts, query, this.#rate, this, (ms, fire) => this.timer(ms, fire));
    this.#armIdle();
  }

  /** Speech segments the automatic mode has turned into transcripts. */
  get autoTurns(): number {
    return this.#auto.turns;
  }

  /** Seconds of audio received. */
  get audioSec(): number {
    return this.audioInBytes / 2 / this.#rate;
  }

  get audioIn(): Buffer {
    return Buffer.concat(this.audioChunks);
  }

  controlsOf(type: string): ControlMessage[] {
    return this.controls.filter((c) => c.type === type);
  }

  /** Resolves once at least `ms` of audio has arrived; rejects after `timeoutMs` or when the session closes. */
  waitForAudioMs(ms: number, timeoutMs = 3000): Promise<void> {
    const bytes = Math.ceil((ms * this.#rate) / 1000) * 2;
    if (this.audioInBytes >= bytes) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#audioWaiters = this.#audioWaiters.filter((w) => w.timer !== timer);
        reject(
          new Error(
            `fake deepgram session ${this.id}: only ${Math.round(this.audioSec * 1000)} ms of audio after ${timeoutMs} ms (wanted ${ms})`,
          ),
        );
      }, timeoutMs);
      this.#audioWaiters.push({ bytes, resolve, reject, timer });
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
    this.send(resultMessage(r, this.#position()));
  }

  sendInterim(transcript: string, spec: Omit<ResultSpec, 'transcript' | 'isFinal' | 'speechFinal'> = {}): void {
    this.sendResult({ ...spec, transcript, isFinal: false, speechFinal: false });
  }

  sendFinal(transcript: string, spec: Omit<ResultSpec, 'transcript' | 'isFinal'> = {}): void {
    this.sendResult({ ...spec, transcript, isFinal: true });
  }

  sendSpeechStarted(timestamp = this.audioSec): void {
    this.send(speechStartedMessage(timestamp));
  }

  sendUtteranceEnd(lastWordEnd: number): void {
    this.send(utteranceEndMessage(lastWordEnd));
  }

  sendMetadata(): void {
    this.send(metadataMessage(this.#position()));
  }

  // ---- internals ------------------------------------------------------------------------------

  protected override onMessage(buf: Buffer, isBinary: boolean): void {
    this.#armIdle();
    if (isBinary) {
      this.#onAudio(buf);
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
    if (c.type === 'Finalize') this.#auto.finalize();
    else if (c.type === 'CloseStream') this.#onCloseStream();
  }

  #onAudio(pcm: Buffer): void {
    if (pcm.length === 0) return;
    this.audioInBytes += pcm.length;
    if (this.#opts.recordAudio !== false) this.audioChunks.push(pcm);
    if (this.#audioWaiters.length > 0) {
      const due = this.#audioWaiters.filter((w) => this.audioInBytes >= w.bytes);
      if (due.length > 0) {
        this.#audioWaiters = this.#audioWaiters.filter((w) => this.audioInBytes < w.bytes);
        for (const w of due) {
          clearTimeout(w.timer);
          w.resolve();
        }
      }
    }
    this.#auto.audio(pcm);
  }

  #onCloseStream(): void {
    this.#auto.closeStream();
    this.sendMetadata();
    this.close(1000, '');
  }

  /** Where a message sent now belongs. */
  #position() {
    return { audioSec: this.audioSec, requestId: this.requestId, model: this.query.get('model') };
  }

  #armIdle(): void {
    const ms = this.#opts.idleTimeoutMs ?? 10000;
    if (ms <= 0 || this.isClosed) return;
    if (this.#idleTimer) this.clearTimer(this.#idleTimer);
    this.#idleTimer = this.timer(ms, () => this.close(1011, NET_0001));
  }

  /** Audio waiters fail only once the socket is gone (audio may still arrive while a close is under way). */
  protected override onClosed(): void {
    for (const w of this.#audioWaiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`fake deepgram session ${this.id} closed while waiting for audio`));
    }
    this.#audioWaiters = [];
  }
}

import type { Logger } from '../../log.ts';
import { errorText } from '../../errors.ts';
import { connectWithRetry } from '../vendor-socket.ts';
import { StageError, type SpeechToText, type StageName, type SttResult, type TextToSpeech } from './stages.ts';

/** What the cascade agent gives its stage links. */
export interface StageLinksHost {
  readonly log: Logger;
  /** The agent is open (answering): events of the stages count only then. */
  readonly isOpen: boolean;
  /** The agent was closed: a connection that completes now is closed again. */
  readonly isClosed: boolean;
  /** Caller samples pushed so far (STT times are relative to the start of the current stream). */
  readonly samplesIn: number;
  /** Counted per call: reconnects after a loss (the agent's stats). */
  readonly stats: { sttReconnects: number; ttsReconnects: number };
  sttResult(r: SttResult): void;
  utteranceEnd(): void;
  /** The current STT stream is gone (already dropped here); the agent decides whether to reconnect. */
  sttLost(err: StageError): void;
  /** Runs a stage callback: a throw is logged, never escapes into an SDK. */
  guard(fn: () => void): void;
}

export function asStageError(e: unknown, stage: StageName): StageError {
  return e instanceof StageError ? e : new StageError(stage, errorText(e), true, { cause: e });
}

/**
 * The cascade's live connections to its streaming stages: the STT stream and the TTS connection, each
 * (re)connected through the vendor-socket retry rule. Events of a stream that has been replaced are dropped
 * here, so the agent only hears the current one.
 */
export class StageLinks {
  readonly #host: StageLinksHost;
  readonly #createStt: () => SpeechToText;
  readonly #createTts: () => TextToSpeech;
  #stt: SpeechToText | undefined;
  /** An STT stream being connected (its events are accepted too). */
  #sttPending: SpeechToText | undefined;
  #sttBase = 0;
  #tts: TextToSpeech | undefined;
  #ttsConnecting: Promise<boolean> | undefined;

  constructor(host: StageLinksHost, createStt: () => SpeechToText, createTts: () => TextToSpeech) {
    this.#host = host;
    this.#createStt = createStt;
    this.#createTts = createTts;
  }

  get stt(): SpeechToText | undefined {
    return this.#stt;
  }

  /** Caller samples pushed before the current STT stream started. */
  get sttBase(): number {
    return this.#sttBase;
  }

  get tts(): TextToSpeech | undefined {
    return this.#tts;
  }

  /** Open an STT stream (retried once when the failure is retryable). */
  async connectStt(initial: boolean): Promise<void> {
    const host = this.#host;
    const attempt = async (): Promise<SpeechToText> => {
      const stt = this.#createStt();
      this.#sttPending = stt;
      try {
        await stt.connect(this.#sttListener(stt));
      } finally {
        if (this.#sttPending === stt) this.#sttPending = undefined;
      }
      return stt;
    };
    const stt = await connectWithRetry(
      attempt,
      (e) => asStageError(e, 'stt').retryable && !host.isClosed,
      (e) => host.log.warn({ err: asStageError(e, 'stt').message }, 'cascade: STT connect failed; retrying once'),
    ).catch((e: unknown) => {
      throw asStageError(e, 'stt');
    });
    if (host.isClosed) {
      await stt.close();
      throw new StageError('stt', 'closed while connecting', false);
    }
    this.#stt = stt;
    this.#sttBase = host.samplesIn;
    if (!initial) host.stats.sttReconnects++;
  }

  /** Forget the current STT stream (it was lost) and close it. */
  dropStt(): void {
    const old = this.#stt;
    this.#stt = undefined;
    void old?.close();
  }

  /** Open a TTS connection; at start a retryable failure is tried once more. */
  async connectTts(initial: boolean): Promise<void> {
    const host = this.#host;
    const attempt = async () => {
      const tts = this.#createTts();
      this.#tts = tts;
      await tts.connect({ lost: (err) => host.guard(() => this.#onTtsLost(tts, err)) });
    };
    await connectWithRetry(
      attempt,
      (e) => asStageError(e, 'tts').retryable && !host.isClosed && initial,
      (e) => host.log.warn({ err: asStageError(e, 'tts').message }, 'cascade: TTS connect failed; retrying once'),
    ).catch((e: unknown) => {
      throw asStageError(e, 'tts');
    });
    if (!initial) host.stats.ttsReconnects++;
  }

  /** An open TTS connection, reconnecting once if needed. */
  async ensureTts(): Promise<boolean> {
    // Checked a tick later: a close frame read together with the event that got us here (e.g. a context error)
    // has been processed by then, so a closing socket is not reported as usable.
    await Promise.resolve();
    if (this.#tts?.connected) return true;
    if (this.#ttsConnecting === undefined) {
      const p = (async () => {
        const old = this.#tts;
        this.#tts = undefined;
        void old?.close();
        try {
          await this.connectTts(false);
          return this.#host.isOpen;
        } catch (e) {
          this.#host.log.warn({ err: errorText(e) }, 'cascade: TTS reconnect failed');
          return false;
        } finally {
          this.#ttsConnecting = undefined;
        }
      })();
      this.#ttsConnecting = p;
    }
    return this.#ttsConnecting!;
  }

  /** Close every connection, including one still being made. */
  async close(): Promise<void> {
    const stt = this.#stt;
    const pending = this.#sttPending;
    this.#stt = undefined;
    this.#sttPending = undefined;
    await Promise.allSettled([stt?.close(), pending?.close(), this.#ttsConnecting, this.#tts?.close()]);
    await this.#tts?.close(); // a reconnect may have finished meanwhile
  }

  #sttListener(stt: SpeechToText) {
    const host = this.#host;
    const mine = () => (this.#stt === stt || this.#sttPending === stt) && host.isOpen;
    return {
      result: (r: SttResult) => {
        if (mine()) host.guard(() => host.sttResult(r));
      },
      speechStarted: () => {},
      utteranceEnd: () => {
        if (mine()) host.guard(() => host.utteranceEnd());
      },
      lost: (err: StageError) => {
        if (this.#stt === stt) host.guard(() => host.sttLost(err));
      },
    };
  }

  #onTtsLost(tts: TextToSpeech, err: StageError): void {
    if (this.#tts !== tts || !this.#host.isOpen) return;
    this.#host.log.warn({ err: err.message }, 'cascade: TTS connection lost; reconnecting');
    // Streams on it get their own error (retried or ended there); reconnect now so the next reply is not slower.
    void this.ensureTts();
  }
}

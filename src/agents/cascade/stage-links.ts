import type { Logger } from '../../log.ts';
import { errorText } from '../../errors.ts';
import { connectWithRetry } from '../connect-retry.ts';
import { AudioRing } from './audio-ring.ts';
import type { CascadeCall } from './cascade-call.ts';
import { StageError, type SpeechToText, type StageName, type SttResult, type TextToSpeech } from './stages.ts';

/** What the cascade agent gives its stage links. */
export interface StageLinksHost {
  readonly log: Logger;
  /** Open or closed, and the caller samples pushed so far. */
  readonly call: Pick<CascadeCall, 'isOpen' | 'isClosed' | 'samplesIn'>;
  /** Caller audio rate. */
  readonly sampleRate: number;
  /** Counted per call: reconnects after a loss (the agent's stats). */
  readonly stats: { sttReconnects: number; ttsReconnects: number };
  sttResult(r: SttResult): void;
  utteranceEnd(): void;
  /** The current STT stream is gone (already dropped here); the agent decides whether to reconnect. */
  sttLost(err: StageError): void;
  /** A lost connection was replaced (`why` it was lost; `durationMs` from the loss to the new one ready). */
  resumed(why: string, durationMs: number): void;
  /** Runs a stage callback: a throw is logged, never escapes into an SDK. */
  guard(fn: () => void): void;
}

/** How many reconnects of one stage are allowed in a window of call time (more: the vendor is not coming back). */
export interface ReconnectLimit {
  max: number;
  windowMs: number;
}

export const DEFAULT_RECONNECT_LIMIT: ReconnectLimit = { max: 5, windowMs: 10 * 60_000 };

/** Caller audio kept for a new STT stream: what the lost one had not transcribed yet plus the reconnect. */
const REPLAY_SECONDS = 2;

/**
 * At most `max` reconnects per window, counted in caller audio time: it flows at real time while the call is
 * up (FreeSWITCH streams silence too), and a test's time-compressed call is measured in its own time.
 */
class ReconnectBudget {
  readonly #max: number;
  readonly #windowSamples: number;
  readonly #at: number[] = [];

  constructor(limit: ReconnectLimit, sampleRate: number) {
    this.#max = limit.max;
    this.#windowSamples = (limit.windowMs * sampleRate) / 1000;
  }

  /** Count a reconnect at sample position `now`; false when the window is already full. */
  take(now: number): boolean {
    while (this.#at.length > 0 && this.#at[0]! <= now - this.#windowSamples) this.#at.shift();
    if (this.#at.length >= this.#max) return false;
    this.#at.push(now);
    return true;
  }

  get used(): number {
    return this.#at.length;
  }
}

export function asStageError(e: unknown, stage: StageName): StageError {
  return e instanceof StageError ? e : new StageError(stage, errorText(e), true, { cause: e });
}

/**
 * The cascade's live connections to its streaming stages: the STT stream and the TTS connection, each
 * (re)connected through the connect-retry rule. Events of a stream that has been replaced are dropped
 * here, so the agent only hears the current one.
 *
 * A new STT stream first gets the caller audio the lost one never answered for (after its last result, and
 * what arrived while reconnecting; at most REPLAY_SECONDS), so words spoken across the switch are transcribed.
 * A lost TTS connection is reopened at once (the next reply is not slowed) while within its reconnect budget,
 * else lazily before the next reply. Each replaced connection is reported through `host.resumed`.
 */
export class StageLinks {
  readonly #host: StageLinksHost;
  readonly #createStt: () => SpeechToText;
  readonly #createTts: () => TextToSpeech;
  #stt: SpeechToText | undefined;
  /** An STT stream being connected (its events are accepted too). */
  #sttPending: SpeechToText | undefined;
  #sttBase = 0;
  /** Sample position up to which the current STT stream has returned results. */
  #sttHeard = 0;
  #sttLost: { at: number; why: string } | undefined;
  readonly #sttBudget: ReconnectBudget;
  readonly #ring: AudioRing;
  #tts: TextToSpeech | undefined;
  #ttsConnecting: Promise<boolean> | undefined;
  #ttsLost: { at: number; why: string } | undefined;
  readonly #ttsBudget: ReconnectBudget;

  constructor(
    host: StageLinksHost,
    createStt: () => SpeechToText,
    createTts: () => TextToSpeech,
    limit: ReconnectLimit = DEFAULT_RECONNECT_LIMIT,
  ) {
    this.#host = host;
    this.#createStt = createStt;
    this.#createTts = createTts;
    this.#sttBudget = new ReconnectBudget(limit, host.sampleRate);
    this.#ttsBudget = new ReconnectBudget(limit, host.sampleRate);
    this.#ring = new AudioRing(host.sampleRate * 2 * REPLAY_SECONDS);
  }

  /** Hot path: one frame of caller audio to the STT stream, and into the replay ring for a reconnect. */
  sendAudio(frame: Buffer): void {
    this.#ring.write(frame);
    this.#stt?.sendAudio(frame);
  }

  /** Count an STT reconnect against the budget; false when the budget is spent (the agent gives up). */
  takeSttReconnect(): boolean {
    return this.#sttBudget.take(this.#host.call.samplesIn);
  }

  /** STT reconnects in the current budget window. */
  get sttReconnectsInWindow(): number {
    return this.#sttBudget.used;
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
      (e) => asStageError(e, 'stt').retryable && !host.call.isClosed,
      (e) => host.log.warn({ err: asStageError(e, 'stt').message }, 'cascade: STT connect failed; retrying once'),
    ).catch((e: unknown) => {
      throw asStageError(e, 'stt');
    });
    if (host.call.isClosed) {
      await stt.close();
      throw new StageError('stt', 'closed while connecting', false);
    }
    this.#sttBase = initial ? host.call.samplesIn : this.#ring.clamp(this.#sttHeard);
    this.#sttHeard = this.#sttBase;
    this.#stt = stt;
    if (initial) return;
    host.stats.sttReconnects++;
    const lost = this.#sttLost;
    this.#sttLost = undefined;
    if (lost !== undefined) host.resumed(lost.why, performance.now() - lost.at);
    // What the lost stream never answered for, and what came while connecting, goes first (synchronously: no
    // frame can slip in between). Its results may end a turn right here: the stream is current already.
    this.#ring.since(this.#sttBase, (pcm) => stt.sendAudio(pcm));
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
      (e) => asStageError(e, 'tts').retryable && !host.call.isClosed && initial,
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
        const lost = this.#ttsLost ?? { at: performance.now(), why: 'closed' };
        this.#ttsLost = undefined;
        try {
          await this.connectTts(false);
          this.#host.resumed(lost.why, performance.now() - lost.at);
          return this.#host.call.isOpen;
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
    const mine = () => (this.#stt === stt || this.#sttPending === stt) && host.call.isOpen;
    return {
      result: (r: SttResult) => {
        if (!mine()) return;
        if (this.#stt === stt) {
          const end = this.#sttBase + Math.round((r.start + r.duration) * host.sampleRate);
          if (end > this.#sttHeard) this.#sttHeard = end;
        }
        host.guard(() => host.sttResult(r));
      },
      speechStarted: () => {},
      utteranceEnd: () => {
        if (mine()) host.guard(() => host.utteranceEnd());
      },
      lost: (err: StageError) => {
        if (this.#stt !== stt) return;
        this.#sttLost = { at: performance.now(), why: err.why ?? 'error' };
        host.guard(() => host.sttLost(err));
      },
    };
  }

  #onTtsLost(tts: TextToSpeech, err: StageError): void {
    const host = this.#host;
    if (this.#tts !== tts || !host.call.isOpen) return;
    this.#ttsLost ??= { at: performance.now(), why: err.why ?? 'error' };
    // A server that accepts and closes again must not keep us reconnecting: past the budget, the next reply
    // reopens it (and fails the call if it cannot).
    if (!this.#ttsBudget.take(host.call.samplesIn)) {
      host.log.warn({ err: err.message }, 'cascade: TTS connection lost again; reopened before the next reply');
      return;
    }
    host.log.warn({ err: err.message }, 'cascade: TTS connection lost; reconnecting');
    // Streams on it get their own error (resumed or ended there); reconnect now so the next reply is not slower.
    void this.ensureTts();
  }
}

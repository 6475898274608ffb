/** Barge-in: "the caller has been talking over the agent for long enough", on the shared Silero model. */
import type { SileroModel } from './silero-model.ts';
import { type VadOptions, type VadStats, VoiceActivityDetector } from './vad.ts';

export interface BargeInOptions {
  sampleRate: 8000 | 16000;
  /** Silero probability counted as speech. Default 0.5. */
  threshold?: number;
  /** Speech needed to fire. Default 200 ms: a cough or a click is shorter. */
  minSpeechMs?: number;
  /** Windows quieter than this are silence without a model run (VadOptions.silenceDbfs). Default -60. */
  silenceDbfs?: number;
}

/**
 * Fires once per arming when the caller has been speaking for at least `minSpeechMs`. Disarmed, frames cost
 * nothing; arming resets the model state (the detector needs no history: it only has to notice new speech).
 */
export class BargeInDetector {
  readonly #vad: VoiceActivityDetector;
  readonly #onBargeIn: (speechStartedMs: number) => void;
  #armed = false;

  constructor(model: SileroModel, opts: BargeInOptions, onBargeIn: (speechStartedMs: number) => void) {
    this.#onBargeIn = onBargeIn;
    const vadOpts: VadOptions = {
      sampleRate: opts.sampleRate,
      minSpeechMs: opts.minSpeechMs ?? 200,
      minSilenceMs: 200,
    };
    if (opts.threshold !== undefined) vadOpts.threshold = opts.threshold;
    if (opts.silenceDbfs !== undefined) vadOpts.silenceDbfs = opts.silenceDbfs;
    this.#vad = new VoiceActivityDetector(model, vadOpts, {
      speechStart: (atMs) => {
        if (!this.#armed) return;
        this.#armed = false;
        this.#onBargeIn(atMs);
      },
    });
  }

  get isArmed(): boolean {
    return this.#armed;
  }

  get stats(): VadStats {
    return this.#vad.stats;
  }

  arm(): void {
    if (this.#armed) return;
    this.#vad.reset();
    this.#armed = true;
  }

  disarm(): void {
    this.#armed = false;
  }

  /** Hot path: ignored unless armed. */
  push(frame: Buffer): void {
    if (this.#armed) this.#vad.push(frame);
  }

  close(): void {
    this.#armed = false;
    this.#vad.close();
  }
}

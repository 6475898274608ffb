/**
 * Silero VAD for caller audio: per-call detectors over the process-wide model (silero-model.ts).
 *
 * - The shared model is stateless between runs (the LSTM state is an input and an output), so each call keeps
 *   its own state/context arrays and tensors.
 * - Windows are exactly what the model wants: 256 samples at 8 kHz (32 ms), 512 at 16 kHz, assembled from the
 *   caller frames into preallocated buffers (no allocation per frame on the way in).
 * - Batched across calls (silero-batch.ts): the windows of every detector run together, one `session.run` for
 *   all of them, which costs a fraction of one run per window.
 * - Windows under `silenceDbfs` are scored silent without a model run (a listening caller costs no runs).
 * - Bounded cost per call: at most one window in flight; windows that arrive meanwhile wait in a small ring
 *   (`maxPendingWindows`); if the process falls behind, the oldest waiting window is dropped and counted.
 *
 * `VoiceActivityDetector` turns probabilities into speech start/end events with hysteresis (start at
 * `threshold`, end below `negThreshold`, so a window hovering at the threshold does not flap).
 * `BargeInDetector` (barge-in.ts) is the one-shot "caller has been talking for ≥ minSpeechMs" trigger the
 * cascade arms while the agent speaks; the echo agent uses VoiceActivityDetector for its turn detection directly.
 *
 * Cost per window and per call while a detector is fed, and the model's load time and memory: measured, see
 * README Performance (test/unit/vad.test.ts prints the per-window figure).
 */
import { int16View } from './pcm.ts';
import { sileroBatcher, type SileroBatcher, type SileroRow } from './silero-batch.ts';
import type { SileroModel } from './silero-model.ts';

export interface VadOptions {
  sampleRate: 8000 | 16000;
  /** Probability at or above which a window is speech. Default 0.5. */
  threshold?: number;
  /** Probability below which a window is silence (between the two: unchanged). Default threshold − 0.15. */
  negThreshold?: number;
  /** Speech must last this long (windows at or above threshold) before `speechStart`. Default 200 ms. */
  minSpeechMs?: number;
  /** Silence that ends speech (`speechEnd`). Default 300 ms. */
  minSilenceMs?: number;
  /** Windows allowed to wait while an inference runs; beyond, the oldest is dropped. Default 4. */
  maxPendingWindows?: number;
  /**
   * Windows quieter than this (RMS, dBFS) are scored as silence without running the model, and the model's
   * state starts afresh after them (as at the start of a stream). Default -60 (speech is -45..-10, a quiet
   * digital line below -70); -100 runs the model on every window.
   */
  silenceDbfs?: number;
}

export interface VadListener {
  /** Speech has lasted minSpeechMs; `atMs` is where it began (audio ms since the last reset). */
  speechStart?(atMs: number): void;
  /** Silence has lasted minSilenceMs after speech; `atMs` is where the speech ended. */
  speechEnd?(atMs: number): void;
  /** Every window's probability (diagnostics, tests). */
  probability?(p: number, atMs: number): void;
}

export interface VadStats {
  /** Windows scored (by the model, or as silence by the level gate). */
  windows: number;
  /** Of those, windows below `silenceDbfs`: scored 0 without a model run. */
  skipped: number;
  dropped: number;
  /** Total and worst inference time, µs: this window's share of its batch's session.run (run time / rows). */
  inferenceUs: number;
  maxInferenceUs: number;
}

export class VoiceActivityDetector {
  readonly sampleRate: 8000 | 16000;
  readonly windowSamples: number;
  readonly windowMs: number;
  readonly stats: VadStats = { windows: 0, skipped: 0, dropped: 0, inferenceUs: 0, maxInferenceUs: 0 };

  readonly #batcher: SileroBatcher;
  readonly #row: SileroRow;
  readonly #listener: VadListener;
  readonly #threshold: number;
  readonly #negThreshold: number;
  readonly #minSpeechMs: number;
  readonly #minSilenceMs: number;
  readonly #contextSamples: number;
  // model I/O, allocated once
  readonly #input: Float32Array;
  readonly #state: Float32Array;
  // window assembly and the waiting ring
  readonly #fill: Float32Array;
  #fillLen = 0;
  /** Sum of squares of the window being filled, and the sum below which a whole window is silence. */
  #fillEnergy = 0;
  readonly #silentEnergy: number;
  readonly #ring: Float32Array[];
  /** When each ring slot's window was complete. */
  readonly #ringAt: Float64Array;
  /** Whether each ring slot's window is below the level gate. */
  readonly #ringSilent: Uint8Array;
  #ringHead = 0;
  #ringLen = 0;
  #running = false;
  /** Bumped by reset()/close(): a result of an older generation is ignored. */
  #gen = 0;
  #closed = false;
  // speech state (audio ms since reset)
  #windowsDone = 0;
  #speakingNow = false;
  #candStartMs = -1;
  #candMs = 0;
  #silenceMs = 0;
  #lastSpeechEndMs = 0;
  #runGen = 0;

  constructor(model: SileroModel, opts: VadOptions, listener: VadListener) {
    this.sampleRate = opts.sampleRate;
    this.windowSamples = opts.sampleRate === 16000 ? 512 : 256;
    this.#contextSamples = opts.sampleRate === 16000 ? 64 : 32;
    this.windowMs = (this.windowSamples * 1000) / opts.sampleRate;
    this.#listener = listener;
    this.#threshold = opts.threshold ?? 0.5;
    this.#negThreshold = opts.negThreshold ?? Math.max(0.01, this.#threshold - 0.15);
    this.#minSpeechMs = opts.minSpeechMs ?? 200;
    this.#minSilenceMs = opts.minSilenceMs ?? 300;
    this.#input = new Float32Array(this.#contextSamples + this.windowSamples);
    this.#state = new Float32Array(2 * 128);
    this.#fill = new Float32Array(this.windowSamples);
    const slots = Math.max(1, opts.maxPendingWindows ?? 4);
    this.#ring = Array.from({ length: slots }, () => new Float32Array(this.windowSamples));
    this.#ringAt = new Float64Array(slots);
    this.#ringSilent = new Uint8Array(slots);
    const dbfs = opts.silenceDbfs ?? -60;
    this.#silentEnergy = dbfs <= -100 ? -1 : this.windowSamples * 10 ** (dbfs / 10); // -100: even zeros run
    this.#batcher = sileroBatcher(model.session, model.ort, opts.sampleRate, this.#input.length);
    this.#batcher.attach();
    this.#row = {
      input: this.#input,
      state: this.#state,
      readyAt: 0,
      done: (p, stateOut, h0, h1, us) => this.#afterRun(p, stateOut, h0, h1, us),
      failed: () => {
        this.#running = false;
        this.stats.dropped++;
        this.#pump();
      },
    };
  }

  /** Hot path: one frame of 16-bit LE mono PCM at `sampleRate`. */
  push(frame: Buffer): void {
    if (this.#closed) return;
    const n = frame.length >> 1;
    const fill = this.#fill;
    const w = this.windowSamples;
    let len = this.#fillLen;
    let energy = this.#fillEnergy;
    const pcm = int16View(frame); // a view, no copy (ws hands us even offsets)
    for (let i = 0; i < n; i++) {
      const x = pcm[i]! / 32768;
      fill[len++] = x;
      energy += x * x;
      if (len === w) {
        this.#enqueue(energy < this.#silentEnergy);
        len = 0;
        energy = 0;
      }
    }
    this.#fillLen = len;
    this.#fillEnergy = energy;
  }

  /** Forget the audio so far (model state, partial window, speech state). Cheap. */
  reset(): void {
    this.#gen++;
    this.#fillLen = 0;
    this.#fillEnergy = 0;
    this.#ringLen = 0;
    this.#state.fill(0);
    this.#input.fill(0);
    this.#windowsDone = 0;
    this.#speakingNow = false;
    this.#candStartMs = -1;
    this.#candMs = 0;
    this.#silenceMs = 0;
    this.#lastSpeechEndMs = 0;
  }

  /** Stop; a running inference's result is ignored. The shared model stays loaded. */
  close(): void {
    if (!this.#closed) this.#batcher.detach();
    this.#closed = true;
    this.#gen++;
    this.#ringLen = 0;
  }

  #enqueue(silent: boolean): void {
    const slots = this.#ring.length;
    if (this.#ringLen === slots) {
      this.#ringHead = (this.#ringHead + 1) % slots; // drop the oldest waiting window
      this.#ringLen--;
      this.stats.dropped++;
    }
    const slot = (this.#ringHead + this.#ringLen) % slots;
    this.#ring[slot]!.set(this.#fill);
    this.#ringAt[slot] = performance.now();
    this.#ringSilent[slot] = silent ? 1 : 0;
    this.#ringLen++;
    if (!this.#running) this.#pump();
  }

  #pump(): void {
    if (this.#running || this.#closed) return;
    while (this.#ringLen > 0 && !this.#closed) {
      const head = this.#ringHead;
      this.#ringHead = (head + 1) % this.#ring.length;
      this.#ringLen--;
      // input = [context (last samples of the previous window) | window]
      const c = this.#contextSamples;
      this.#input.copyWithin(0, this.#input.length - c);
      this.#input.set(this.#ring[head]!, c);
      if (this.#ringSilent[head] === 1) {
        // Too quiet to be speech: score it silent here (most windows while the caller listens) and let the
        // model start afresh on the next loud window, as it does at the start of a stream.
        this.#state.fill(0);
        this.stats.skipped++;
        this.#scored(0);
        continue;
      }
      this.#row.readyAt = this.#ringAt[head]!;
      this.#running = true;
      this.#runGen = this.#gen;
      this.#batcher.submit(this.#row);
      return;
    }
  }

  #afterRun(p: number, stateOut: Float32Array, h0: number, h1: number, us: number): void {
    this.#running = false;
    this.stats.inferenceUs += us;
    if (us > this.stats.maxInferenceUs) this.stats.maxInferenceUs = us;
    if (this.#closed || this.#runGen !== this.#gen) {
      this.stats.windows++; // run, but for audio from before a reset
      this.#pump();
      return;
    }
    const s = this.#state.length >> 1;
    this.#state.set(stateOut.subarray(h0, h0 + s), 0);
    this.#state.set(stateOut.subarray(h1, h1 + s), s);
    this.#scored(p);
    this.#pump();
  }

  #scored(p: number): void {
    this.stats.windows++;
    const atMs = this.#windowsDone * this.windowMs;
    this.#windowsDone++;
    this.#listener.probability?.(p, atMs);
    this.#track(p, atMs);
  }

  #track(p: number, atMs: number): void {
    const wm = this.windowMs;
    if (!this.#speakingNow) {
      if (p >= this.#threshold) {
        if (this.#candStartMs < 0) this.#candStartMs = atMs;
        this.#candMs += wm;
        if (this.#candMs >= this.#minSpeechMs) {
          this.#speakingNow = true;
          this.#silenceMs = 0;
          this.#lastSpeechEndMs = atMs + wm;
          this.#listener.speechStart?.(this.#candStartMs);
        }
      } else if (p < this.#negThreshold) {
        this.#candStartMs = -1;
        this.#candMs = 0;
      }
      return;
    }
    if (p < this.#negThreshold) {
      this.#silenceMs += wm;
      if (this.#silenceMs >= this.#minSilenceMs) {
        this.#speakingNow = false;
        this.#candStartMs = -1;
        this.#candMs = 0;
        this.#listener.speechEnd?.(this.#lastSpeechEndMs);
      }
    } else {
      this.#silenceMs = 0;
      this.#lastSpeechEndMs = atMs + wm;
    }
  }
}

/**
 * Runs the windows of every Silero detector of the process (one sample rate) together: one `session.run` with
 * a batch of B rows instead of B runs. The model takes a batch dimension (input [B, context + window], state
 * [2, B, 128]) and scores each row with its own state, so a row's result is the same as if it ran alone.
 * Batching pays because onnxruntime-node's fixed cost per run (the N-API hop, tensor setup, the promise)
 * is most of a 32 ms window's cost: measured on the bench machine, ~160 µs CPU per window run alone at
 * 8 kHz against ~30 µs per window in batches of 16 or more (README Performance).
 *
 * A detector hands over its next window (`submit`) and waits for its row's result; it has at most one row
 * in flight. Rows submitted while a batch runs go into the next batch, which starts as soon as the current
 * one returns; the first row after an idle spell waits SILERO_BATCH_WAIT_MS for other calls' windows (one
 * event-loop turn when it is the only detector open).
 */

/** The parts of onnxruntime-node used here (the package ships no types for this path). */
export interface OrtTensor {
  readonly data: ArrayLike<number> & { buffer?: ArrayBufferLike };
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release?(): Promise<void>;
}
export interface OrtModule {
  Tensor: new (type: string, data: Float32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
}

export const SILERO_STATE_SIZE = 128;

/** One detector's seat in the batch: its model input and state, read when the batch is assembled. */
export interface SileroRow {
  /** [context | window] samples, inputLength long. */
  readonly input: Float32Array;
  /** The LSTM state going in ([2, 128]). */
  readonly state: Float32Array;
  /** The row's probability and new state ([2, 128] in `stateOut` at `h0` and `h1`); `us` = the batch's run time / rows. */
  done(p: number, stateOut: Float32Array, h0: number, h1: number, us: number): void;
  failed(): void;
}

/** Largest batch per run: bounds one run's time on the event loop (~1–2 ms at 8 kHz). */
const MAX_BATCH = 64;
/**
 * How long the first window after an idle spell waits for others (ms). Calls' windows (32 ms each) complete
 * at unrelated moments, so waiting a third of a window gathers about a third of the armed calls into one run;
 * a barge-in needs ≥ 200 ms of speech, so ≤ 10 ms more before it is noticed does not change what the caller hears.
 */
export const SILERO_BATCH_WAIT_MS = 10;

export class SileroBatcher {
  readonly #session: OrtSession;
  readonly #ort: OrtModule;
  readonly #inputLength: number;
  readonly #sr: OrtTensor;
  readonly #probName: string;
  readonly #stateName: string;
  #queued: SileroRow[] = [];
  #running = false;
  #scheduled = false;
  /** Tensors by batch size, allocated once per size seen. */
  readonly #feeds = new Map<number, { input: Float32Array; state: Float32Array; feeds: Record<string, OrtTensor> }>();
  /** Runs and rows so far (diagnostics: rows / runs is the mean batch size). */
  runs = 0;
  rows = 0;

  constructor(session: OrtSession, ort: OrtModule, sampleRate: 8000 | 16000, inputLength: number) {
    this.#session = session;
    this.#ort = ort;
    this.#inputLength = inputLength;
    this.#sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(sampleRate)]), [1]);
    this.#probName = session.outputNames[0] ?? 'output';
    this.#stateName = session.outputNames[1] ?? 'stateN';
  }

  /** Detectors open on this batcher: alone, a window has nobody to wait for. */
  #open = 0;

  /** A detector starts (`attach`) or stops (`detach`) submitting. */
  attach(): void {
    this.#open++;
  }

  detach(): void {
    this.#open = Math.max(0, this.#open - 1);
  }

  /** Queue a row's window for the next batch. A row submits again only after its `done`/`failed`. */
  submit(row: SileroRow): void {
    this.#queued.push(row);
    if (this.#running || this.#scheduled) return;
    this.#scheduled = true;
    const go = () => {
      this.#scheduled = false;
      this.#run();
    };
    if (this.#open > 1) setTimeout(go, SILERO_BATCH_WAIT_MS);
    else setImmediate(go);
  }

  #run(): void {
    if (this.#running || this.#queued.length === 0) return;
    const rows = this.#queued.length <= MAX_BATCH ? this.#queued : this.#queued.slice(0, MAX_BATCH);
    this.#queued = this.#queued.length <= MAX_BATCH ? [] : this.#queued.slice(MAX_BATCH);
    const b = rows.length;
    const t = this.#tensors(b);
    const w = this.#inputLength;
    const s = SILERO_STATE_SIZE;
    for (let i = 0; i < b; i++) {
      const row = rows[i]!;
      t.input.set(row.input, i * w);
      t.state.set(row.state.subarray(0, s), i * s); // state is [2, B, 128]: h then c, each B rows
      t.state.set(row.state.subarray(s, 2 * s), (b + i) * s);
    }
    this.#running = true;
    this.runs++;
    this.rows += b;
    const startedAt = performance.now();
    this.#session.run(t.feeds).then(
      (r) => {
        this.#running = false;
        const us = ((performance.now() - startedAt) * 1000) / b;
        const probs = r[this.#probName]!.data as Float32Array;
        const state = r[this.#stateName]!.data as Float32Array;
        for (let i = 0; i < b; i++) rows[i]!.done(probs[i] ?? 0, state, i * s, (b + i) * s, us);
        this.#run();
      },
      () => {
        this.#running = false;
        for (const row of rows) row.failed();
        this.#run();
      },
    );
  }

  #tensors(b: number): { input: Float32Array; state: Float32Array; feeds: Record<string, OrtTensor> } {
    let t = this.#feeds.get(b);
    if (t === undefined) {
      const input = new Float32Array(b * this.#inputLength);
      const state = new Float32Array(2 * b * SILERO_STATE_SIZE);
      const { Tensor } = this.#ort;
      t = {
        input,
        state,
        feeds: {
          input: new Tensor('float32', input, [b, this.#inputLength]),
          state: new Tensor('float32', state, [2, b, SILERO_STATE_SIZE]),
          sr: this.#sr,
        },
      };
      this.#feeds.set(b, t);
    }
    return t;
  }
}

const batchers = new WeakMap<OrtSession, Map<number, SileroBatcher>>();

/** The process-wide batcher of a session for one sample rate (detectors of both rates may share a session). */
export function sileroBatcher(
  session: OrtSession,
  ort: OrtModule,
  sampleRate: 8000 | 16000,
  inputLength: number,
): SileroBatcher {
  let byRate = batchers.get(session);
  if (byRate === undefined) {
    byRate = new Map();
    batchers.set(session, byRate);
  }
  let b = byRate.get(sampleRate);
  if (b === undefined) {
    b = new SileroBatcher(session, ort, sampleRate, inputLength);
    byRate.set(sampleRate, b);
  }
  return b;
}

/**
 * Runs the windows of every Silero detector of the process (one sample rate) together: one `session.run` with
 * a batch of B rows instead of B runs. The model takes a batch dimension (input [B, context + window], state
 * [2, B, 128]) and scores each row with its own state, so a row's result is the same as if it ran alone.
 * Batching pays because onnxruntime-node's fixed cost per run (the N-API hop, tensor setup, the promise)
 * is most of a 32 ms window's cost: measured on the bench machine, ~160 µs CPU per window run alone at
 * 8 kHz against ~30 µs per window in batches of 16 or more (README Performance).
 *
 * A detector hands over its next window (`submit`) and waits for its row's result; it has at most one row
 * in flight. A batch runs SILERO_BATCH_WAIT_MS after the oldest window waiting in it was complete (one
 * event-loop turn when only one detector is open; at once when MAX_BATCH rows wait), never while another
 * runs. Rows submitted while a batch runs wait for their own deadline rather than starting a run of their own
 * as soon as it returns (that split the windows into more, smaller runs); a window that already waited in its
 * detector (a detector catching up) is due at once.
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
  /** When the window was complete (performance.now()): a batch runs SILERO_BATCH_WAIT_MS after its oldest. */
  readyAt: number;
  /** The row's probability and new state ([2, 128] in `stateOut` at `h0` and `h1`); `us` = the batch's run time / rows. */
  done(p: number, stateOut: Float32Array, h0: number, h1: number, us: number): void;
  failed(): void;
}

/** Largest batch per run: bounds one run's time on the event loop (~1–3 ms at 8 kHz). */
const MAX_BATCH = 64;
/**
 * How long a window may wait for other calls' windows before its batch runs (ms): one window's length, so a
 * batch holds about one window of every armed call. A run's fixed cost is large on a busy machine: measured
 * here, a run 10 ms after the previous one took ~550 µs more than back to back (the model's weights have left
 * the caches), whatever the batch size, so fewer, larger runs are what saves CPU (10 → 32 ms: ~35% less CPU per
 * window at 40 talking calls). A barge-in needs ≥ 200 ms of speech, so ≤ 32 ms more before it is noticed
 * (≤ 10 ms before) does not change what the caller hears.
 */
export const SILERO_BATCH_WAIT_MS = 32;

export class SileroBatcher {
  readonly #session: OrtSession;
  readonly #ort: OrtModule;
  readonly #inputLength: number;
  readonly #sr: OrtTensor;
  readonly #probName: string;
  readonly #stateName: string;
  #queued: SileroRow[] = [];
  /** When the oldest queued window was complete (performance.now()); -Infinity: overdue. */
  #oldestAt = 0;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
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
    if (this.#queued.length === 0 || row.readyAt < this.#oldestAt) this.#oldestAt = row.readyAt;
    this.#queued.push(row);
    if (!this.#running) this.#schedule(false);
  }

  /**
   * Start the next batch when its oldest row has waited long enough (see the file comment). Right after a run
   * (`afterRun`) a batch that is due starts at once, as a detector catching up on waiting windows needs.
   */
  #schedule(afterRun: boolean): void {
    const n = this.#queued.length;
    if (n === 0) return;
    const wait = this.#open <= 1 || n >= MAX_BATCH ? 0 : this.#oldestAt + SILERO_BATCH_WAIT_MS - performance.now();
    if (wait <= 0) {
      if (afterRun) return this.#go();
      if (this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      this.#immediate ??= setImmediate(this.#go);
      return;
    }
    if (this.#timer !== undefined || this.#immediate !== undefined) return;
    this.#timer = setTimeout(this.#go, wait);
  }

  readonly #go = (): void => {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    this.#run();
  };

  #run(): void {
    if (this.#running || this.#queued.length === 0) return;
    const rows = this.#queued.length <= MAX_BATCH ? this.#queued : this.#queued.slice(0, MAX_BATCH);
    this.#queued = this.#queued.length <= MAX_BATCH ? [] : this.#queued.slice(MAX_BATCH);
    // rows left over from a full batch are already overdue
    if (this.#queued.length > 0) this.#oldestAt = -Infinity;
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
        this.#schedule(true);
      },
      () => {
        this.#running = false;
        for (const row of rows) row.failed();
        this.#schedule(true);
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

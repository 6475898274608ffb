/**
 * Resampling of agent audio for playback, per reply: a stream keeps its filter state across the reply's
 * chunks (no clicks at chunk edges). Output arrives through `onOutput`, in order; the last call has
 * `last: true` (after `end()`, carrying the filter's tail). Two implementations: inline (on the calling
 * thread, inline-resampling.ts) and a worker thread (worker-resampling.ts, worker-entry.ts) that keeps the
 * filtering and the creation of WASM converters off the event loop.
 */
export interface ResampleStream {
  /** Samples at the input rate. The caller may reuse its buffer after return. */
  push(samples: Int16Array): void;
  /** No more input: flush the tail; `onOutput(tail, true)` follows. */
  end(): void;
  /** Abandon the stream (barge-in, hangup): no more output for it. */
  drop(): void;
}

export type ResampleOutput = (samples: Int16Array, last: boolean) => void;

export interface Resampling {
  /** Streams open now (a leak check: 0 when no reply is being resampled). */
  readonly active: number;
  /** A stream, or undefined when no converter can be had right now (the caller falls back). */
  open(inRate: number, outRate: number, onOutput: ResampleOutput): ResampleStream | undefined;
  close(): Promise<void>;
}

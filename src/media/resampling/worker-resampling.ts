import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log.ts';
import { errorText } from '../../errors.ts';
import { isPooled, type ConverterName } from './converter.ts';
import type { ResampleOutput, ResampleStream, Resampling } from './resampling.ts';

export type DspOp =
  | { t: 'open'; id: number; inRate: number; outRate: number }
  | { t: 'push'; id: number; samples: Int16Array }
  | { t: 'end'; id: number }
  | { t: 'drop'; id: number };

export interface DspOut {
  id: number;
  samples: Int16Array;
  last: boolean;
  /** The worker could not resample this stream (converter creation or a WASM call failed): `last` is true. */
  error?: string;
}

/**
 * Resampling in a worker thread (DSP_THREADS=1). Ops of one event-loop turn go in one message (a turn may
 * carry replies for many calls), outputs come back the same way, with their buffers transferred, not copied.
 * Round trip: a fraction of a millisecond, added to a reply's first chunk.
 */
export class WorkerResampling implements Resampling {
  readonly #worker: Worker;
  readonly #outputs = new Map<number, ResampleOutput>();
  readonly #log: Logger;
  #ops: DspOp[] = [];
  #transfer: ArrayBuffer[] = [];
  #flushQueued = false;
  #nextId = 1;
  #ready: Promise<void>;
  #alive = true;
  /**
   * Most streams open at once (each holds a pooled converter in the worker); beyond, replies fall back to WAV.
   * Speex converters are small and made per stream: no cap.
   */
  readonly #max: number;

  /** Streams open (outputs still expected). */
  get active(): number {
    return this.#outputs.size;
  }

  constructor(opts: { converter: ConverterName; warm: Array<[number, number, number]>; max: number; logger: Logger }) {
    this.#log = opts.logger;
    const here = fileURLToPath(import.meta.url);
    // dist/ has worker-entry.js next to this file, src/ has worker-entry.ts (run by Node's type stripping).
    const entry = new URL(`./worker-entry${extname(here)}`, import.meta.url);
    this.#max = isPooled(opts.converter) ? opts.max : Number.POSITIVE_INFINITY;
    this.#worker = new Worker(entry, { workerData: { converter: opts.converter, warm: opts.warm } });
    this.#ready = new Promise((resolve, reject) => {
      this.#worker.once('message', () => resolve());
      this.#worker.once('error', reject);
      this.#worker.once('exit', (code) => reject(new Error(`DSP worker exited with code ${code}`)));
    });
    this.#worker.on('message', (batch: DspOut[] | { ready: true }) => {
      if (!Array.isArray(batch)) return;
      for (const o of batch) {
        const cb = this.#outputs.get(o.id);
        if (!cb) continue; // dropped meanwhile
        if (o.last) this.#outputs.delete(o.id);
        if (o.error)
          this.#log.warn({ err: o.error }, 'DSP worker could not resample a reply; its audio in the worker is lost');
        cb(o.samples, o.last);
      }
    });
    this.#worker.on('error', (err) => this.#died(err.message));
    this.#worker.on('exit', (code) => this.#died(`exited with code ${code}`));
  }

  /**
   * The worker is gone (an uncaught error, or it exited): new replies fall back to WAV at the agent rate
   * (`open` returns undefined), and every stream still open is completed with an empty last output, or its
   * reply would wait for its tail forever (a PlayoutQueue would hold every later reply back).
   */
  #died(reason: string): void {
    if (!this.#alive) return; // 'exit' follows 'error'; or close()
    this.#alive = false;
    this.#ops = [];
    this.#transfer = [];
    this.#log.error(
      { err: reason, open: this.#outputs.size },
      'DSP worker failed; replies fall back to WAV at the agent rate',
    );
    const pending = [...this.#outputs.values()];
    this.#outputs.clear();
    for (const cb of pending) {
      try {
        cb(new Int16Array(0), true);
      } catch (err) {
        this.#log.error({ err: errorText(err) }, 'completing a resampling stream failed');
      }
    }
  }

  /** Resolves once the worker has created its first converters. */
  ready(): Promise<void> {
    return this.#ready;
  }

  open(inRate: number, outRate: number, onOutput: ResampleOutput): ResampleStream | undefined {
    if (!this.#alive || this.#outputs.size >= this.#max) return undefined;
    const id = this.#nextId++;
    this.#outputs.set(id, onOutput);
    this.#queue({ t: 'open', id, inRate, outRate });
    let done = false;
    return {
      push: (samples) => {
        if (done || !this.#alive) return;
        const copy = samples.slice(); // the caller's buffer may be a slice of a shared pool: send our own
        this.#queue({ t: 'push', id, samples: copy }, copy.buffer);
      },
      end: () => {
        if (done) return;
        done = true;
        if (this.#alive) this.#queue({ t: 'end', id });
      },
      drop: () => {
        if (done) return;
        done = true;
        this.#outputs.delete(id);
        if (this.#alive) this.#queue({ t: 'drop', id });
      },
    };
  }

  #queue(op: DspOp, buffer?: ArrayBuffer): void {
    this.#ops.push(op);
    if (buffer) this.#transfer.push(buffer);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // Everything queued during this turn of the event loop goes in one message.
    queueMicrotask(() => {
      this.#flushQueued = false;
      const ops = this.#ops;
      const transfer = this.#transfer;
      this.#ops = [];
      this.#transfer = [];
      if (this.#alive && ops.length) this.#worker.postMessage(ops, transfer);
    });
  }

  async close(): Promise<void> {
    this.#alive = false; // before terminate(): its 'exit' is no failure, and no stream is left to complete
    this.#outputs.clear();
    await this.#worker.terminate();
  }
}

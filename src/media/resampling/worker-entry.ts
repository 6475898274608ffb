/**
 * The DSP worker thread: resamples agent audio for playback so neither the filtering nor the creation of WASM
 * converters (synchronous, milliseconds each: see README Performance) runs on the event loop.
 * Protocol (see worker-resampling.ts): batches of ops in, batches of outputs out, typed arrays transferred.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ResamplerPools } from './converter-pool.ts';
import type { Resampler, ConverterName } from './converter.ts';
import type { DspOp, DspOut } from './worker-resampling.ts';

// The cap on converters is enforced where a reply can still fall back (WorkerResampling.open, main thread).
const { converter, warm } = workerData as { converter: ConverterName; warm: Array<[number, number, number]> };
const pools = new ResamplerPools({ converter, minSpare: 2, max: Number.MAX_SAFE_INTEGER });
const streams = new Map<number, Resampler>();
const port = parentPort!;

await pools.warm(warm);
port.postMessage({ ready: true });

// Batches are handled one after the other: a batch that has to create a converter holds the next ones.
// A failure is confined to its stream (see `fail`); the catch keeps the chain, and the worker, alive.
let chain: Promise<void> = Promise.resolve();
port.on('message', (ops: DspOp[]) => {
  chain = chain.then(() => handle(ops)).catch((err: unknown) => console.error('DSP worker: batch failed', err));
});

const NOTHING = new Int16Array(0);

async function handle(ops: DspOp[]): Promise<void> {
  const out: DspOut[] = [];
  const transfer: ArrayBuffer[] = [];
  const emit = (id: number, samples: Int16Array, last: boolean) => {
    const copy = samples.slice(); // the converter's output buffer is reused on the next call
    out.push({ id, samples: copy, last });
    transfer.push(copy.buffer);
  };
  /**
   * Stream `id` cannot go on: give its converter back (kept only if it still flushes) and complete the stream
   * at once, empty, with the reason, so the main thread's consumer ends its reply instead of waiting for a
   * tail. Its later ops find no stream and are ignored.
   */
  const fail = (id: number, err: unknown) => {
    const r = streams.get(id);
    streams.delete(id);
    if (r) {
      try {
        pools.get(r.inRate, r.outRate).release(r, false);
      } catch {
        /* it threw while flushing: not kept */
      }
    }
    out.push({ id, samples: NOTHING, last: true, error: err instanceof Error ? err.message : String(err) });
  };
  for (const op of ops) {
    try {
      switch (op.t) {
        case 'open': {
          // Creating a converter here blocks only this thread; the pool keeps spares for the next ones.
          const pool = pools.get(op.inRate, op.outRate);
          const r = pool.tryAcquire() ?? (await pool.acquire());
          if (!r) throw new Error(`no converter for ${op.inRate} → ${op.outRate} Hz`);
          streams.set(op.id, r);
          break;
        }
        case 'push': {
          const r = streams.get(op.id);
          if (r) emit(op.id, r.process(op.samples), false);
          break;
        }
        case 'end': {
          const r = streams.get(op.id);
          if (!r) break;
          const tail = r.flush();
          streams.delete(op.id);
          emit(op.id, tail, true);
          pools.get(r.inRate, r.outRate).release(r, true);
          break;
        }
        case 'drop': {
          const r = streams.get(op.id);
          if (!r) break;
          streams.delete(op.id);
          pools.get(r.inRate, r.outRate).release(r, false);
          break;
        }
      }
    } catch (err) {
      // 'drop': the main thread no longer listens; 'end' may have emitted its tail already (release threw).
      if (op.t !== 'drop' && !out.some((o) => o.id === op.id && o.last)) fail(op.id, err);
    }
  }
  if (out.length) port.postMessage(out, transfer);
}

/**
 * The DSP worker thread: resamples agent audio for playback so neither the filtering (~50 µs per 20 ms of
 * 24 kHz audio) nor the creation of WASM converters (4–12 ms each, synchronous) runs on the event loop.
 * Protocol (see dsp.ts): batches of ops in, batches of outputs out, typed arrays transferred.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ResamplerPools } from './resampler-pools.ts';
import type { Resampler, ConverterName } from './resampler.ts';
import type { DspOp, DspOut } from './dsp.ts';

// The cap on converters is enforced where a reply can still fall back (WorkerResampling.open, main thread).
const { converter, warm } = workerData as { converter: ConverterName; warm: Array<[number, number, number]> };
const pools = new ResamplerPools({ converter, minSpare: 2, max: Number.MAX_SAFE_INTEGER });
const streams = new Map<number, Resampler>();
const port = parentPort!;

await pools.warm(warm);
port.postMessage({ ready: true });

// Batches are handled one after the other: a batch that has to create a converter holds the next ones.
let chain: Promise<void> = Promise.resolve();
port.on('message', (ops: DspOp[]) => {
  chain = chain.then(() => handle(ops));
});

async function handle(ops: DspOp[]): Promise<void> {
  const out: DspOut[] = [];
  const transfer: ArrayBuffer[] = [];
  const emit = (id: number, samples: Int16Array, last: boolean) => {
    const copy = samples.slice(); // the converter's output buffer is reused on the next call
    out.push({ id, samples: copy, last });
    transfer.push(copy.buffer);
  };
  for (const op of ops) {
    switch (op.t) {
      case 'open': {
        // Creating a converter here blocks only this thread; the pool keeps spares for the next ones.
        const pool = pools.get(op.inRate, op.outRate);
        streams.set(op.id, pool.tryAcquire() ?? (await pool.acquire())!);
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
        streams.delete(op.id);
        emit(op.id, r.flush(), true);
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
  }
  if (out.length) port.postMessage(out, transfer);
}

import type { SileroModel } from '../media/silero-model.ts';
import { WINDOW } from './analysis-options.ts';

/** Thrown by speechProbabilities when `stopped()` says so (between windows: a Silero run cannot be interrupted). */
export class AnalysisStoppedError extends Error {}

/** Silero speech probability of each full 256-sample window of `pcm` (8 kHz), in order, one run at a time. */
export async function speechProbabilities(
  model: SileroModel,
  pcm: Int16Array,
  stopped: () => boolean = () => false,
): Promise<Float32Array> {
  const { session, ort } = model;
  const context = 32;
  const input = new Float32Array(context + WINDOW);
  const state = new Float32Array(2 * 128);
  const feeds = {
    input: new ort.Tensor('float32', input, [1, input.length]),
    state: new ort.Tensor('float32', state, [2, 1, 128]),
    sr: new ort.Tensor('int64', BigInt64Array.from([8000n]), [1]),
  };
  const probName = session.outputNames[0] ?? 'output';
  const stateName = session.outputNames[1] ?? 'stateN';
  const n = Math.floor(pcm.length / WINDOW);
  const out = new Float32Array(n);
  for (let w = 0; w < n; w++) {
    if (stopped()) throw new AnalysisStoppedError('analysis stopped');
    input.copyWithin(0, WINDOW); // the last 32 samples of the previous window are the model's context
    for (let i = 0; i < WINDOW; i++) input[context + i] = pcm[w * WINDOW + i]! / 32768;
    const r = await session.run(feeds);
    state.set(r[stateName]!.data as Float32Array);
    out[w] = (r[probName]!.data as Float32Array)[0] ?? 0;
  }
  return out;
}

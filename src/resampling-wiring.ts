/**
 * Chooses where callbridge resamples (a DSP worker thread or inline, per DSP_THREADS and the converter) and
 * warms the converters the first calls need, before any call comes in.
 */
import { availableParallelism } from 'node:os';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { isPooled } from './media/resampling/converter.ts';
import { ResamplerPools } from './media/resampling/converter-pool.ts';
import { InlineResampling } from './media/resampling/inline-resampling.ts';
import type { Resampling } from './media/resampling/resampling.ts';
import { WorkerResampling } from './media/resampling/worker-resampling.ts';
import type { Metrics } from './metrics.ts';

export interface ResamplingWiring {
  resampling: Resampling;
  /** The inline converter pools (absent when a worker resamples): destroyed after `resampling` closes. */
  pools: ResamplerPools | undefined;
}

export async function startResampling(config: Config, metrics: Metrics, logger: Logger): Promise<ResamplingWiring> {
  // Gemini speaks 24 kHz; calls play at 8 (G.711) or 16 kHz. Those converters are created before the first
  // call (creating one is too slow for a reply waiting on it), in the DSP worker or here.
  const warm: Array<[number, number, number]> = [
    [24000, 8000, config.RESAMPLER_POOL_START],
    [24000, 16000, 2],
  ];
  let resampling: Resampling;
  let pools: ResamplerPools | undefined;
  // Speex converters cost less than the messages to a worker (bench/resamplers.ts): `auto` keeps them inline.
  const autoWorker = availableParallelism() > 1 && isPooled(config.RESAMPLER);
  if (config.DSP_THREADS === '1' || (config.DSP_THREADS === 'auto' && autoWorker)) {
    const worker = new WorkerResampling({ converter: config.RESAMPLER, warm, max: config.RESAMPLER_POOL_MAX, logger });
    await worker.ready();
    resampling = worker;
  } else {
    pools = new ResamplerPools({ converter: config.RESAMPLER, max: config.RESAMPLER_POOL_MAX });
    await pools.warm(warm);
    resampling = new InlineResampling(pools);
  }

  if (pools) metrics.converters = () => pools!.stats;
  return { resampling, pools };
}

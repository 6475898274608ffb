/**
 * The pipeline table: each way of answering a call, the rate it wants caller audio at, the vendors (and so
 * the keys) it needs, and how to build its agent for one call. config.ts checks the default pipeline's keys
 * against it at start; CallSession builds every call's agent through `createAgent`.
 */
import { errorText } from '../errors.ts';
import type { Logger } from '../log.ts';
import { loadSileroModel } from '../media/silero-model.ts';
import type { Agent, AgentSettings } from './agent.ts';
import { cartesiaOptions } from './cascade/cartesia-options.ts';
import { CartesiaTts } from './cascade/cartesia-tts.ts';
import { CascadeAgent } from './cascade/cascade-agent.ts';
import { deepgramOptions } from './cascade/deepgram-options.ts';
import { DeepgramStt } from './cascade/deepgram-stt.ts';
import { GeminiLlm, geminiTextOptions } from './cascade/gemini-llm.ts';
import { EchoAgent } from './echo/echo-agent.ts';
import { GeminiLiveAgent, geminiLiveOptions } from './gemini-live/gemini-live-agent.ts';
import type { VendorSettings } from './vendor-settings.ts';
import { neededKeys, PIPELINE_VENDORS, type Pipeline, type VendorEnv } from './vendors.ts';

export { neededKeys, PIPELINES, type Pipeline } from './vendors.ts';

export interface PipelineEntry {
  /** The rate the agent wants caller audio at (FreeSWITCH streams at it). */
  readonly inputRate: 8000 | 16000;
  /** The vendors it uses: their `needs` are the keys the pipeline needs, in this order. */
  readonly vendors: readonly VendorSettings[];
  create(settings: AgentSettings, config: VendorEnv, logger: Logger): Agent;
  /** Loads what every call of this pipeline shares (the cascade's Silero model), so the first call need not. */
  readonly warmUp?: () => Promise<unknown>;
}

export const PIPELINE_TABLE: Readonly<Record<Pipeline, PipelineEntry>> = {
  'gemini-live': {
    inputRate: 16000, // what Gemini Live takes: no resampling of caller audio
    vendors: PIPELINE_VENDORS['gemini-live'],
    create: (settings, config, logger) => new GeminiLiveAgent(geminiLiveOptions(config, settings, logger)),
  },
  cascade: {
    inputRate: 8000, // phone-call STT models like 8 kHz
    vendors: PIPELINE_VENDORS.cascade,
    create: (settings, config, logger) => createCascadeAgent(config, settings, logger),
    warmUp: loadSileroModel,
  },
  echo: {
    inputRate: 8000,
    vendors: PIPELINE_VENDORS.echo,
    create: (_settings, _config, logger) => new EchoAgent({ logger }),
  },
};

/** Needed keys that are not set; a call asking for a pipeline with missing keys gets the echo agent instead. */
export function missingKeys(pipeline: Pipeline, config: Partial<Record<string, unknown>>): string[] {
  return neededKeys(pipeline).filter((k) => !config[k]);
}

/** Start loading, in the background, what the default pipeline's calls share; a failure is left to the first call. */
export function warmUpPipeline(pipeline: Pipeline, logger: Logger): Promise<void> {
  const warmUp = PIPELINE_TABLE[pipeline].warmUp;
  if (warmUp === undefined) return Promise.resolve();
  const t0 = performance.now();
  return warmUp().then(
    () => logger.info({ pipeline, ms: Math.round(performance.now() - t0) }, 'pipeline warmed up'),
    (e: unknown) => logger.warn({ pipeline, err: errorText(e) }, 'warm-up failed'),
  );
}

/** Build the agent for one call. */
export function createAgent(pipeline: Pipeline, settings: AgentSettings, config: VendorEnv, logger: Logger): Agent {
  const missing = missingKeys(pipeline, config as unknown as Record<string, unknown>);
  if (missing.length > 0) {
    logger.warn({ pipeline, missing }, 'this pipeline has no keys configured; the echo agent answers instead');
    return new EchoAgent({ logger });
  }
  return PIPELINE_TABLE[pipeline].create(settings, config, logger);
}

/** The cascade with the configured vendors: Deepgram → Gemini (text) → Cartesia, Silero barge-in. */
export function createCascadeAgent(config: VendorEnv, settings: AgentSettings, logger: Logger): CascadeAgent {
  const sampleRate = PIPELINE_TABLE.cascade.inputRate;
  return new CascadeAgent({
    settings,
    logger,
    sampleRate,
    createStt: () => new DeepgramStt(deepgramOptions(config, settings, sampleRate, logger)),
    llm: new GeminiLlm(geminiTextOptions(config, settings)),
    createTts: () => new CartesiaTts(cartesiaOptions(config, settings, logger)),
    loadVad: loadSileroModel,
    turn: { endOn: config.TURN_END },
    bargeIn: {
      threshold: config.VAD_THRESHOLD,
      minSpeechMs: config.BARGE_IN_MIN_MS,
      silenceDbfs: config.VAD_SILENCE_DBFS,
    },
    apology: config.CASCADE_APOLOGY,
    historyTokens: config.CASCADE_HISTORY_TOKENS,
    toolFiller: { afterMs: config.CASCADE_TOOL_FILLER_MS, text: 'One moment, please.' },
  });
}

/**
 * What one Cartesia connection is opened with (CartesiaTtsOptions), and how a call's options are made from the
 * environment and the call's own settings.
 */
import type { Logger } from '../../log.ts';
import type { AgentSettings } from '../agent.ts';
import type { EnvOf } from '../vendor-settings.ts';
import type { cartesiaSettings } from './cartesia-settings.ts';

export interface CartesiaTtsOptions {
  apiKey: string;
  /** Override of the API endpoint, e.g. 'http://127.0.0.1:PORT' (plain ws) or 'https://api.cartesia.ai'. */
  baseUrl?: string;
  /** e.g. 'sonic-3'. */
  model: string;
  voiceId: string;
  /** Cartesia language code ('en', 'de', ...); a BCP-47 tag is cut to its language. */
  language?: string;
  sampleRate: 8000 | 16000;
  connectTimeoutMs: number;
  /** Longest wait for the first audio of a context, and between chunks once its text is complete. */
  timeoutMs: number;
  /** Ask for word timestamps (used to keep an interrupted reply only as far as heard). Default true. */
  wordTimestamps?: boolean;
  /** Cartesia's max_buffer_delay_ms. Default 0: the text arrives in whole sentences already. */
  maxBufferDelayMs?: number;
  logger: Logger;
}

/** CartesiaTts options for one call: the environment, overridden by the call's settings. */
export function cartesiaOptions(
  env: EnvOf<typeof cartesiaSettings>,
  settings: AgentSettings,
  logger: Logger,
): CartesiaTtsOptions {
  return {
    apiKey: env.CARTESIA_API_KEY ?? '',
    ...(env.CARTESIA_BASE_URL !== undefined ? { baseUrl: env.CARTESIA_BASE_URL } : {}),
    model: env.CARTESIA_MODEL,
    voiceId: settings.cartesiaVoiceId ?? env.CARTESIA_VOICE_ID,
    language: settings.language,
    sampleRate: env.CARTESIA_SAMPLE_RATE,
    connectTimeoutMs: env.CARTESIA_CONNECT_TIMEOUT_MS,
    timeoutMs: env.CARTESIA_TIMEOUT_MS,
    logger,
  };
}

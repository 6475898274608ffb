import { z } from 'zod';
import { PATTERNS } from '../../patterns.ts';
import type { Logger } from '../../log.ts';
import type { AgentSettings } from '../agent.ts';
import type { googleSettings } from '../google-settings.ts';
import { defineVendor, msSetting, type EnvOf } from '../vendor-settings.ts';
import type { GeminiLiveAgentOptions } from './gemini-live-agent.ts';

/** Gemini Live: the model, how long a session may take to open; a call may choose its own model. */
export const geminiLiveSettings = defineVendor({
  name: 'gemini-live',
  env: {
    GEMINI_LIVE_MODEL: z.string().regex(PATTERNS.model).default('gemini-3.1-flash-live-preview'),
    GEMINI_CONNECT_TIMEOUT_MS: msSetting(500, 60000).default(8000),
  },
  needs: ['GOOGLE_API_KEY'],
  overrides: [{ section: 'gemini', key: 'model', schema: z.string().regex(PATTERNS.model), setting: 'geminiModel' }],
});

/** GeminiLiveAgent options for one call: the environment, overridden by the call's settings. */
export function geminiLiveOptions(
  env: EnvOf<typeof geminiLiveSettings> & EnvOf<typeof googleSettings>,
  settings: AgentSettings,
  logger: Logger,
): GeminiLiveAgentOptions {
  return {
    apiKey: env.GOOGLE_API_KEY ?? '',
    model: settings.geminiModel ?? env.GEMINI_LIVE_MODEL,
    baseUrl: env.GEMINI_BASE_URL,
    connectTimeoutMs: env.GEMINI_CONNECT_TIMEOUT_MS,
    settings,
    logger,
  };
}

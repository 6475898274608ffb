import { z } from 'zod';
import { PATTERNS } from '../../patterns.ts';
import { defineVendor, msSetting } from '../vendor-settings.ts';

/** How much the text model thinks before answering (see GeminiLlmOptions.thinking). */
export const GEMINI_THINKING = ['default', 'off', 'minimal', 'low', 'medium', 'high'] as const;
export type GeminiThinking = (typeof GEMINI_THINKING)[number];

/** Gemini text, the cascade's language model (key and endpoint: google-settings.ts); a call may pick the model. */
export const geminiTextSettings = defineVendor({
  name: 'gemini-text',
  env: {
    /** Gemini text model for the cascade (key and endpoint: GOOGLE_API_KEY, GEMINI_BASE_URL). */
    GEMINI_TEXT_MODEL: z.string().regex(PATTERNS.model).default('gemini-flash-latest'),
    /** Thinking: minimal/low/medium/high (Gemini 3 thinkingLevel), off (budget 0, Gemini 2.5), default. */
    GEMINI_TEXT_THINKING: z.enum(GEMINI_THINKING).default('minimal'),
    /** Longest wait for the model's first token and between chunks; beyond it the request is retried once, ms. */
    GEMINI_TEXT_TIMEOUT_MS: msSetting(500, 60000).default(6000),
  },
  needs: ['GOOGLE_API_KEY'],
  overrides: [{ section: 'cascade', key: 'llm_model', schema: z.string().regex(PATTERNS.model), setting: 'llmModel' }],
});

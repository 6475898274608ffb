import { z } from 'zod';
import { PATTERNS } from '../../patterns.ts';
import { defineVendor, msSetting } from '../vendor-settings.ts';

/** Thinking levels a Live model may take (Gemini 3.1 Live); Gemini 3.8 Live refuses any. */
export const LIVE_THINKING_LEVELS = ['minimal', 'low', 'medium', 'high'] as const;

const tokens = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const flag = z.enum(['true', 'false']).transform((v) => v === 'true');

/**
 * Gemini Live: the model, how long a session may take to open, how long calls outlive each connection
 * (context compression, resumption, keepalive); a call may choose its own model.
 */
export const geminiLiveSettings = defineVendor({
  name: 'gemini-live',
  env: {
    GEMINI_LIVE_MODEL: z.string().regex(PATTERNS.model).default('gemini-3.8-live'),
    GEMINI_CONNECT_TIMEOUT_MS: msSetting(500, 60000).default(8000),
    GEMINI_THINKING_LEVEL: z.enum(LIVE_THINKING_LEVELS).optional(),
    GEMINI_PROACTIVE_AUDIO: flag.optional(),
    GEMINI_COMPRESSION_TRIGGER_TOKENS: tokens(1000, 1_000_000).default(64000),
    GEMINI_COMPRESSION_TARGET_TOKENS: tokens(500, 1_000_000).default(32000),
    GEMINI_RESUME_BUDGET_MS: msSetting(500, 60000).default(5000),
    GEMINI_RESUME_TRANSPARENT: flag.default(false),
    GEMINI_PING_INTERVAL_MS: msSetting(0, 600000).default(15000),
    GEMINI_DEAD_AFTER_MS: msSetting(0, 3600000).default(60000),
  },
  needs: ['GOOGLE_API_KEY'],
  overrides: [{ section: 'gemini', key: 'model', schema: z.string().regex(PATTERNS.model), setting: 'geminiModel' }],
});

import { z } from 'zod';
import { PATTERNS } from '../../patterns.ts';
import { defineVendor, msSetting } from '../vendor-settings.ts';

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

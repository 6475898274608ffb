import { z } from 'zod';
import { defineVendor } from './vendor-settings.ts';

/** The Google key and endpoint both Gemini adapters (Live and the cascade's text model) use. */
export const googleSettings = defineVendor({
  name: 'google',
  env: {
    GOOGLE_API_KEY: z.string().min(1).optional(),
    GEMINI_API_KEY: z.string().min(1).optional(),
    GEMINI_BASE_URL: z.url().optional(),
  },
  needs: ['GOOGLE_API_KEY'],
  overrides: [],
});

import { z } from 'zod';
import { PATTERNS } from '../../patterns.ts';
import { defineVendor, msSetting } from '../vendor-settings.ts';

/** Cartesia, the cascade's text to speech; a call may choose its own voice. */
export const cartesiaSettings = defineVendor({
  name: 'cartesia',
  env: {
    /** Cartesia key (sent as `Authorization: Bearer KEY`). Required for the cascade. */
    CARTESIA_API_KEY: z.string().min(1).optional(),
    /** Cartesia endpoint override; an http:// URL means plain ws (test fake), https:// means wss. */
    CARTESIA_BASE_URL: z.url().optional(),
    CARTESIA_MODEL: z.string().regex(PATTERNS.model).default('sonic-3'),
    /** Cartesia voice id (default: a stock English female voice for agents). */
    CARTESIA_VOICE_ID: z.string().regex(PATTERNS.voice).default('9626c31c-bec5-4cca-baa8-f8ba9e84c8bc'),
    /** Rate Cartesia renders at; 8000 matches G.711 calls, so their playout need not resample. */
    CARTESIA_SAMPLE_RATE: z
      .enum(['8000', '16000'])
      .default('8000')
      .transform((v) => (v === '8000' ? 8000 : 16000) as 8000 | 16000),
    CARTESIA_CONNECT_TIMEOUT_MS: msSetting(200, 60000).default(5000),
    /** Longest wait for a reply's first audio (and between chunks once its text is complete), ms. */
    CARTESIA_TIMEOUT_MS: msSetting(200, 60000).default(5000),
  },
  needs: ['CARTESIA_API_KEY'],
  overrides: [
    {
      section: 'cascade',
      key: 'cartesia_voice_id',
      schema: z.string().regex(PATTERNS.voice),
      setting: 'cartesiaVoiceId',
    },
  ],
});

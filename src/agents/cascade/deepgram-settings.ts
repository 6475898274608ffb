import { z } from 'zod';
import { PATTERNS } from '../../patterns.ts';
import { defineVendor, msSetting } from '../vendor-settings.ts';

/** Deepgram, the cascade's speech to text; a call may choose its own model. */
export const deepgramSettings = defineVendor({
  name: 'deepgram',
  env: {
    /** Deepgram key (sent as `Authorization: Token KEY`). Required for the cascade. */
    DEEPGRAM_API_KEY: z.string().min(1).optional(),
    /** Deepgram endpoint override (proxy, test fake), e.g. wss://api.eu.deepgram.com or ws://127.0.0.1:PORT. */
    DEEPGRAM_BASE_URL: z.url().optional(),
    /** Live transcription model: nova-3 (general) or nova-2-phonecall (tuned for 8 kHz phone audio). */
    DEEPGRAM_MODEL: z.string().regex(PATTERNS.model).default('nova-3'),
    /** Silence after which Deepgram marks a final `speech_final` (its endpointing), ms. */
    DEEPGRAM_ENDPOINTING_MS: msSetting(10, 5000).default(300),
    /** Gap in words after which Deepgram sends UtteranceEnd, ms (Deepgram's minimum is 1000). */
    DEEPGRAM_UTTERANCE_END_MS: msSetting(1000, 5000).default(1000),
    DEEPGRAM_CONNECT_TIMEOUT_MS: msSetting(200, 60000).default(5000),
    /**
     * Most caller audio per message to Deepgram, ms: frames are joined up to this (fewer, larger WebSocket
     * messages; Deepgram hears a frame at most one frame later). 0 or at most one frame: a message per frame.
     */
    DEEPGRAM_SEND_MS: msSetting(0, 250).default(120),
  },
  needs: ['DEEPGRAM_API_KEY'],
  overrides: [
    { section: 'cascade', key: 'deepgram_model', schema: z.string().regex(PATTERNS.model), setting: 'deepgramModel' },
  ],
});

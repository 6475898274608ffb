import { z } from 'zod';
import { defineVendor, msSetting } from '../vendor-settings.ts';
import { TURN_END_ON } from './turn-taking.ts';

/** The cascade's own settings (turn taking, barge-in, the apology), whatever its vendors. */
export const cascadeSettings = defineVendor({
  name: 'cascade',
  env: {
    /** What ends the caller's turn: Deepgram's speech_final (faster) or UtteranceEnd (fewer cut-offs). */
    TURN_END: z.enum(TURN_END_ON).default('speech_final'),
    /** Silero speech probability counted as speech for barge-in (0..1). */
    VAD_THRESHOLD: z.coerce.number().min(0.05).max(0.99).default(0.5),
    /**
     * Caller audio quieter than this (RMS over 32 ms, dBFS) is silence for barge-in without running Silero: a
     * caller listening in silence costs no model runs. Speech is -45..-10 dBFS; -100 runs Silero on everything.
     */
    VAD_SILENCE_DBFS: z.coerce.number().min(-100).max(-20).default(-60),
    /** Caller speech over the agent needed to interrupt it, ms (coughs and clicks are shorter). */
    BARGE_IN_MIN_MS: msSetting(32, 2000).default(200),
    /**
     * Budget of each model request (system instructions + conversation), estimated tokens (characters / 4):
     * older exchanges are dropped beyond it, so a long call's requests stay as fast and cheap as a short one's.
     */
    CASCADE_HISTORY_TOKENS: z.coerce.number().int().min(500).max(1_000_000).default(8000),
    /** A tool call the model waits on for longer than this gets a short filler ("One moment, please."), ms. */
    CASCADE_TOOL_FILLER_MS: msSetting(100, 30000).default(1200),
    /** Said before hanging up when a vendor fails mid-call (one TTS attempt). */
    CASCADE_APOLOGY: z
      .string()
      .min(1)
      .default(
        "I'm sorry, I'm having technical difficulties and can't continue this call. Please call back later. Goodbye.",
      ),
  },
  needs: [],
  overrides: [],
});

/**
 * Every vendor's settings, for config.ts (the environment variables) and the per-call settings (the
 * overrides). Only zod and types here: reading the configuration loads no vendor SDK.
 */
import { cartesiaSettings } from './cascade/cartesia-settings.ts';
import { deepgramSettings } from './cascade/deepgram-settings.ts';
import { geminiTextSettings } from './cascade/gemini-llm-settings.ts';
import { cascadeSettings } from './cascade/settings.ts';
import { geminiLiveSettings } from './gemini-live/settings.ts';
import { googleSettings } from './google-settings.ts';
import { mergeEnv, overrideSections, type OverrideSettings } from './vendor-settings.ts';

export const VENDORS = [
  googleSettings,
  geminiLiveSettings,
  deepgramSettings,
  geminiTextSettings,
  cartesiaSettings,
  cascadeSettings,
] as const;

/** Every vendor's environment variables, one zod shape (config.ts spreads it into its schema). */
export const VENDOR_ENV = mergeEnv(VENDORS);

/** The `gemini` and `cascade` sections of a per-call settings patch. */
export const VENDOR_OVERRIDES = overrideSections(VENDORS);

/** The AgentSettings fields vendors' per-call overrides set (geminiModel, deepgramModel, ...). */
export type VendorOverrides = OverrideSettings<typeof VENDORS>;

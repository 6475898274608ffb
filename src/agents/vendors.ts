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
import type { z } from 'zod';
import { mergeEnv, overrideSections, type OverrideSettings, type VendorSettings } from './vendor-settings.ts';

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

/** Every vendor's parsed environment variables (a part of Config: what building an agent reads). */
export type VendorEnv = z.output<z.ZodObject<typeof VENDOR_ENV>>;

/** The ways of answering a call. */
export const PIPELINES = ['gemini-live', 'cascade', 'echo'] as const;
export type Pipeline = (typeof PIPELINES)[number];

/**
 * The vendors each pipeline uses: their `needs` are the keys the pipeline needs. Kept here, beside the zod
 * fragments, so that config.ts can check them at start without loading any vendor SDK.
 */
export const PIPELINE_VENDORS: Readonly<Record<Pipeline, readonly VendorSettings[]>> = {
  'gemini-live': [googleSettings, geminiLiveSettings],
  cascade: [deepgramSettings, cartesiaSettings, googleSettings, geminiTextSettings, cascadeSettings],
  echo: [],
};

/** The keys `pipeline` needs, in order, without duplicates. */
export function neededKeys(pipeline: Pipeline): string[] {
  return [...new Set(PIPELINE_VENDORS[pipeline].flatMap((v) => v.needs))];
}

/**
 * The wire shape of per-call settings and how one is laid over another: the zod schemas a callback answer, a
 * profile, POST /calls and the `callbridge_options_b64` channel variable are checked against (snake_case), and
 * `applyPatch`, which merges such a patch into CallSettings (defined here). Where the patches come from: call-settings.ts.
 */
import { z } from 'zod';
import { applyOverrides } from '../agents/vendor-settings.ts';
import type { AgentSettings } from '../agents/agent.ts';
import { PIPELINES, type Pipeline, VENDOR_OVERRIDES, VENDORS } from '../agents/vendors.ts';
import { PATTERNS } from '../patterns.ts';
import { DEFAULT_LIMITS, type LimitSettings } from './call-limits.ts';
import { DEFAULT_DTMF, type DtmfSettings } from './dtmf-collector.ts';
import { mergeToolPatch, TOOL_FIELDS, type ToolPatch } from './tools/tool-config.ts';
import type { CallToolTable } from './tools/tool-table.ts';

/** A call's settings: what its agent gets (AgentSettings) and what callbridge does around it. */
export interface CallSettings extends AgentSettings {
  pipeline: Pipeline;
  /** Outbound campaigns: why we call and what we want; shape the instructions and the first sentence. */
  openingReason?: string;
  objective?: string;
  /** Caller digits and call limits; absent: the built-in defaults (DEFAULT_DTMF, DEFAULT_LIMITS). */
  dtmf?: DtmfSettings;
  limits?: LimitSettings;
  /** The tool settings as the sources gave them, merged field by field (see tools/tool-config.ts). */
  toolPatch?: ToolPatch;
  /** What the call's tool runner needs besides `tools` (URLs, timeouts, the transfer allow-list). */
  toolTable?: CallToolTable;
  /** Record the call (stereo WAV, see call-recording.ts); absent: RECORDING. */
  recording?: boolean;
}

/**
 * Longest free text, in characters, wherever it comes from (API, callback, profile, channel variable): it all
 * ends up in the model's instructions, and an unbounded value would be sent whole to the vendor on every call.
 */
export const TEXT_LIMITS = { systemInstructions: 20000, greeting: 2000, openingReason: 500, objective: 1000 } as const;

/** `dtmf: {interdigit_ms, terminator, barge_in}`: how caller digits are collected (see dtmf-collector.ts). */
export const dtmfPatch = z
  .object({
    interdigit_ms: z.number().int().min(200).max(30000),
    terminator: z.enum(['#', '*', '']),
    barge_in: z.boolean(),
  })
  .partial()
  .strict();

const limitText = z.string().min(1, 'must not be empty').max(500, 'must be at most 500 characters');
/** `limits: {...}`: silence prompts and the longest call (see call-limits.ts); 0 turns a limit off. */
export const limitsPatch = z
  .object({
    silence_timeout_s: z.number().int().min(0).max(3600),
    silence_prompts: z.number().int().min(0).max(10),
    silence_prompt_text: limitText,
    goodbye_text: limitText,
    max_duration_s: z.number().int().min(0).max(86400),
  })
  .partial()
  .strict();

/** What `callbridge_options_b64` carries. */
export const callOptions = z.object({ dtmf: dtmfPatch.optional(), limits: limitsPatch.optional() }).strict();
export type CallOptions = z.infer<typeof callOptions>;

/** A partial set of settings as a callback, a profile or the API may give it (snake_case on the wire). */
export const settingsPatch = z.object({
  system_instructions: z.string().min(1).max(TEXT_LIMITS.systemInstructions).optional(),
  voice: z.string().regex(PATTERNS.voice).optional(),
  language: z.string().regex(PATTERNS.language).optional(),
  pipeline: z.enum(PIPELINES).optional(),
  greeting: z.string().min(1).max(TEXT_LIMITS.greeting).optional(),
  dtmf: dtmfPatch.optional(),
  limits: limitsPatch.optional(),
  recording: z.boolean().optional(),
  // Webhook tools, built-ins to enable, where transfers may go (calls/tools/tool-config.ts).
  ...TOOL_FIELDS,
  // Vendor sections (`gemini: {model}`, `cascade: {deepgram_model, llm_model, cartesia_voice_id}`): each
  // vendor declares its own (agents/vendors.ts).
  ...VENDOR_OVERRIDES,
});
export type SettingsPatch = z.infer<typeof settingsPatch>;

/** The callback answer: a settings patch in which `system_instructions` is required. */
export const callbackAnswer = settingsPatch.extend({
  system_instructions: z.string().min(1).max(TEXT_LIMITS.systemInstructions),
});

export const profilesSchema = z.record(z.string().regex(PATTERNS.voice), settingsPatch);
export type Profiles = z.infer<typeof profilesSchema>;

export function applyPatch(base: CallSettings, p: SettingsPatch): CallSettings {
  return applyOverrides(
    VENDORS,
    {
      ...base,
      ...(p.system_instructions !== undefined && { systemInstructions: p.system_instructions }),
      ...(p.voice !== undefined && { voice: p.voice }),
      ...(p.language !== undefined && { language: p.language }),
      ...(p.pipeline !== undefined && { pipeline: p.pipeline }),
      ...(p.greeting !== undefined && { greeting: p.greeting }),
      ...(p.recording !== undefined && { recording: p.recording }),
      ...(p.dtmf && { dtmf: patchDtmf(base.dtmf ?? DEFAULT_DTMF, p.dtmf) }),
      ...(p.limits && { limits: patchLimits(base.limits ?? DEFAULT_LIMITS, p.limits) }),
      ...withToolPatch(base.toolPatch, p),
    },
    p,
  );
}

export function withToolPatch(base: ToolPatch | undefined, p: ToolPatch): { toolPatch?: ToolPatch } {
  const merged = mergeToolPatch(base, p);
  return merged ? { toolPatch: merged } : {};
}

function patchDtmf(base: DtmfSettings, p: z.infer<typeof dtmfPatch>): DtmfSettings {
  return {
    ...base,
    ...(p.interdigit_ms !== undefined && { interdigitMs: p.interdigit_ms }),
    ...(p.terminator !== undefined && { terminator: p.terminator }),
    ...(p.barge_in !== undefined && { bargeIn: p.barge_in }),
  };
}

function patchLimits(base: LimitSettings, p: z.infer<typeof limitsPatch>): LimitSettings {
  return {
    ...base,
    ...(p.silence_timeout_s !== undefined && { silenceTimeoutS: p.silence_timeout_s }),
    ...(p.silence_prompts !== undefined && { silencePrompts: p.silence_prompts }),
    ...(p.silence_prompt_text !== undefined && { silencePromptText: p.silence_prompt_text }),
    ...(p.goodbye_text !== undefined && { goodbyeText: p.goodbye_text }),
    ...(p.max_duration_s !== undefined && { maxDurationS: p.max_duration_s }),
  };
}

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { JsonSchemaObject, ToolScheduling } from '../../agents/tools/types.ts';
import { errorText, issueLines } from '../../errors.ts';

/**
 * Which tools the model may call on one call, as users give them (TOOLS_FILE, the callback answer, a profile,
 * POST /calls): webhook tools (`tools`), the built-ins to enable (`builtin_tools`) and where transfer_call may
 * send the caller (`transfer_targets`). Everything here is bounded: each definition is sent to the model on
 * every call and its arguments are checked on every tool call.
 */

export const BUILTIN_TOOLS = ['end_call', 'transfer_call', 'send_dtmf'] as const;
export type BuiltinTool = (typeof BUILTIN_TOOLS)[number];

export const TOOL_LIMITS = {
  /** Tools per call, built-ins included (vendors slow down and choose worse with long tool lists). */
  perCall: 16,
  description: 1024,
  /** The `parameters` JSON Schema, serialized (UTF-8 bytes). */
  parametersBytes: 8192,
  url: 2048,
  timeoutMs: { min: 100, max: 30000, default: 5000 },
  transferTargets: 32,
} as const;

export const TOOL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;

/**
 * Where a transfer may go: a phone number (dialed through the call's gateway) or a SIP URI `sip:user@host[:port]`.
 * Nothing that could alter a FreeSWITCH command (no spaces, commas, braces, quotes, `;` parameters).
 */
export const TRANSFER_TARGET = /^(\+?[0-9]{1,20}|sips?:[A-Za-z0-9_.+*#-]{1,64}@[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?)$/;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON Schema object for a tool's arguments: `type: "object"`, optional `properties`/`required`, at most 8 KB. */
const parametersSchema = z.record(z.string(), z.unknown()).superRefine((p, ctx) => {
  if (p.type !== 'object') ctx.addIssue({ code: 'custom', message: 'must be a JSON Schema with "type": "object"' });
  if (p.properties !== undefined && !isPlainObject(p.properties))
    ctx.addIssue({ code: 'custom', path: ['properties'], message: 'must be an object of property schemas' });
  if (p.required !== undefined && !(Array.isArray(p.required) && p.required.every((r) => typeof r === 'string')))
    ctx.addIssue({ code: 'custom', path: ['required'], message: 'must be an array of property names' });
  const bytes = Buffer.byteLength(JSON.stringify(p));
  if (bytes > TOOL_LIMITS.parametersBytes)
    ctx.addIssue({
      code: 'custom',
      message: `must be at most ${TOOL_LIMITS.parametersBytes} bytes as JSON (got ${bytes})`,
    });
});

const httpUrl = z
  .string()
  .max(TOOL_LIMITS.url, `must be at most ${TOOL_LIMITS.url} characters`)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');

export const webhookToolSchema = z
  .object({
    name: z
      .string()
      .regex(TOOL_NAME, 'must start with a letter or "_", then letters, digits or "_" (at most 64 characters)')
      .refine((n) => !(BUILTIN_TOOLS as readonly string[]).includes(n), 'is the name of a built-in tool'),
    description: z
      .string()
      .min(1, 'must not be empty')
      .max(TOOL_LIMITS.description, `must be at most ${TOOL_LIMITS.description} characters`),
    parameters: parametersSchema,
    url: httpUrl,
    timeout_ms: z
      .number()
      .int()
      .min(TOOL_LIMITS.timeoutMs.min, `must be at least ${TOOL_LIMITS.timeoutMs.min} ms`)
      .max(TOOL_LIMITS.timeoutMs.max, `must be at most ${TOOL_LIMITS.timeoutMs.max} ms`)
      .default(TOOL_LIMITS.timeoutMs.default),
    behavior: z.enum(['blocking', 'non_blocking']).optional(),
    scheduling: z.enum(['silent', 'when_idle', 'interrupt']).optional(),
  })
  .strict();
export type WebhookToolInput = z.input<typeof webhookToolSchema>;

/** Each name once in a list (the model could not tell two tools of one name apart). */
function unique<T>(name: (item: T) => string, what: string) {
  return (items: readonly T[], ctx: z.RefinementCtx) => {
    const seen = new Set<string>();
    items.forEach((item, i) => {
      const n = name(item);
      if (seen.has(n)) ctx.addIssue({ code: 'custom', path: [i], message: `${what} "${n}" is given twice` });
      seen.add(n);
    });
  };
}

/** The tool fields of a settings patch (callback answer, profile, TOOLS_FILE, POST /calls). */
export const TOOL_FIELDS = {
  tools: z
    .array(webhookToolSchema)
    .max(TOOL_LIMITS.perCall, `at most ${TOOL_LIMITS.perCall} tools per call`)
    .superRefine(unique((t) => t.name, 'tool name'))
    .optional(),
  builtin_tools: z
    .array(z.enum(BUILTIN_TOOLS, { message: `must be one of ${BUILTIN_TOOLS.join(', ')}` }))
    .superRefine(unique((t) => t, 'built-in tool'))
    .optional(),
  transfer_targets: z
    .array(
      z
        .string()
        .regex(
          TRANSFER_TARGET,
          'must be a phone number (digits, optional leading +) or a SIP URI like sip:desk@pbx.example.com',
        ),
    )
    .min(1, 'must list at least one target (leave it out to allow any)')
    .max(TOOL_LIMITS.transferTargets, `at most ${TOOL_LIMITS.transferTargets} targets`)
    .optional(),
};

const toolPatchSchema = z.object(TOOL_FIELDS).strict();
export type ToolPatch = z.output<typeof toolPatchSchema>;
export type WebhookToolSpec = NonNullable<ToolPatch['tools']>[number];

/** Merge a higher-precedence patch over `base`: each field given replaces the lower one whole (as instructions do). */
export function mergeToolPatch(base: ToolPatch | undefined, p: ToolPatch): ToolPatch | undefined {
  if (p.tools === undefined && p.builtin_tools === undefined && p.transfer_targets === undefined) return base;
  return {
    ...base,
    ...(p.tools !== undefined && { tools: p.tools }),
    ...(p.builtin_tools !== undefined && { builtin_tools: p.builtin_tools }),
    ...(p.transfer_targets !== undefined && { transfer_targets: p.transfer_targets }),
  };
}

/** Why `p` holds more tools than a call may have (webhooks and built-ins together), or undefined. */
export function toolCountProblem(p: ToolPatch): string | undefined {
  const webhooks = p.tools?.length ?? 0;
  const builtins = p.builtin_tools?.length ?? 0;
  if (webhooks + builtins <= TOOL_LIMITS.perCall) return undefined;
  return `tools: at most ${TOOL_LIMITS.perCall} tools per call, built-ins included (got ${webhooks} webhook and ${builtins} built-in)`;
}

/** One webhook tool, ready to run. */
export interface WebhookTool {
  readonly name: string;
  readonly description: string;
  readonly parameters: JsonSchemaObject;
  readonly url: string;
  readonly timeoutMs: number;
  readonly behavior?: 'blocking' | 'non_blocking';
  readonly scheduling?: ToolScheduling;
}

export function webhookTool(spec: WebhookToolSpec): WebhookTool {
  return {
    name: spec.name,
    description: spec.description,
    parameters: spec.parameters as unknown as JsonSchemaObject,
    url: spec.url,
    timeoutMs: spec.timeout_ms,
    ...(spec.behavior && { behavior: spec.behavior }),
    ...(spec.scheduling && { scheduling: spec.scheduling }),
  };
}

/**
 * TOOLS_FILE: the default tools of every call, a JSON object with `tools`, `builtin_tools` and/or
 * `transfer_targets`. Read and checked once at start; returns the problems (each naming its field) on failure.
 */
export function loadToolsFile(path: string): { ok: true; patch: ToolPatch } | { ok: false; problems: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    return { ok: false, problems: [`TOOLS_FILE: cannot read ${path} as JSON (${errorText(err)})`] };
  }
  const parsed = toolPatchSchema.safeParse(json);
  if (!parsed.success) return { ok: false, problems: issueLines(parsed.error).map((l) => `TOOLS_FILE: ${l}`) };
  const tooMany = toolCountProblem(parsed.data);
  if (tooMany) return { ok: false, problems: [`TOOLS_FILE: ${tooMany}`] };
  return { ok: true, patch: parsed.data };
}

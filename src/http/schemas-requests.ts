import { z } from '@hono/zod-openapi';
import { PIPELINES } from '../calls/call-settings.ts';
import { TEXT_LIMITS, dtmfPatch, limitsPatch } from '../calls/settings-patch.ts';
import { PATTERNS } from '../patterns.ts';
import { NODE_NAME } from '../freeswitch/nodes.ts';
import { TOOL_FIELDS, TOOL_LIMITS } from '../calls/tools/tool-config.ts';
import { CallStatus } from './schemas-call.ts';

/** What callers send about calls (list query, call id, a new call) and the answers that accept a new call. */

export const ListQuery = z.object({
  status: CallStatus.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z
    .string()
    .regex(/^\d{1,16}(_[0-9A-Za-z-]{1,64})?$/, 'the `next` of the previous page')
    .transform((s) => ({ createdAt: Number(s.split('_')[0]), id: s.split('_')[1] ?? '' }))
    .optional()
    .openapi({
      type: 'string',
      description: 'The `next` of the previous page (`<createdAt>_<id>`; a bare createdAt works too)',
    }),
});

// Any 8-4-4-4-12 hex id: FreeSWITCH uuids, and origination_uuids users choose themselves.
export const CallId = z.object({
  id: z.guid('expected a call id like 8-4-4-4-12 hex digits').openapi({ param: { name: 'id', in: 'path' } }),
});

/** Free text that ends up in the model's instructions: bounded, with a message that says the bound. */
const freeText = (max: number) => z.string().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

export const NewCall = z
  .object({
    to: z
      .string()
      .regex(PATTERNS.phoneNumber, 'must be a phone number: digits with an optional leading +')
      .openapi({ example: '+15551234567' }),
    from: z
      .string()
      .regex(PATTERNS.phoneNumber, 'must be a phone number: digits with an optional leading +')
      .optional()
      .openapi({ description: 'Caller id shown to the callee' }),
    caller_name: z.string().regex(PATTERNS.callerName, 'letters, digits, ".", "_" or "-" only').optional(),
    gateway: z
      .string()
      .regex(PATTERNS.gateway, 'letters, digits, ".", "_" or "-" only')
      .optional()
      .openapi({ description: 'FreeSWITCH gateway; default DEFAULT_GATEWAY' }),
    node: z
      .string()
      .regex(NODE_NAME, 'a FreeSWITCH node name (FREESWITCH_NODES): a-z, 0-9, "_" and "-"')
      .optional()
      .openapi({
        description: 'The FreeSWITCH node to place the call on; default: the connected one with the fewest calls',
      }),
    pipeline: z.enum(PIPELINES).optional(),
    profile: z.string().regex(PATTERNS.voice, 'letters, digits, "_" or "-" only').optional(),
    system_instructions: freeText(TEXT_LIMITS.systemInstructions).optional(),
    voice: z.string().regex(PATTERNS.voice, 'a voice name like Puck').optional(),
    language: z.string().regex(PATTERNS.language, 'a language tag like en-US').optional(),
    greeting: freeText(TEXT_LIMITS.greeting).optional(),
    opening_reason: freeText(TEXT_LIMITS.openingReason)
      .optional()
      .openapi({
        description: `Why we call; shapes the first sentence (at most ${TEXT_LIMITS.openingReason} characters)`,
      }),
    objective: freeText(TEXT_LIMITS.objective)
      .optional()
      .openapi({
        description: `What the call should achieve; added to the instructions (at most ${TEXT_LIMITS.objective} characters)`,
      }),
    timeout_seconds: z
      .number()
      .int()
      .min(5)
      .max(300)
      .optional()
      .openapi({ description: 'Ring time before NO_ANSWER (default ORIGINATE_TIMEOUT_SECONDS)' }),
    recording: z.boolean().optional().openapi({
      description:
        'Record this call (stereo WAV: caller left, agent right); absent: the usual precedence (RECORDING, callback, profile)',
    }),
    dtmf: dtmfPatch
      .optional()
      .describe("Caller digits: {interdigit_ms, terminator ('#', '*' or '' for none), barge_in} (default DTMF_*)"),
    limits: limitsPatch
      .optional()
      .describe(
        'Silence prompts and call length: {silence_timeout_s, silence_prompts, silence_prompt_text, goodbye_text, max_duration_s}; 0 turns a limit off',
      ),
    tools: TOOL_FIELDS.tools
      .unwrap()
      .optional()
      .openapi({
        description: `Webhook tools the agent may call: [{name, description, parameters (JSON Schema object), url, timeout_ms, behavior?, scheduling?}]; at most ${TOOL_LIMITS.perCall} tools per call, built-ins included`,
      }),
    builtin_tools: TOOL_FIELDS.builtin_tools.unwrap().optional().openapi({
      description: 'Built-in tools to enable: end_call, transfer_call, send_dtmf',
    }),
    transfer_targets: TOOL_FIELDS.transfer_targets.unwrap().optional().openapi({
      description: 'Where transfer_call may send the caller (phone numbers, sip: URIs); absent: anywhere valid',
    }),
  })
  .strict()
  .openapi('NewCall');
export type NewCallBody = z.infer<typeof NewCall>;

/**
 * `POST /outbound/call`, the Python SIP agent's outbound API: `phone_number` instead of `to`, every other
 * field as in NewCall (its `opening_reason` and `objective` included).
 */
export const OutboundCall = NewCall.omit({ to: true })
  .extend({ phone_number: NewCall.shape.to })
  .strict()
  .openapi('OutboundCall');
export type OutboundCallBody = z.infer<typeof OutboundCall>;

export const Accepted = z
  .object({ id: z.string(), status: CallStatus, links: z.object({ self: z.string(), events: z.string() }) })
  .openapi('CallAccepted');

export const OutboundAccepted = z
  .object({
    id: z.string(),
    call_id: z.string().openapi({ description: 'The same as id' }),
    status: CallStatus,
    phone_number: z.string(),
    links: z.object({ self: z.string(), events: z.string() }),
  })
  .openapi('OutboundCallAccepted');

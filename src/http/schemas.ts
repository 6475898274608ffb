import { z } from '@hono/zod-openapi';
import { PIPELINES } from '../calls/call-settings.ts';
import { TEXT_LIMITS, dtmfPatch, limitsPatch } from '../calls/settings-patch.ts';
import { BROWSER_TICKET_HEADER } from '../calls/browser-tickets.ts';
import { PATTERNS } from '../patterns.ts';
import { NODE_NAME } from '../freeswitch/nodes.ts';
import { TOOL_FIELDS, TOOL_LIMITS } from '../calls/tools/tool-config.ts';

/** Request and response schemas of the HTTP API. They validate requests and generate /openapi.json. */

export const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string(), details: z.array(z.string()).optional() }) })
  .openapi('Error');

export const TranscriptEntry = z
  .object({
    speaker: z.enum(['caller', 'agent', 'tool']).openapi({
      description: '`tool`: a tool call of the agent, `<name> <args JSON> → ok | <outcome>: <error>` (always final)',
    }),
    text: z.string(),
    at: z.number().int(),
    final: z.boolean(),
  })
  .openapi('TranscriptEntry');

export const ToolCall = z
  .object({
    at: z.number().int().openapi({ description: 'When the tool answered (ms since the epoch)' }),
    name: z.string(),
    args: z.string().openapi({ description: 'The arguments as JSON, cut to 500 characters' }),
    ok: z.boolean(),
    outcome: z.string().openapi({ description: 'ok, error, timeout or cancelled' }),
    durationMs: z.number().int(),
    error: z.string().optional().openapi({ description: 'What the model was told went wrong' }),
  })
  .openapi('ToolCall');

export const ToolCalls = z
  .object({
    count: z.number().int(),
    errors: z.number().int(),
    last: z.array(ToolCall).openapi({ description: 'The latest ones (at most 20), oldest first' }),
  })
  .openapi('ToolCalls', { description: 'Tool calls the agent made (webhooks and built-ins)' });

export const Resumption = z
  .object({
    at: z.number().int().openapi({ description: 'When the new connection was ready (ms since the epoch)' }),
    reason: z.string().openapi({ description: 'Why, as the agent said it: goAway, 1011, drop, idle, …' }),
    durationMs: z.number().int().openapi({ description: 'Old connection lost (or switch decided) → new one ready' }),
  })
  .openapi('Resumption');

export const Resumptions = z
  .object({
    count: z.number().int(),
    totalMs: z.number().int(),
    maxMs: z.number().int(),
    last: z.array(Resumption).openapi({ description: 'The latest ones (at most 10), oldest first' }),
  })
  .openapi('Resumptions', {
    description:
      'Vendor connections the agent replaced mid-call without the caller noticing (a resumed Gemini Live session, a reopened STT or TTS socket)',
  });

const ms = (description: string) => z.number().int().optional().openapi({ description });

export const HeardTurn = z
  .object({
    callerStartMs: ms('Caller utterance start (ms from the start of the recording)'),
    callerEndMs: ms('Caller utterance end; absent on the opening reply'),
    agentStartMs: ms('First agent audio after the caller stopped; absent: the caller spoke again (or hung up) first'),
    heardLatencyMs: ms('callerEndMs → agentStartMs: how long the caller waited'),
    agentEndMs: ms("The reply's last audio (before 1 s of silence, the caller talking over it, or the end)"),
    bargeInStopMs: ms('This utterance started over agent audio: its start → the agent audio stopped'),
    gaps: z.number().int().openapi({ description: 'Silences over 40 ms inside the reply' }),
    insertedSilenceMs: z.number().int().openapi({ description: 'Their sum' }),
    worstGapMs: z.number().int().openapi({ description: 'The longest' }),
  })
  .openapi('HeardTurn', { description: 'One reply as the caller heard it, from the call recording' });

export const HeardSummary = z
  .object({
    turns: z.number().int(),
    latencyP50Ms: ms('Heard latency, median over turns'),
    latencyMaxMs: ms('Heard latency, worst turn'),
    bargeIns: z.number().int(),
    bargeInStopP50Ms: ms('Barge-in stop time, median'),
    bargeInStopMaxMs: ms('Barge-in stop time, worst'),
    insertedSilenceMs: z.number().int(),
    worstGapMs: z.number().int(),
    audioMs: z.number().int().openapi({ description: 'Length of the recording analysed' }),
  })
  .openapi('HeardSummary', { description: 'Ear-level figures of the whole call, from its recording' });

export const CallTurns = z
  .object({
    id: z.string(),
    analysed: z.boolean().openapi({ description: 'False until the recording is analysed (or without one)' }),
    heard: HeardSummary.optional(),
    turns: z.array(
      z.object({
        pipeline: z
          .record(z.string(), z.number())
          .optional()
          .openapi({ description: "The reply's pipeline marks: ms from its first mark to each stage" }),
        heard: HeardTurn.optional(),
      }),
    ),
  })
  .openapi('CallTurns');

export const CallStatus = z
  .enum(['queued', 'dialing', 'ringing', 'answered', 'completed', 'failed', 'busy', 'no-answer'])
  .openapi('CallStatus');

export const Call = z
  .object({
    id: z.string().openapi({ example: '787d3c8b-4aa7-4235-a756-42ff57a23fdc' }),
    direction: z.enum(['inbound', 'outbound']),
    from: z.string(),
    to: z.string(),
    gateway: z.string().optional(),
    node: z.string().optional().openapi({ description: 'The FreeSWITCH node carrying the call (FREESWITCH_NODES)' }),
    owner: z
      .string()
      .optional()
      .openapi({ description: 'Cluster mode (REDIS_URL): the callbridge instance (INSTANCE_ID) carrying the call' }),
    pipeline: z.string(),
    status: CallStatus,
    createdAt: z.number().int(),
    dialedAt: z.number().int().optional(),
    ringingAt: z.number().int().optional(),
    answeredAt: z.number().int().optional(),
    endedAt: z.number().int().optional(),
    hangupCause: z
      .string()
      .optional()
      .openapi({ description: "FreeSWITCH's hangup cause as it came (USER_BUSY, NO_ANSWER, …)" }),
    endReason: z
      .string()
      .optional()
      .openapi({ description: 'Why the call ended, in words (`agent failed: <cause>` when the agent gave up)' }),
    voice: z.string().optional(),
    language: z.string().optional(),
    openingReason: z.string().optional(),
    objective: z.string().optional(),
    turns: z
      .array(z.record(z.string(), z.number()))
      .openapi({ description: 'Per reply: ms from the first pipeline mark to each stage' }),
    transcript: z.array(TranscriptEntry),
    resumptions: Resumptions,
    tools: ToolCalls.optional(),
    recording: z
      .object({
        status: z.enum(['recording', 'complete', 'failed', 'deleted']),
        reason: z.string().optional().openapi({ description: 'Why there is no recording (failed)' }),
        durationMs: z.number().int().optional(),
        bytes: z.number().int().optional(),
      })
      .optional()
      .openapi({ description: 'Absent when the call was not to be recorded; the file: GET /calls/{id}/recording' }),
    heard: HeardSummary.optional(),
    heardTurns: z
      .array(HeardTurn)
      .optional()
      .openapi({ description: 'Per reply as heard in the recording (the first 500); see GET /calls/{id}/turns' }),
  })
  .openapi('Call');

export const CallList = z
  .object({
    calls: z.array(Call),
    next: z.string().optional().openapi({ description: 'Pass as `before` for the next page' }),
  })
  .openapi('CallList');

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

export const Health = z
  .object({
    status: z.literal('ok'),
    esl: z.enum(['connected', 'disconnected']),
    freeswitch: z.string().optional().openapi({ description: 'FreeSWITCH version, once connected' }),
    activeCalls: z.number().int(),
    nodes: z
      .array(
        z.object({
          name: z.string(),
          esl: z.enum(['connected', 'disconnected']),
          activeCalls: z.number().int(),
        }),
      )
      .optional()
      .openapi({ description: 'Each FreeSWITCH node (FREESWITCH_NODES): its ESL connection and live calls' }),
  })
  .openapi('Health');

// ---- Web console (routes/console.ts) ----

export const ConsoleSessionState = z
  .object({
    authRequired: z.boolean().openapi({ description: 'API_TOKEN is set: the console must sign in' }),
    authenticated: z.boolean().openapi({ description: 'This request is authorized (bearer token or console cookie)' }),
  })
  .openapi('ConsoleSessionState');

export const ConsoleSignIn = z
  .object({ token: z.string().min(1).max(1024).openapi({ description: 'The API_TOKEN' }) })
  .strict()
  .openapi('ConsoleSignIn');

export const BrowserCall = z
  .object({
    wsUrl: z
      .string()
      .openapi({ description: "FreeSWITCH's SIP WebSocket (BROWSER_SIP_WS_URL)", example: 'ws://127.0.0.1:5066' }),
    target: z.string().openapi({ description: 'The URI to dial (BROWSER_SIP_TARGET)', example: 'sip:agent@127.0.0.1' }),
    ticket: z
      .string()
      .openapi({ description: 'Single-use credential: send it in the INVITE header named by `header`' }),
    header: z.literal(BROWSER_TICKET_HEADER),
    expiresAt: z.number().int().openapi({ description: 'When the ticket stops working (ms since the epoch)' }),
    iceServers: z.array(z.string()).openapi({ description: 'STUN/TURN URLs for WebRTC (BROWSER_ICE_SERVERS)' }),
  })
  .openapi('BrowserCall', { description: 'What the console needs to call the agent from the browser' });

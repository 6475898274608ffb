import { z } from '@hono/zod-openapi';

/** What the API answers about a call: the call itself, its transcript, tool calls, resumptions and heard turns. */

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

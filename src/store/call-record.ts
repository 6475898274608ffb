import type { Speaker } from '../agents/agent.ts';

/**
 * What the calls API shows about a call. Outbound calls go queued → dialing → ringing → answered →
 * completed | failed | busy | no-answer; inbound calls start at answered. The raw FreeSWITCH hangup cause is
 * kept next to the mapped status.
 */
export type CallStatus = 'queued' | 'dialing' | 'ringing' | 'answered' | 'completed' | 'failed' | 'busy' | 'no-answer';

export const FINAL_STATUSES: ReadonlySet<CallStatus> = new Set(['completed', 'failed', 'busy', 'no-answer']);

/**
 * Where a page of calls ends: lists run newest first, ties on createdAt broken by id (descending), so calls
 * created in the same millisecond are neither skipped nor repeated. On the wire: `<createdAt>_<id>`.
 */
export interface PageCursor {
  createdAt: number;
  id: string;
}

export const pageCursor = (r: { createdAt: number; id: string }): string => `${r.createdAt}_${r.id}`;

/** Newest first, then by id descending: the order pages follow. */
export function newestFirst(a: CallRecord, b: CallRecord): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** True when `r` comes after the cursor in that order (belongs to a later page). */
export function afterCursor(r: CallRecord, c: PageCursor): boolean {
  return r.createdAt < c.createdAt || (r.createdAt === c.createdAt && r.id < c.id);
}

export interface TranscriptEntry {
  /** `tool`: a tool call the agent made, with its outcome (one final entry per call, in conversation order). */
  speaker: Speaker | 'tool';
  text: string;
  /** ms since the epoch when the utterance began. */
  at: number;
  final: boolean;
}

/** One vendor connection the agent replaced mid-call without the caller noticing (AgentSink `resumed`). */
export interface Resumption {
  /** ms since the epoch when the new connection was ready. */
  at: number;
  /** Why: goAway, 1011, drop, idle, ... as the agent said it. */
  reason: string;
  /** From losing the old connection (or deciding to switch) to the new one being ready. */
  durationMs: number;
}

/** How often the agent had to replace its vendor connection during the call, and how long it took. */
export interface Resumptions {
  count: number;
  totalMs: number;
  maxMs: number;
  /** The most recent ones, oldest first (at most RESUMPTIONS_KEPT: a day-long call must not grow its record). */
  last: Resumption[];
}

export const RESUMPTIONS_KEPT = 10;

export const noResumptions = (): Resumptions => ({ count: 0, totalMs: 0, maxMs: 0, last: [] });

/** Count one resumption into `r` (in place). */
export function addResumption(r: Resumptions, one: Resumption): void {
  r.count++;
  r.totalMs += one.durationMs;
  r.maxMs = Math.max(r.maxMs, one.durationMs);
  r.last.push(one);
  if (r.last.length > RESUMPTIONS_KEPT) r.last.splice(0, r.last.length - RESUMPTIONS_KEPT);
}

/** One tool call the agent made (AgentSink `runTool`), as the record keeps it: arguments cut, no secrets. */
export interface ToolCallEntry {
  /** ms since the epoch when the tool answered. */
  at: number;
  name: string;
  /** The arguments as JSON, cut to TOOL_ARGS_KEPT characters. */
  args: string;
  ok: boolean;
  /** ok, error, timeout, or cancelled (the model withdrew the call, or the call ended). */
  outcome: string;
  durationMs: number;
  /** What went wrong, as the model was told (cut to 300 characters). */
  error?: string;
}

/** The agent's tool calls: counts over the whole call and the latest ones. */
export interface ToolCalls {
  count: number;
  errors: number;
  /** The most recent ones, oldest first (at most TOOL_CALLS_KEPT). */
  last: ToolCallEntry[];
}

export const TOOL_CALLS_KEPT = 20;
export const TOOL_ARGS_KEPT = 500;

export const noToolCalls = (): ToolCalls => ({ count: 0, errors: 0, last: [] });

/** Count one tool call into `t` (in place). */
export function addToolCall(t: ToolCalls, one: ToolCallEntry): void {
  t.count++;
  if (!one.ok) t.errors++;
  t.last.push(one);
  if (t.last.length > TOOL_CALLS_KEPT) t.last.splice(0, t.last.length - TOOL_CALLS_KEPT);
}

/**
 * The call's recording (calls/call-recording.ts): `recording` from the start command to RECORD_STOP, then
 * `complete` (the file may be fetched) or `failed` (why there is none); `deleted` once removed through the API.
 * The file's path is never kept: it follows from the call id.
 */
export interface RecordingInfo {
  status: 'recording' | 'complete' | 'failed' | 'deleted';
  /** Why there is no recording (`failed`). */
  reason?: string;
  durationMs?: number;
  bytes?: number;
}

export interface CallRecord {
  id: string;
  direction: 'inbound' | 'outbound';
  from: string;
  to: string;
  gateway?: string;
  /** The FreeSWITCH node that carries the call (FREESWITCH_NODES; `default` with one node). */
  node?: string;
  /** Cluster mode (REDIS_URL): the instance (INSTANCE_ID) that carries, or last carried, the call. */
  owner?: string;
  pipeline: string;
  status: CallStatus;
  createdAt: number;
  dialedAt?: number;
  ringingAt?: number;
  answeredAt?: number;
  endedAt?: number;
  /** FreeSWITCH's hangup cause (e.g. NORMAL_CLEARING, USER_BUSY), as it came. */
  hangupCause?: string;
  /** Why callbridge ended or lost the call, in words. */
  endReason?: string;
  voice?: string;
  language?: string;
  openingReason?: string;
  objective?: string;
  /** Per reply, ms from its first pipeline mark to each stage. */
  turns: Array<Record<string, number>>;
  /** Vendor connections replaced mid-call (a resumed Gemini Live session, a reopened STT or TTS socket). */
  resumptions: Resumptions;
  /** The agent's tool calls; absent on records made before tools existed (read back as none). */
  tools?: ToolCalls;
  transcript: TranscriptEntry[];
  /** Ear-level figures from the call's recording, once analysed (absent: no recording, or not yet). */
  heard?: HeardSummary;
  /** Per reply as heard (at most HEARD_TURNS_KEPT), beside the pipeline marks of `turns`. */
  heardTurns?: HeardTurn[];
  /** Absent when the call was not to be recorded. */
  recording?: RecordingInfo;
}

/** Map a FreeSWITCH hangup cause to the final status of a call (answered calls always "completed"). */
export function finalStatus(cause: string | undefined, answered: boolean): CallStatus {
  if (answered) return 'completed';
  switch (cause) {
    case 'USER_BUSY':
      return 'busy';
    case 'NO_ANSWER':
    case 'NO_USER_RESPONSE':
    case 'ORIGINATOR_CANCEL':
    case 'ALLOTTED_TIMEOUT':
      return 'no-answer';
    default:
      return 'failed';
  }
}

/**
 * One agent reply as the caller heard it, from the call's recording (recording/analysis.ts): ms from the
 * recording's first sample. Keyed on the caller utterance it answers; the opening reply has none.
 */
export interface HeardTurn {
  /** The caller utterance before the reply (absent: the agent spoke first, e.g. the greeting). */
  callerStartMs?: number;
  callerEndMs?: number;
  /** First agent audio after the caller stopped (absent: the caller spoke again, or the call ended, first). */
  agentStartMs?: number;
  /** callerEndMs → agentStartMs: how long the caller waited. */
  heardLatencyMs?: number;
  /** The reply's last audio (before a long silence, the caller talking over it, or the end). */
  agentEndMs?: number;
  /** The caller started this utterance over agent audio: caller start → agent audio stopped. */
  bargeInStopMs?: number;
  /** Silences longer than 40 ms inside the reply: how many, their sum and the longest. */
  gaps: number;
  insertedSilenceMs: number;
  worstGapMs: number;
}

/** The heard figures over the whole call (every turn, also those beyond HEARD_TURNS_KEPT). */
export interface HeardSummary {
  turns: number;
  /** Over turns with a heard latency (nearest-rank p50). */
  latencyP50Ms?: number;
  latencyMaxMs?: number;
  bargeIns: number;
  bargeInStopP50Ms?: number;
  bargeInStopMaxMs?: number;
  insertedSilenceMs: number;
  worstGapMs: number;
  /** Length of the recording analysed. */
  audioMs: number;
}

/** Heard turns a record keeps (the first ones): a day-long call must not grow its record without end. */
export const HEARD_TURNS_KEPT = 500;

/** One change of a live call, as the event streams send it. */
export type CallChange =
  | { type: 'status'; status: CallStatus; at: number }
  | { type: 'transcript'; entry: TranscriptEntry }
  | { type: 'turn'; timings: Record<string, number> }
  | { type: 'dtmf'; digits: string; at: number }
  | ({ type: 'resumption'; count: number } & Resumption)
  | ({ type: 'tool'; count: number } & ToolCallEntry)
  | ({ type: 'heard' } & HeardSummary);

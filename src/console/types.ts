/** The shapes the page reads from the API (src/http/schemas.ts, src/store/call-record.ts). */

export type CallStatus = 'queued' | 'dialing' | 'ringing' | 'answered' | 'completed' | 'failed' | 'busy' | 'no-answer';

export const FINAL_STATUSES: ReadonlySet<CallStatus> = new Set(['completed', 'failed', 'busy', 'no-answer']);

export const STATUSES: CallStatus[] = [
  'queued',
  'dialing',
  'ringing',
  'answered',
  'completed',
  'failed',
  'busy',
  'no-answer',
];

/** What the calls list shows: the summary `/events` sends, also a subset of a full record. */
export interface CallSummary {
  id: string;
  direction: 'inbound' | 'outbound';
  from: string;
  to: string;
  pipeline: string;
  status: CallStatus;
  createdAt: number;
  answeredAt?: number;
  endedAt?: number;
  hangupCause?: string;
  endReason?: string;
}

export interface TranscriptEntry {
  speaker: 'caller' | 'agent' | 'tool';
  text: string;
  at: number;
  final: boolean;
}

export interface HeardTurn {
  heardLatencyMs?: number;
}

export interface CallRecord extends CallSummary {
  gateway?: string;
  voice?: string;
  language?: string;
  objective?: string;
  openingReason?: string;
  turns: Array<Record<string, number>>;
  transcript: TranscriptEntry[];
  recording?: { status: 'recording' | 'complete' | 'failed' | 'deleted'; reason?: string; durationMs?: number };
  heardTurns?: HeardTurn[];
}

import { EventEmitter } from 'node:events';
import type { Logger } from '../log.ts';
import type { CallStore } from '../store/call-store.ts';
import {
  FINAL_STATUSES,
  HEARD_TURNS_KEPT,
  addResumption,
  addToolCall,
  afterCursor,
  newestFirst,
  noToolCalls,
  type CallRecord,
  type CallStatus,
  type HeardSummary,
  type HeardTurn,
  type PageCursor,
  type Resumption,
  type ToolCallEntry,
  type TranscriptEntry,
} from '../store/call-record.ts';
import { errorText } from '../errors.ts';

export type CallChange =
  | { type: 'status'; status: CallStatus; at: number }
  | { type: 'transcript'; entry: TranscriptEntry }
  | { type: 'turn'; timings: Record<string, number> }
  | { type: 'dtmf'; digits: string; at: number }
  | ({ type: 'resumption'; count: number } & Resumption)
  | ({ type: 'tool'; count: number } & ToolCallEntry)
  | ({ type: 'heard' } & HeardSummary);

/**
 * The records of every call callbridge knows about, as the calls API reads them: live ones in memory, ended
 * ones in the store. Emits each change (`change` with the record and what changed) for the live event stream.
 */
export class CallBook extends EventEmitter<{ change: [CallRecord, CallChange] }> {
  readonly #live = new Map<string, CallRecord>();
  readonly #store: CallStore | undefined;
  readonly #log: Logger;

  constructor(store: CallStore | undefined, logger: Logger) {
    super();
    this.setMaxListeners(0); // one listener per open event stream
    this.#store = store;
    this.#log = logger;
  }

  add(record: CallRecord): CallRecord {
    record.tools ??= noToolCalls();
    this.#live.set(record.id, record);
    this.emit('change', record, { type: 'status', status: record.status, at: record.createdAt });
    return record;
  }

  get(id: string): CallRecord | undefined {
    return this.#live.get(id) ?? this.#store?.get(id);
  }

  live(id: string): CallRecord | undefined {
    return this.#live.get(id);
  }

  setStatus(id: string, status: CallStatus, patch: Partial<CallRecord> = {}): void {
    const r = this.#live.get(id);
    if (!r || FINAL_STATUSES.has(r.status)) return;
    Object.assign(r, patch);
    if (r.status === status) return;
    r.status = status;
    const at = Date.now();
    if (status === 'dialing') r.dialedAt ??= at;
    if (status === 'ringing') r.ringingAt ??= at;
    if (status === 'answered') r.answeredAt ??= at;
    this.emit('change', r, { type: 'status', status, at });
    if (FINAL_STATUSES.has(status)) this.#finish(r, at);
  }

  transcript(id: string, entry: TranscriptEntry): void {
    const r = this.#live.get(id);
    if (r) this.emit('change', r, { type: 'transcript', entry });
  }

  /** The caller pressed `digits` (one collection: see calls/dtmf-collector.ts). */
  dtmf(id: string, digits: string): void {
    const r = this.#live.get(id);
    if (r) this.emit('change', r, { type: 'dtmf', digits, at: Date.now() });
  }

  turn(id: string, timings: Record<string, number>): void {
    const r = this.#live.get(id);
    if (!r) return;
    r.turns.push(timings);
    this.emit('change', r, { type: 'turn', timings });
  }

  /** The call's agent replaced a vendor connection without the caller noticing. Returns what was recorded. */
  resumed(id: string, info: { reason: string; durationMs: number }): Resumption {
    const { durationMs } = info;
    const ms = Number.isFinite(durationMs) ? Math.max(0, Math.round(durationMs)) : 0;
    // Agents pass short words (goAway, 1011, drop, idle); anything longer is cut, not stored whole.
    const resumption: Resumption = { at: Date.now(), reason: String(info.reason).slice(0, 80), durationMs: ms };
    const r = this.#live.get(id);
    if (!r) return resumption;
    addResumption(r.resumptions, resumption);
    this.emit('change', r, { type: 'resumption', count: r.resumptions.count, ...resumption });
    return resumption;
  }

  /**
   * The agent made a tool call: counted in the record, added to the transcript (speaker `tool`, in
   * conversation order) and reported as a `tool` change. The entry comes already cut (call-tools.ts).
   */
  toolCall(id: string, entry: ToolCallEntry): void {
    const r = this.#live.get(id);
    if (!r) return;
    r.tools ??= noToolCalls();
    addToolCall(r.tools, entry);
    this.emit('change', r, { type: 'tool', count: r.tools.count, ...entry });
    const result = entry.ok ? 'ok' : `${entry.outcome}: ${entry.error ?? ''}`;
    const line: TranscriptEntry = {
      speaker: 'tool',
      text: `${entry.name} ${entry.args} → ${result}`,
      at: entry.at,
      final: true,
    };
    r.transcript.push(line);
    this.emit('change', r, { type: 'transcript', entry: line });
  }

  /**
   * The call's recording has been analysed (recording/analyzer.ts): the heard figures go into its record, live
   * or stored. False when the record no longer exists (pruned, or history off and the call over).
   */
  heard(id: string, analysis: { turns: HeardTurn[]; summary: HeardSummary }): boolean {
    const apply = (r: CallRecord) => {
      r.heard = { ...analysis.summary };
      r.heardTurns = analysis.turns.slice(0, HEARD_TURNS_KEPT);
    };
    const live = this.#live.get(id);
    if (live) {
      apply(live);
      this.emit('change', live, { type: 'heard', ...analysis.summary });
      return true;
    }
    const stored = this.#store?.get(id);
    if (!stored) return false;
    apply(stored);
    this.#store!.save(stored);
    return true;
  }

  #finish(r: CallRecord, at: number): void {
    r.endedAt ??= at;
    this.#live.delete(r.id);
    try {
      this.#store?.save(r);
    } catch (err) {
      this.#log.error({ call: r.id, err: errorText(err) }, 'could not save the call to history');
    }
  }

  /** Live and stored calls, newest first, filtered and paged (see PageCursor). */
  list(opts: { status?: CallStatus; limit: number; before?: PageCursor }): CallRecord[] {
    const { before } = opts;
    const live = [...this.#live.values()].filter(
      (r) => (!opts.status || r.status === opts.status) && (!before || afterCursor(r, before)),
    );
    const stored = this.#store ? this.#store.list({ status: opts.status, limit: opts.limit, before }) : [];
    const seen = new Set(live.map((r) => r.id));
    return [...live, ...stored.filter((r) => !seen.has(r.id))].sort(newestFirst).slice(0, opts.limit);
  }
}

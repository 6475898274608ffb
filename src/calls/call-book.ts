import { EventEmitter } from 'node:events';
import type { Logger } from '../log.ts';
import type { CallStore, ListOptions } from '../store/call-store.ts';
import { HistoryWriter, type HistoryWriterOptions } from '../store/history-writer.ts';
import {
  FINAL_STATUSES,
  HEARD_TURNS_KEPT,
  addResumption,
  addToolCall,
  afterCursor,
  newestFirst,
  noToolCalls,
  type CallChange,
  type CallRecord,
  type CallStatus,
  type HeardSummary,
  type HeardTurn,
  type Resumption,
  type ToolCallEntry,
  type TranscriptEntry,
} from '../store/call-record.ts';

export type { CallChange } from '../store/call-record.ts';

/** Ended calls whose ids are remembered for `known` (a sync check), most recent kept. */
const ENDED_IDS_KEPT = 10_000;

/**
 * The records of every call callbridge knows about, as the calls API reads them: live ones in memory, ended
 * ones in the store (and in memory until their save went through: see HistoryWriter). Emits each change
 * (`change` with the record and what changed) for the live event stream.
 */
export class CallBook extends EventEmitter<{ change: [CallRecord, CallChange] }> {
  readonly #live = new Map<string, CallRecord>();
  readonly #store: CallStore | undefined;
  readonly #writer: HistoryWriter | undefined;
  readonly #endedIds = new Set<string>();
  /** Updates of ended calls, one at a time per call (read, change, save). */
  readonly #updates = new Map<string, Promise<unknown>>();

  constructor(
    store: CallStore | undefined,
    logger: Logger,
    saving: Omit<HistoryWriterOptions, 'store' | 'logger'> = {},
  ) {
    super();
    this.setMaxListeners(0); // one listener per open event stream
    this.#store = store;
    this.#writer = store && new HistoryWriter({ store, logger, ...saving });
  }

  add(record: CallRecord): CallRecord {
    record.tools ??= noToolCalls();
    this.#live.set(record.id, record);
    this.emit('change', record, { type: 'status', status: record.status, at: record.createdAt });
    return record;
  }

  /** A call, live or ended (from memory while its save is pending, else from the store). */
  async get(id: string): Promise<CallRecord | undefined> {
    return this.#live.get(id) ?? this.#writer?.get(id) ?? (await this.#store?.get(id));
  }

  live(id: string): CallRecord | undefined {
    return this.#live.get(id);
  }

  /**
   * Without asking the store: live, or ended in this process (among the last ENDED_IDS_KEPT). Calls that
   * ended before a restart are not known here; `get` finds them.
   */
  known(id: string): boolean {
    return this.#live.has(id) || this.#endedIds.has(id) || this.#writer?.get(id) !== undefined;
  }

  /** An ended call whose save to the store has not gone through yet. */
  unsaved(id: string): boolean {
    return this.#writer?.get(id) !== undefined;
  }

  /** Saves still waiting, and the writer's counts (saved, retried, lost). */
  get saving(): { pending: number; saved: number; retried: number; lost: number } {
    return { pending: this.#writer?.size ?? 0, ...(this.#writer?.stats ?? { saved: 0, retried: 0, lost: 0 }) };
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
  async heard(id: string, analysis: { turns: HeardTurn[]; summary: HeardSummary }): Promise<boolean> {
    const apply = (r: CallRecord) => {
      r.heard = { ...analysis.summary };
      r.heardTurns = analysis.turns.slice(0, HEARD_TURNS_KEPT);
    };
    const live = this.#live.get(id);
    if (!live) return this.update(id, apply);
    apply(live);
    this.emit('change', live, { type: 'heard', ...analysis.summary });
    return true;
  }

  /**
   * Change a call's record: a live one at once (saved when the call ends), an ended one read, changed and
   * saved again (one update at a time per call). False when there is no such record (pruned, or no history).
   */
  update(id: string, apply: (r: CallRecord) => void): Promise<boolean> {
    const live = this.#live.get(id);
    if (live) {
      apply(live);
      return Promise.resolve(true);
    }
    const next = (this.#updates.get(id) ?? Promise.resolve()).then(() => this.#updateEnded(id, apply));
    const tail = next.catch(() => {});
    this.#updates.set(id, tail);
    void tail.then(() => {
      if (this.#updates.get(id) === tail) this.#updates.delete(id);
    });
    return next;
  }

  async #updateEnded(id: string, apply: (r: CallRecord) => void): Promise<boolean> {
    const record = this.#writer?.get(id) ?? (await this.#store?.get(id));
    if (!record) return false;
    apply(record);
    this.#writer!.save(record);
    return true;
  }

  #finish(r: CallRecord, at: number): void {
    r.endedAt ??= at;
    this.#writer?.save(r);
    this.#live.delete(r.id);
    this.#endedIds.add(r.id);
    if (this.#endedIds.size > ENDED_IDS_KEPT) this.#endedIds.delete(this.#endedIds.values().next().value!);
  }

  /**
   * Drop a live record without ending it (no change, no save): another instance carries the call on (a cluster
   * handover). Returns the record as it was.
   */
  release(id: string): CallRecord | undefined {
    const r = this.#live.get(id);
    this.#live.delete(id);
    return r;
  }

  /** Live and stored calls, newest first, filtered and paged (see PageCursor). */
  async list(opts: ListOptions): Promise<CallRecord[]> {
    const { before, status, limit } = opts;
    // Taken before the store answers: a call ending or saved meanwhile is in one of the two lists.
    const inMemory = [...this.#live.values(), ...(this.#writer?.records() ?? [])].filter(
      (r) => (!status || r.status === status) && (!before || afterCursor(r, before)),
    );
    const stored = this.#store ? await this.#store.list({ status, limit, before }) : [];
    const seen = new Set(inMemory.map((r) => r.id));
    return [...inMemory, ...stored.filter((r) => !seen.has(r.id))].sort(newestFirst).slice(0, limit);
  }

  /** Shutdown: save what still waits (at once, for up to `timeoutMs`). Resolves to how many could not be. */
  close(timeoutMs = 5000): Promise<number> {
    return this.#writer?.flush(timeoutMs) ?? Promise.resolve(0);
  }
}

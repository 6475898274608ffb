import { EventEmitter } from 'node:events';
import type { CallChange } from '../store/call-record.ts';
import { errorText } from '../errors.ts';
import { type CallRecord, FINAL_STATUSES } from '../store/call-record.ts';
import { type ClusterKeys, checkInstanceId, clusterKeys } from './keys.ts';
import type { RedisLink } from './redis-link.ts';

/** A live record as every instance reads it: the call's record plus the instance that wrote it (its owner). */
export type SharedCallRecord = CallRecord & { owner: string };

/** One call change as published on `P:changes`. */
export interface ChangeMessage {
  /** The instance that published it (the call's owner). */
  instance: string;
  id: string;
  change: CallChange;
  call: CallRecord;
}

export interface SharedCallsOptions {
  link: RedisLink;
  instanceId: string;
  prefix: string;
  /** At most one write per call per this many ms (the newest state wins). */
  coalesceMs?: number;
  /** After a failed write, try again this much later. */
  retryMs?: number;
}

export interface SharedCallsStats {
  /** HSETs sent (the coalesced record writes). */
  writes: number;
  writeFailures: number;
  publishes: number;
  /** Calls with a write waiting for its coalescing window (or a retry). */
  pending: number;
}

interface Pending {
  record: CallRecord;
  dirty: boolean;
  lastWriteAt: number;
  timer?: NodeJS.Timeout;
  writing: Promise<void>;
}

const MGET_CHUNK = 1000;

/**
 * The live call records every instance can read (`P:live`: callId → record JSON with `owner`) and the change
 * stream (`P:changes`). put() is cheap to call on every change: a burst of changes to a call becomes at most
 * one write per coalesceMs carrying the newest state, and a final status is written at once. Background writes
 * never reject: a failed one is retried after retryMs (`write-failed` says why). Reads reject when Redis is down.
 */
export class SharedCalls extends EventEmitter<{ 'write-failed': [callId: string, reason: string] }> {
  readonly instanceId: string;
  readonly #link: RedisLink;
  readonly #keys: ClusterKeys;
  readonly #coalesceMs: number;
  readonly #retryMs: number;
  readonly #pending = new Map<string, Pending>();
  #writes = 0;
  #writeFailures = 0;
  #publishes = 0;

  constructor(opts: SharedCallsOptions) {
    super();
    this.instanceId = checkInstanceId(opts.instanceId);
    this.#link = opts.link;
    this.#keys = clusterKeys(opts.prefix);
    this.#coalesceMs = opts.coalesceMs ?? 100;
    this.#retryMs = opts.retryMs ?? 1000;
  }

  /** Share the call's current state (the record is serialised when written, so later mutations are included). */
  put(record: CallRecord): void {
    let p = this.#pending.get(record.id);
    if (!p) {
      p = { record, dirty: false, lastWriteAt: 0, writing: Promise.resolve() };
      this.#pending.set(record.id, p);
    }
    p.record = record;
    p.dirty = true;
    if (FINAL_STATUSES.has(record.status)) {
      this.#writeNow(p);
      return;
    }
    if (p.timer) return; // a write is already due: it will carry this state
    const wait = p.lastWriteAt + this.#coalesceMs - Date.now();
    if (wait <= 0) this.#writeNow(p);
    else this.#writeLater(p, wait);
  }

  /** Write every pending record now. Resolves when done; never rejects. */
  async flush(): Promise<void> {
    const all = [...this.#pending.values()];
    for (const p of all) if (p.dirty) this.#writeNow(p);
    await Promise.all(all.map((p) => p.writing));
  }

  /** Drop the call's live record (its pending write is cancelled). */
  async remove(callId: string): Promise<void> {
    const p = this.#pending.get(callId);
    if (p) {
      clearTimeout(p.timer);
      this.#pending.delete(callId);
      await p.writing; // a write on its way must not land after the delete
    }
    await this.#link.command.hdel(this.#keys.live, callId);
  }

  async get(callId: string): Promise<SharedCallRecord | undefined> {
    const json = await this.#link.command.hget(this.#keys.live, callId);
    return json === null ? undefined : parseRecord(json);
  }

  /** Every live call of every instance (in no particular order). */
  async list(): Promise<SharedCallRecord[]> {
    const all = await this.#link.command.hvals(this.#keys.live);
    return all.map(parseRecord).filter((r): r is SharedCallRecord => r !== undefined);
  }

  /**
   * Live records nobody holds: their claim (`P:claim:<id>`) is gone, or — when the alive instances are given —
   * belongs to an instance not among them. A sweeper claims such a call, then takes it over or ends it.
   */
  async staleIds(aliveInstanceIds?: Iterable<string>): Promise<string[]> {
    const alive = aliveInstanceIds ? new Set(aliveInstanceIds) : undefined;
    const ids = await this.#link.command.hkeys(this.#keys.live);
    const stale: string[] = [];
    for (let i = 0; i < ids.length; i += MGET_CHUNK) {
      const chunk = ids.slice(i, i + MGET_CHUNK);
      const owners = await this.#link.command.mget(chunk.map((id) => this.#keys.claim(id)));
      chunk.forEach((id, j) => {
        const owner = owners[j];
        if (owner === null || owner === undefined || (alive && !alive.has(owner))) stale.push(id);
      });
    }
    return stale;
  }

  /** Tell every instance (this one included, through Redis) what changed. */
  async publish(call: CallRecord, change: CallChange): Promise<void> {
    const msg: ChangeMessage = { instance: this.instanceId, id: call.id, change, call };
    await this.#link.command.publish(this.#keys.changes, JSON.stringify(msg));
    this.#publishes++;
  }

  /**
   * Receive every instance's changes, this instance's own included (they come back through Redis, once each,
   * so all instances see one stream in the order each owner published; skip `msg.instance === instanceId` when
   * the local CallBook already delivers them). Resolves once subscribed, with the function that unsubscribes.
   */
  subscribe(fn: (msg: ChangeMessage) => void): Promise<() => Promise<void>> {
    return this.#link.listen(this.#keys.changes, (json) => {
      const msg = parseChange(json);
      if (msg) fn(msg);
    });
  }

  stats(): SharedCallsStats {
    return {
      writes: this.#writes,
      writeFailures: this.#writeFailures,
      publishes: this.#publishes,
      pending: this.#pending.size,
    };
  }

  /** Cancel pending writes (flush() first to keep them). */
  close(): void {
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    this.#pending.clear();
  }

  #writeLater(p: Pending, ms: number): void {
    p.timer = setTimeout(() => this.#writeNow(p), ms);
    p.timer.unref();
  }

  #writeNow(p: Pending): void {
    clearTimeout(p.timer);
    p.timer = undefined;
    p.lastWriteAt = Date.now(); // the window starts now, so the puts right after this one wait for it
    p.writing = p.writing.then(() => this.#write(p));
  }

  async #write(p: Pending): Promise<void> {
    const id = p.record.id;
    if (!p.dirty || this.#pending.get(id) !== p) return;
    const final = FINAL_STATUSES.has(p.record.status);
    const json = JSON.stringify({ ...p.record, owner: this.instanceId });
    p.dirty = false;
    try {
      await this.#link.command.hset(this.#keys.live, id, json);
      this.#writes++;
      if (final && !p.dirty && !p.timer && this.#pending.get(id) === p) this.#pending.delete(id);
    } catch (e) {
      this.#writeFailures++;
      p.dirty = true;
      this.emit('write-failed', id, errorText(e));
      if (this.#pending.get(id) === p && !p.timer) this.#writeLater(p, this.#retryMs);
    }
  }
}

function parseRecord(json: string): SharedCallRecord | undefined {
  try {
    const v = JSON.parse(json) as SharedCallRecord;
    return v && typeof v.id === 'string' && typeof v.owner === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function parseChange(json: string): ChangeMessage | undefined {
  try {
    const v = JSON.parse(json) as Partial<ChangeMessage>;
    if (typeof v.instance !== 'string' || typeof v.id !== 'string') return undefined;
    if (typeof v.change?.type !== 'string' || typeof v.call?.id !== 'string') return undefined;
    return v as ChangeMessage;
  } catch {
    return undefined;
  }
}

import type { Cluster } from '../cluster/cluster.ts';
import type { ChangeMessage } from '../cluster/shared-calls.ts';
import { errorText } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { ListOptions } from '../store/call-store.ts';
import { FINAL_STATUSES, afterCursor, newestFirst, type CallRecord } from '../store/call-record.ts';
import type { CallBook, CallChange } from './call-book.ts';
import type { CallNodes, ClaimHooks } from './call-nodes.ts';
import { serveAction } from './cluster-actions.ts';
import { routeToOwner } from './cluster-routing.ts';

export { OwnerUnavailableError } from './cluster-routing.ts';

export interface ClusterCallsOptions {
  cluster: Cluster;
  nodes: CallNodes;
  book: CallBook;
  logger: Logger;
  metrics?: Metrics;
  /** How long an action routed to a call's owner waits for its answer (and the owner for its own call). */
  actionTimeoutMs?: number;
}

type Listener = (record: CallRecord, change: CallChange) => void;

/** A handover nudge on the change stream: the draining owner released the call (see cluster-failover.ts). */
export const HANDOVER = 'handover';
/** Longest an ended call stays in `P:live` waiting for its history save. */
const SAVE_WAIT_MS = 10_000;
/** How often the view of other instances' live calls is read whole from Redis. */
const REFRESH_MS = 30_000;
/** How long a call no instance has room for waits before it is refused (instances with room claim at once). */
const REFUSE_AFTER_MS = 1000;

/**
 * Cluster mode (REDIS_URL): the calls of every instance seen from this one. Claims calls before this instance
 * takes them; shares every change of the calls it owns (the record in `P:live`, a summary and the change on
 * `P:changes`); ends a call locally without touching it when its claim went to someone else; answers the API
 * with the live calls of every instance and routes actions on another instance's call to its owner.
 */
export class ClusterCalls {
  readonly instanceId: string;
  readonly #c: Cluster;
  readonly #o: ClusterCallsOptions;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  /** Other instances' live calls as their change stream tells (summaries), refreshed by the failover sweep. */
  readonly #remote = new Map<string, CallRecord>();
  readonly #listeners = new Set<Listener>();
  readonly #nudges = new Set<(callId: string) => void>();
  #unsubscribe: (() => Promise<void>) | undefined;
  /** Ended calls being cleared from Redis (stop() waits for them). */
  readonly #clearing = new Set<Promise<void>>();
  #draining = false;
  #stopped = false;
  #refreshedAt = 0;

  constructor(o: ClusterCallsOptions) {
    this.#o = o;
    this.#c = o.cluster;
    this.instanceId = o.cluster.claims.instanceId;
    this.#log = o.logger.child({ instance: this.instanceId });
    this.#timeoutMs = o.actionTimeoutMs ?? 5000;
  }

  /** What each node's CallManager claims calls with. */
  readonly hooks: ClaimHooks = {
    claim: (id, answered) => this.claim(id, answered),
    unclaim: (id) => void this.#c.claims.release(id).catch(() => {}),
    full: (id, refuse) => this.#refuseUnclaimed(id, refuse),
  };

  /**
   * A parked call this instance has no room for (MAX_CALLS_ACTION=busy): an instance with room claims it at
   * once; if nobody did within a moment, every instance is full, and the one that claims it now refuses it
   * (its claim is left to lapse, so no other refuses it again).
   */
  #refuseUnclaimed(callId: string, refuse: () => void): void {
    const timer = setTimeout(() => {
      if (this.#draining || this.#stopped) return;
      this.#c.claims.claim(callId).then(
        (won) => {
          if (!won) return;
          this.#c.claims.forget(callId);
          refuse();
        },
        () => {},
      );
    }, REFUSE_AFTER_MS);
    timer.unref();
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Stop claiming calls (drain); told to the others through the directory. */
  async drain(): Promise<void> {
    this.#draining = true;
    await this.#c.directory.setDraining(true);
  }

  /**
   * True once this instance owns the call. Never while draining; never for an answered channel another
   * instance carried (its shared record exists: the failover sweep decides, and continues that record).
   */
  async claim(callId: string, answered = false): Promise<boolean> {
    if (this.#draining || this.#stopped) return false;
    const metrics = this.#o.metrics?.clusterClaims;
    try {
      if (answered && (await this.#c.calls.get(callId))) return false;
      const won = await this.#c.claims.claim(callId);
      metrics?.inc({ outcome: won ? 'won' : 'taken' });
      return won;
    } catch (err) {
      metrics?.inc({ outcome: 'error' });
      throw err;
    }
  }

  async start(): Promise<void> {
    const { book } = this.#o;
    book.on('change', this.#share);
    this.#c.claims.on('lost', (id, owner) => void this.#lost(id, owner));
    this.#c.claims.on('lease-expired', (id) =>
      this.#log.warn({ call: id }, 'Redis out of reach for longer than the lease: another instance may take this call'),
    );
    this.#c.calls.on('write-failed', (id, reason) => this.#log.warn({ call: id, reason }, 'shared record not written'));
    this.#unsubscribe = await this.#c.calls.subscribe((msg) => this.#onRemote(msg));
    // Changes published while the subscription was down are lost: read the whole view again.
    this.#c.link.on('up', () => void this.refreshRemote(true).catch(() => {}));
    await this.#c.actions.serve((req) => serveAction(this.#o.nodes, req, this.#timeoutMs));
    await this.refreshRemote().catch(() => {});
  }

  /** Stop sharing and listening (the caller closes the Cluster). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.book.off('change', this.#share);
    await Promise.all([...this.#clearing]);
    await this.#unsubscribe?.().catch(() => {});
    this.#listeners.clear();
  }

  /** Called for every handover nudge another instance sends, with the call handed over (the failover listens). */
  onNudge(fn: (callId: string) => void): void {
    this.#nudges.add(fn);
  }

  /** Tell the others a call is free to take (drain). */
  async nudge(record: CallRecord): Promise<void> {
    await this.#c.calls.publish(summary(record), { type: HANDOVER } as unknown as CallChange);
  }

  /**
   * Replace the view of other instances' live calls with what `P:live` holds (the change stream keeps it
   * current; this catches what a reconnect of the subscription missed). At most every REFRESH_MS unless forced.
   */
  async refreshRemote(force = false): Promise<void> {
    if (!force && Date.now() - this.#refreshedAt < REFRESH_MS) return;
    this.#refreshedAt = Date.now();
    const all = await this.#c.calls.list();
    this.#remote.clear();
    for (const r of all) if (r.owner !== this.instanceId && !FINAL_STATUSES.has(r.status)) this.#remote.set(r.id, r);
  }

  // ---- The API's view (see api-wiring.ts) ----

  /** Live calls of the other instances (for GET /events' snapshot). */
  remoteLive(): CallRecord[] {
    return [...this.#remote.values()].filter((r) => !this.#o.book.live(r.id));
  }

  /** This instance's list merged with every instance's live records: no duplicates, same order and paging. */
  async list(opts: ListOptions): Promise<CallRecord[]> {
    const [local, shared] = await Promise.all([
      this.#o.book.list(opts),
      this.#c.calls.list().catch((err: unknown) => {
        this.#log.warn({ err: errorText(err) }, 'shared live calls unreadable: listing this instance only');
        return [];
      }),
    ]);
    const { status, before, limit } = opts;
    const byId = new Map<string, CallRecord>();
    for (const r of shared) {
      if ((!status || r.status === status) && (!before || afterCursor(r, before))) byId.set(r.id, r);
    }
    for (const r of local) byId.set(r.id, r); // this instance's copy (live here, or ended and saved) wins
    return [...byId.values()].sort(newestFirst).slice(0, limit);
  }

  /** A call live here, live on another instance, or in history. */
  async get(id: string): Promise<CallRecord | undefined> {
    const live = this.#o.book.live(id);
    if (live) return live;
    const shared = await this.#c.calls.get(id).catch(() => undefined);
    return shared ?? (await this.#o.book.get(id));
  }

  subscribe(fn: Listener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * Run an action here when the call is live here, else on its owner (routeToOwner: OwnerUnavailableError when
   * the owner is gone or silent; CallUnavailableError when the owner says the call is not live).
   */
  async route<T>(id: string, action: string, args: unknown, local: () => Promise<T>): Promise<T> {
    if (this.#o.nodes.isLive(id) || this.#o.book.live(id)) return local();
    return routeToOwner(this.#c, this.#timeoutMs, { callId: id, action, args }, local);
  }

  /** Every change of a call this instance owns goes to Redis; a call that ended leaves the shared state. */
  readonly #share = (record: CallRecord, change: CallChange): void => {
    const { claims, calls } = this.#c;
    if (!claims.isOwned(record.id)) return;
    record.owner = this.instanceId;
    calls.put(record);
    calls.publish(summary(record), change).catch(() => {});
    if (change.type === 'status' && FINAL_STATUSES.has(change.status)) {
      // After this listener the book queues the history save; then the call leaves the shared state.
      const clearing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#finished(record.id));
      this.#clearing.add(clearing);
      void clearing.finally(() => this.#clearing.delete(clearing));
    }
  };

  async #finished(id: string): Promise<void> {
    // The others read the ended record from Redis until it is in the (shared) history.
    const until = Date.now() + SAVE_WAIT_MS;
    while (this.#o.book.unsaved(id) && !this.#stopped && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    try {
      await this.#c.calls.remove(id);
      await this.#c.claims.release(id);
    } catch (err) {
      this.#log.warn({ call: id, err: errorText(err) }, 'ended call not cleared from Redis (its lease lapses)');
    }
  }

  /** Another instance owns the call now: stop here without touching the channel (a handover). */
  async #lost(id: string, owner: string | undefined): Promise<void> {
    const session = this.#o.nodes.active.get(id);
    if (!session) return;
    // A lapsed claim nobody took (Redis was out of reach for a while): take it back if we can.
    if (owner === undefined && !this.#draining && (await this.claim(id).catch(() => false))) {
      return void this.#log.warn({ call: id }, 'claim had lapsed: renewed it');
    }
    this.#log.warn({ call: id, owner }, 'call claimed by another instance: handing it over');
    this.#o.metrics?.clusterHandovers.inc();
    await session.end(`handed over to ${owner ?? 'another instance'}`, { handover: true });
  }

  #onRemote(msg: ChangeMessage): void {
    if (msg.instance === this.instanceId) return; // the local book delivered it already
    if ((msg.change.type as string) === HANDOVER) {
      for (const fn of this.#nudges) fn(msg.id);
      return;
    }
    const final = msg.change.type === 'status' && FINAL_STATUSES.has(msg.change.status);
    if (final) this.#remote.delete(msg.id);
    else if (!this.#o.book.live(msg.id)) this.#remote.set(msg.id, msg.call);
    for (const fn of this.#listeners) fn(msg.call, msg.change);
  }
}

/** What the change stream carries of a record: everything but the transcript and per-turn lists. */
export function summary(record: CallRecord): CallRecord {
  const { transcript: _t, turns: _u, heardTurns: _h, ...rest } = record;
  return { ...rest, transcript: [], turns: [] };
}

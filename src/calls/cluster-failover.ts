import type { Cluster } from '../cluster/cluster.ts';
import { clusterKeys } from '../cluster/keys.ts';
import { errorText } from '../errors.ts';
import { ChannelControl } from '../freeswitch/channel-control.ts';
import { listChannels } from '../freeswitch/channel-list.ts';
import { toCallEvent } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { CallBook } from './call-book.ts';
import type { CallNodes } from './call-nodes.ts';
import type { ClusterCalls } from './cluster-calls.ts';
import { CallTakeover } from './cluster-takeover.ts';

export interface ClusterFailoverOptions {
  cluster: Cluster;
  calls: ClusterCalls;
  nodes: CallNodes;
  book: CallBook;
  logger: Logger;
  metrics?: Metrics;
  /** CLUSTER_PREFIX (to read how long a dead owner's claim still has). */
  prefix: string;
}

/**
 * Failover and drain in cluster mode. A sweep (every lease/2, at once when another instance hands a call over
 * or a stream drops on a call that is not ours, and right when a dead owner's claim lapses) looks for live
 * records nobody holds: a call whose channel still exists is claimed and carried on here (the media stream
 * restarted towards this instance, the same record continued, a fresh agent told the conversation so far);
 * one whose channel is gone is ended as failed (`owner lost`) and saved, so no record is left a zombie.
 */
export class ClusterFailover {
  readonly #o: ClusterFailoverOptions;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #takeover: CallTakeover;
  #timer: NodeJS.Timeout | undefined;
  #soon: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #again = false;
  #running = false;
  /** Calls another instance said it handed over (drain), with when it said so. */
  readonly #handedOver = new Map<string, number>();
  /** Calls not ours whose stream dropped, with when: watched for two leases (see #watchSuspects). */
  readonly #suspects = new Map<string, number>();

  constructor(o: ClusterFailoverOptions) {
    this.#o = o;
    this.#log = o.logger.child({ instance: o.calls.instanceId });
    this.#leaseMs = o.cluster.claims.leaseMs;
    this.#takeover = new CallTakeover({ ...o, logger: this.#log });
  }

  start(): void {
    this.#running = true;
    this.#o.calls.onNudge((id) => {
      this.#handedOver.set(id, Date.now());
      if (this.#handedOver.size > 10_000) this.#handedOver.delete(this.#handedOver.keys().next().value!);
      this.sweepSoon();
    });
    for (const node of this.#o.nodes.nodes) {
      node.esl.on('event', (raw) => {
        const e = toCallEvent(raw);
        // A stream that dropped on a call not ours: its owner may have just died or handed it over.
        if (e?.type === 'stream-disconnect' && !this.#o.nodes.isLive(e.uuid)) {
          if (this.#suspects.size < 10_000) this.#suspects.set(e.uuid, Date.now());
          this.sweepSoon();
        }
      });
    }
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    clearTimeout(this.#soon);
  }

  /** A sweep shortly (several reasons at once make one sweep). */
  sweepSoon(delayMs = 20): void {
    if (!this.#running) return;
    clearTimeout(this.#soon);
    this.#soon = setTimeout(() => void this.sweep(), delayMs);
    this.#soon.unref();
  }

  /** One sweep now (one at a time: a sweep asked for meanwhile runs right after). Never rejects. */
  sweep(): Promise<void> {
    if (this.#sweeping) {
      this.#again = true;
      return this.#sweeping;
    }
    this.#sweeping = this.#sweep()
      .catch((err: unknown) => this.#log.warn({ err: errorText(err) }, 'failover sweep failed'))
      .finally(() => {
        this.#sweeping = undefined;
        if (this.#again && this.#running) {
          this.#again = false;
          void this.sweep();
        }
      });
    return this.#sweeping;
  }

  /**
   * SIGTERM with other instances alive: hand every call over (the session stops here without hanging up, its
   * stream is stopped, its claim released) and nudge the others, who take them within moments. False when no
   * other instance can take them (the caller then ends them as a single instance would).
   */
  async handOverAll(): Promise<boolean> {
    const { cluster, calls, nodes, metrics } = this.#o;
    const others = (await cluster.directory.alive()).filter((i) => i.id !== calls.instanceId && !i.draining);
    if (others.length === 0) return false;
    const sessions = [...nodes.active.values()];
    this.#log.info({ calls: sessions.length, to: others.map((i) => i.id) }, 'draining: handing calls over');
    await Promise.all(
      sessions.map(async (session) => {
        const id = session.id;
        const esl = nodes.eslOf(id);
        const record = this.#o.book.live(id);
        await session.end('handed over: this instance is shutting down', { handover: true });
        await new ChannelControl(esl, id).stopStream().catch(() => {});
        await cluster.calls.flush();
        await cluster.claims.release(id).catch(() => {});
        metrics?.clusterHandovers.inc();
        if (record) await calls.nudge(record).catch(() => {});
      }),
    );
    return true;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(
      () => {
        void this.sweep().then(() => this.#schedule());
      },
      Math.floor(this.#leaseMs / 2),
    );
    this.#timer.unref();
  }

  async #sweep(): Promise<void> {
    const { cluster, calls } = this.#o;
    if (calls.draining) return;
    const detectedAt = Date.now();
    const aliveIds = new Set((await cluster.directory.alive()).map((i) => i.id));
    await calls.refreshRemote().catch(() => {});
    const stale = await cluster.calls.staleIds(aliveIds);
    await this.#watchSuspects(stale, aliveIds);
    if (stale.length === 0) return;
    const channels = await this.#channels();
    const waiting: string[] = [];
    for (const id of stale) {
      if (calls.draining || !this.#running) return;
      if (this.#o.nodes.isLive(id)) continue;
      const record = await cluster.calls.get(id);
      if (!record) continue;
      const node =
        this.#o.nodes.node(record.node) ?? (this.#o.nodes.nodes.length === 1 ? this.#o.nodes.nodes[0] : undefined);
      const present = node && channels.get(node.name);
      if (!node || !present) continue; // not a node of ours, or its channels unknown now: not ours to judge
      if (!(await calls.claim(id).catch(() => false))) {
        waiting.push(id); // its dead owner's claim has not lapsed yet
        continue;
      }
      // A handover (drain) counts from the owner's word; a failover from when this sweep found the call.
      const handedAt = this.#handedOver.get(id);
      this.#handedOver.delete(id);
      const reason = handedAt !== undefined ? 'handover' : 'failover';
      if (present.has(id)) await this.#takeover.takeOver(node, record, reason, handedAt ?? detectedAt);
      else await this.#takeover.endLost(record);
    }
    if (waiting.length > 0) await this.#sweepWhenLapsed(waiting);
  }

  /** The uuids of each connected node's live channels (nodes that cannot be listed are left out). */
  async #channels(): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    await Promise.all(
      this.#o.nodes.nodes.map(async (node) => {
        if (!node.esl.connected) return;
        try {
          const rows = await listChannels(node.esl);
          out.set(node.name, new Set(rows.filter((r) => r.callstate !== 'HANGUP').map((r) => r.uuid)));
        } catch (err) {
          this.#log.warn({ node: node.name, err: errorText(err) }, 'could not list channels for failover');
        }
      }),
    );
    return out;
  }

  /**
   * Calls whose stream dropped while their owner still counts as alive (it may have just died): sweep again
   * the moment that owner's directory entry lapses, rather than at the next periodic sweep (up to half a lease
   * later). Suspects that are stale now, ours, gone, or whose owner is gone leave the watch.
   */
  async #watchSuspects(stale: string[], aliveIds: Set<string>): Promise<void> {
    if (this.#suspects.size === 0) return;
    const { cluster, calls } = this.#o;
    for (const id of stale) this.#suspects.delete(id);
    const owners = new Set<string>();
    const watchedSince = Date.now() - 2 * this.#leaseMs;
    for (const [id, at] of [...this.#suspects]) {
      if (at < watchedSince) {
        this.#suspects.delete(id); // its owner kept heartbeating: alive after all
        continue;
      }
      const owner = this.#o.nodes.isLive(id) ? undefined : (await cluster.calls.get(id).catch(() => undefined))?.owner;
      if (!owner || owner === calls.instanceId || !aliveIds.has(owner)) this.#suspects.delete(id);
      else owners.add(owner);
    }
    if (owners.size === 0) return;
    const expiries = await cluster.directory.expiries().catch(() => new Map<string, number>());
    const soonest = Math.min(...[...owners].map((o) => expiries.get(o) ?? Number.POSITIVE_INFINITY));
    if (Number.isFinite(soonest)) this.sweepSoon(soonest + 20);
  }

  /** Claims still held by owners that are gone: sweep again right when the first one lapses. */
  async #sweepWhenLapsed(ids: string[]): Promise<void> {
    const keys = clusterKeys(this.#o.prefix);
    const ttls = await Promise.all(ids.map((id) => this.#o.cluster.link.command.pttl(keys.claim(id)).catch(() => -1)));
    const soonest = Math.min(...ttls.filter((t) => t > 0));
    if (Number.isFinite(soonest)) this.sweepSoon(soonest + 20);
  }
}

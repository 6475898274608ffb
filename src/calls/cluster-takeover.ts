import type { PriorUtterance } from '../agents/agent.ts';
import type { Cluster } from '../cluster/cluster.ts';
import type { SharedCallRecord } from '../cluster/shared-calls.ts';
import { errorText } from '../errors.ts';
import { ChannelControl } from '../freeswitch/channel-control.ts';
import { readChannel } from '../freeswitch/channel-list.ts';
import { channelInfo } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { FINAL_STATUSES, type CallRecord } from '../store/call-record.ts';
import type { CallBook } from './call-book.ts';
import type { CallNode, CallNodes } from './call-nodes.ts';
import { isMarked } from './marker.ts';

export interface CallTakeoverOptions {
  cluster: Cluster;
  nodes: CallNodes;
  book: CallBook;
  metrics?: Metrics;
  /** Already tagged with this instance. */
  logger: Logger;
}

/** The new agent is told at most this much of the conversation so far. */
const PRIOR_ENTRIES = 60;
const PRIOR_CHARS = 8000;

/**
 * What becomes of one live call whose owner is gone, once this instance holds its claim (the failover sweep
 * finds such calls and claims them): carried on here when its channel still exists, else ended as failed.
 */
export class CallTakeover {
  readonly #o: CallTakeoverOptions;

  constructor(o: CallTakeoverOptions) {
    this.#o = o;
  }

  /** Carry the call on here: stop the old stream, start a session on the channel continuing its record. */
  async takeOver(node: CallNode, shared: SharedCallRecord, reason: string, since: number): Promise<void> {
    const { owner, ...record } = shared;
    const id = record.id;
    const log = this.#o.logger.child({ call: id, node: node.name });
    try {
      const dumped = await readChannel(node.esl, id);
      const channel = dumped && channelInfo(dumped);
      if (!channel || channel.uuid !== id || !isMarked(channel)) {
        log.warn('channel of a call to take over is gone or not ours');
        return await this.endLost(shared);
      }
      // After its socket dropped, mod_audio_stream keeps the old bug attached until `stop`.
      await new ChannelControl(node.esl, id).stopStream().catch(() => {});
      log.info({ from: owner, reason }, 'taking the call over');
      const session = await node.calls.adopt(channel, {
        record: record as CallRecord,
        priorConversation: prior(record),
      });
      if (!session) {
        log.warn('takeover did not get the call going');
        if (!this.#o.nodes.isLive(id)) await this.#o.cluster.claims.release(id).catch(() => {});
        return;
      }
      const { durationMs } = this.#o.book.resumed(id, { reason, durationMs: Date.now() - since });
      this.#o.metrics?.clusterTakeovers.inc();
      log.info({ from: owner, reason, durationMs }, 'call taken over');
    } catch (err) {
      log.warn({ err: errorText(err) }, 'takeover failed');
      if (!this.#o.nodes.isLive(id)) await this.#o.cluster.claims.release(id).catch(() => {});
    }
  }

  /**
   * Its owner is gone and so is its channel: ended as failed (`owner lost`) and saved, the usual end of a call
   * here. A record its owner had already ended (it died before clearing it) is saved as it was, not overwritten.
   */
  async endLost(shared: SharedCallRecord): Promise<void> {
    const { owner, ...record } = shared;
    const { book, cluster } = this.#o;
    const id = record.id;
    if (book.live(id)) return void book.setStatus(id, 'failed', { endReason: 'owner lost', endedAt: Date.now() });
    const ended = FINAL_STATUSES.has(record.status) ? record : undefined;
    const saved = await book.get(id).catch(() => undefined);
    if (saved && FINAL_STATUSES.has(saved.status)) {
      await cluster.calls.remove(id).catch(() => {});
      await cluster.claims.release(id).catch(() => {});
      return;
    }
    // Through the book as a live call ending now, so it is shared, saved and cleared like any other.
    book.add({ ...record, status: 'answered' } as CallRecord);
    if (ended) {
      const { status, ...patch } = ended;
      book.setStatus(id, status, patch);
    } else book.setStatus(id, 'failed', { endReason: 'owner lost', endedAt: Date.now() });
    this.#o.logger.warn({ call: id, owner }, 'call of a lost instance ended: its channel is gone');
  }
}

/** What the new agent is told of the conversation so far: the final lines of both sides, the newest kept. */
function prior(record: CallRecord): PriorUtterance[] {
  const lines: PriorUtterance[] = [];
  let chars = 0;
  // Partial lines too: what the caller said last may not have been closed when the owner died.
  const said = record.transcript.filter((e) => e.speaker === 'caller' || e.speaker === 'agent');
  for (const e of said.slice(-PRIOR_ENTRIES).reverse()) {
    chars += e.text.length;
    if (chars > PRIOR_CHARS) break;
    lines.unshift({ speaker: e.speaker as PriorUtterance['speaker'], text: e.text });
  }
  return lines;
}

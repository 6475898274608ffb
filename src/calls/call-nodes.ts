import { version } from '../freeswitch/commands.ts';
import { EslClient } from '../freeswitch/esl.ts';
import type { RawEvent } from '../freeswitch/events.ts';
import type { FreeswitchNode } from '../freeswitch/nodes.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { CallRecord } from '../store/call-record.ts';
import { Admission, type AdmissionSettings } from './admission.ts';
import type { TransferOutcome } from './call-actions.ts';
import type { CallBook } from './call-book.ts';
import type { CallManager, CallManagerDeps } from './call-manager.ts';
import type { CallSession } from './call-session.ts';
import { MEDIA_CLOSE, type MediaAttachResult, type MediaConnection, type MediaRouter } from './media-port.ts';
import { OriginateError, type OriginateRequest } from './outbound-call.ts';

/** One FreeSWITCH node: its ESL connection and the manager of the calls it carries. */
export interface CallNode {
  readonly name: string;
  /** Where this node's mod_audio_stream connects (its calls' stream URLs start with it). */
  readonly wsUrl: string;
  readonly esl: EslClient;
  readonly calls: CallManager;
  /** FreeSWITCH's version, once connected. */
  readonly version: string | undefined;
}

/** One node in GET /health. */
export interface NodeHealth {
  name: string;
  esl: 'connected' | 'disconnected';
  activeCalls: number;
}

/** What a node's CallManager is built with besides the shared settings (see CallNodesOptions.createManager). */
export type NodeManagerDeps = Required<Pick<CallManagerDeps, 'node' | 'esl' | 'logger' | 'admit'>> &
  Pick<CallManagerDeps, 'claim' | 'unclaim'> & {
    wsUrl: string;
  };

/** Cluster mode: how calls are claimed (calls/cluster-calls.ts). */
export type ClaimHooks = Required<Pick<CallManagerDeps, 'claim' | 'unclaim'>> & {
  /**
   * This instance is at MAX_CALLS with MAX_CALLS_ACTION=busy: `refuse` the parked call (once, cluster-wide)
   * if no other instance takes it in a moment.
   */
  full(callId: string, refuse: () => void): void;
};

/** A request to place a call, optionally on a named node (POST /calls `node`). */
export type NodeOriginateRequest = OriginateRequest & { node?: string };

export interface CallNodesOptions {
  nodes: readonly FreeswitchNode[];
  /** Shared by every node's ESL client (FREESWITCH_ESL_PASSWORD, ESL_COMMAND_TIMEOUT_MS, ESL_RECONNECT_MAX_MS). */
  esl: { password: string; commandTimeoutMs: number; reconnectMaxMs: number };
  admission: AdmissionSettings;
  logger: Logger;
  book: CallBook;
  metrics?: Metrics;
  /** Every ESL event of every node, besides its own manager's (the recorder's RECORD_STOP). */
  onEvent?(e: RawEvent): void;
  /**
   * Cluster mode: calls are taken once claimed, and an instance at MAX_CALLS leaves a parked call for the
   * others (whatever MAX_CALLS_ACTION says: another instance may have room).
   */
  cluster?: ClaimHooks;
  /** Build one node's manager around its ESL client, stream URL, name and the shared admission control. */
  createManager(node: NodeManagerDeps): CallManager;
}

class Node implements CallNode {
  readonly name: string;
  readonly wsUrl: string;
  readonly esl: EslClient;
  readonly calls: CallManager;
  version: string | undefined;

  constructor(name: string, wsUrl: string, esl: EslClient, calls: CallManager) {
    this.name = name;
    this.wsUrl = wsUrl;
    this.esl = esl;
    this.calls = calls;
  }
}

/**
 * The FreeSWITCH nodes of this instance (FREESWITCH_NODES): one ESL client and one CallManager each. Routes media
 * sockets and API actions to the node that carries the call, places outbound calls on the connected node with the
 * fewest calls (or the one asked for), holds the admission control shared by all nodes, and reports per node.
 * With a single node (the default) everything goes straight to its manager, as before nodes existed.
 */
export class CallNodes implements MediaRouter {
  readonly nodes: readonly CallNode[];
  readonly admission: Admission;
  readonly #nodes: Node[];
  readonly #byName = new Map<string, Node>();
  readonly #book: CallBook;

  constructor(o: CallNodesOptions) {
    if (o.nodes.length === 0) throw new Error('CallNodes needs at least one FreeSWITCH node');
    this.#book = o.book;
    this.admission = new Admission(o.admission, { liveCalls: () => this.load, logger: o.logger, metrics: o.metrics });
    const { cluster } = o;
    const admit: NodeManagerDeps['admit'] = cluster
      ? (channel, control, log) => {
          if (!this.admission.atCapacity) return 'take';
          if (o.admission.action === 'busy') {
            cluster.full(channel.uuid, () => void this.admission.admit(channel, control, log));
          }
          return 'leave';
        }
      : (channel, control, log) => this.admission.admit(channel, control, log);
    const claims = cluster && { claim: cluster.claim, unclaim: cluster.unclaim };
    const several = o.nodes.length > 1;
    this.#nodes = o.nodes.map(({ name, host, port, wsUrl }) => {
      // With one node, log lines stay as they were; with several, each says which node it is about.
      const logger = several ? o.logger.child({ node: name }) : o.logger;
      const esl = new EslClient({ host, port, logger, ...o.esl });
      if (o.onEvent) esl.on('event', o.onEvent);
      const node = new Node(name, wsUrl, esl, o.createManager({ node: name, esl, logger, admit, wsUrl, ...claims }));
      esl.on('connected', () => {
        o.metrics?.eslConnected.set(this.#connectedCount());
        esl.api(version()).then(
          (v) => (node.version = v.trim()),
          () => {},
        );
      });
      esl.on('disconnected', () => o.metrics?.eslConnected.set(this.#connectedCount()));
      this.#byName.set(name, node);
      return node;
    });
    this.nodes = this.#nodes;
    if (o.metrics) o.metrics.activeCalls = () => this.#activeCount();
  }

  /** Connect every node's ESL client (each reconnects by itself). */
  start(): void {
    for (const n of this.#nodes) n.esl.start();
  }

  /** Calls this instance carries on every node: live sessions and outbound calls being dialled. */
  get load(): number {
    let load = 0;
    for (const n of this.#nodes) load += n.calls.load;
    return load;
  }

  /** The live sessions of every node, by call id. */
  get active(): ReadonlyMap<string, CallSession> {
    if (this.#nodes.length === 1) return this.#nodes[0]!.calls.active;
    const all = new Map<string, CallSession>();
    for (const n of this.#nodes) for (const [id, s] of n.calls.active) all.set(id, s);
    return all;
  }

  isLive(id: string): boolean {
    return this.#nodes.some((n) => n.calls.active.has(id));
  }

  /** The node carrying call `id`: a live session's, else the one its live record names (a call being dialled). */
  nodeOf(id: string): CallNode | undefined {
    const live = this.#nodes.find((n) => n.calls.active.has(id));
    if (live) return live;
    const name = this.#book.live(id)?.node;
    return name === undefined ? undefined : this.#byName.get(name);
  }

  /** The ESL client for commands to call `id` (its node's; the first node's for calls no node carries). */
  eslOf(id: string): EslClient {
    return (this.nodeOf(id) ?? this.#nodes[0]!).esl;
  }

  /**
   * Place a call on `req.node`, or on the connected node with the fewest calls. AtCapacityError at MAX_CALLS;
   * OriginateError 'invalid' for an unknown node, 'unavailable' when the node asked for is not connected.
   */
  async originate(req: NodeOriginateRequest): Promise<CallRecord> {
    const { node: name, ...call } = req;
    this.admission.checkOutbound();
    return this.#placeOn(name).calls.originate(call);
  }

  /** The node named `name` (a call's record names its node). */
  node(name: string | undefined): CallNode | undefined {
    return name === undefined ? undefined : this.#byName.get(name);
  }

  hangup(id: string): Promise<'hanging-up' | 'ended' | 'unknown'> {
    return this.#managerOf(id).hangup(id);
  }

  transfer(id: string, target: string, opts: { method?: 'bridge' | 'refer' } = {}): Promise<TransferOutcome> {
    return this.#managerOf(id).transfer(id, target, opts);
  }

  sendDtmf(id: string, digits: string): Promise<void> {
    return this.#managerOf(id).sendDtmf(id, digits);
  }

  say(id: string, text: string): ReturnType<CallManager['say']> {
    return this.#managerOf(id).say(id, text);
  }

  attach(callId: string, token: string, conn: MediaConnection): MediaAttachResult {
    if (this.#nodes.length === 1) return this.#nodes[0]!.calls.attach(callId, token, conn);
    const owner = this.#nodes.find((n) => n.calls.active.has(callId));
    if (!owner) return { ok: false, code: MEDIA_CLOSE.unknownCall, reason: 'unknown call' };
    return owner.calls.attach(callId, token, conn);
  }

  /** GET /health: connected when every node is; the first version known; calls and ESL state per node. */
  health(): { eslConnected: boolean; freeswitchVersion?: string; activeCalls: number; nodes: NodeHealth[] } {
    const version = this.#nodes.find((n) => n.version !== undefined)?.version;
    return {
      eslConnected: this.#nodes.every((n) => n.esl.connected),
      ...(version !== undefined && { freeswitchVersion: version }),
      activeCalls: this.#activeCount(),
      nodes: this.#nodes.map((n) => ({
        name: n.name,
        esl: n.esl.connected ? 'connected' : 'disconnected',
        activeCalls: n.calls.active.size,
      })),
    };
  }

  /** Stop taking calls on every node, let live ones finish for up to `timeoutMs`, then hang up the rest. */
  async shutdown(timeoutMs: number): Promise<void> {
    await Promise.all(this.#nodes.map((n) => n.calls.shutdown(timeoutMs)));
  }

  /** Close every ESL connection (after `shutdown`). */
  async stop(): Promise<void> {
    await Promise.all(this.#nodes.map((n) => n.esl.stop()));
  }

  #placeOn(name: string | undefined): Node {
    if (name !== undefined) {
      const node = this.#byName.get(name);
      if (!node) {
        const known = this.#nodes.map((n) => n.name).join(', ');
        throw new OriginateError('invalid', `unknown node "${name}": the FreeSWITCH nodes are ${known}`);
      }
      if (!node.esl.connected) throw new OriginateError('unavailable', `FreeSWITCH node "${name}" is not connected`);
      return node;
    }
    let best: Node | undefined;
    for (const n of this.#nodes) {
      if (n.esl.connected && (!best || n.calls.load < best.calls.load)) best = n;
    }
    // None connected: the first node's manager answers as with a single node (not connected).
    return best ?? this.#nodes[0]!;
  }

  #managerOf(id: string): CallManager {
    return (this.nodeOf(id) ?? this.#nodes[0]!).calls;
  }

  #connectedCount(): number {
    return this.#nodes.filter((n) => n.esl.connected).length;
  }

  #activeCount(): number {
    let count = 0;
    for (const n of this.#nodes) count += n.calls.active.size;
    return count;
  }
}

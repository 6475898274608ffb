import { ActionBus } from './action-bus.ts';
import { CallClaims } from './call-claims.ts';
import { InstanceDirectory } from './instance-directory.ts';
import { checkInstanceId, checkLeaseMs, clusterKeys } from './keys.ts';
import { RedisLink } from './redis-link.ts';
import { SharedCalls } from './shared-calls.ts';

export interface ClusterOptions {
  /** REDIS_URL. */
  url: string;
  /** INSTANCE_ID. */
  instanceId: string;
  /** CLAIM_LEASE_MS. */
  leaseMs: number;
  /** CLUSTER_PREFIX. */
  prefix: string;
  /** The instance's live calls right now (for the directory's heartbeat). */
  callCount: () => number;
  /** How long open() waits for Redis before it fails with RedisUnavailableError. */
  readyTimeoutMs?: number;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/**
 * The cluster parts of one instance over one RedisLink. open() connects, joins the directory and starts
 * renewing claims; close() leaves the directory, stops renewal, unsubscribes and closes the connections
 * (claims still held lapse after the lease: release them first when ending calls cleanly).
 */
export class Cluster {
  readonly link: RedisLink;
  readonly claims: CallClaims;
  readonly directory: InstanceDirectory;
  readonly calls: SharedCalls;
  readonly actions: ActionBus;

  private constructor(opts: ClusterOptions) {
    const { instanceId, leaseMs, prefix } = opts;
    checkInstanceId(instanceId);
    checkLeaseMs(leaseMs);
    clusterKeys(prefix);
    this.link = new RedisLink({
      url: opts.url,
      name: instanceId,
      connectTimeoutMs: opts.connectTimeoutMs,
      commandTimeoutMs: opts.commandTimeoutMs,
    });
    const link = this.link;
    this.claims = new CallClaims({ link, instanceId, leaseMs, prefix });
    this.directory = new InstanceDirectory({ link, instanceId, leaseMs, prefix, callCount: opts.callCount });
    this.calls = new SharedCalls({ link, instanceId, prefix });
    this.actions = new ActionBus({ link, instanceId, prefix });
  }

  static async open(opts: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster(opts);
    try {
      await cluster.link.ready(opts.readyTimeoutMs ?? 5000);
      await cluster.directory.start();
      cluster.claims.start();
      return cluster;
    } catch (e) {
      await cluster.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.claims.stop();
    await this.calls.flush();
    this.calls.close();
    await this.directory.leave().catch(() => {});
    await this.actions.close();
    await this.link.close();
  }
}

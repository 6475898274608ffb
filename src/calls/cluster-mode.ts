import { Cluster } from '../cluster/cluster.ts';
import { RedisUnavailableError } from '../cluster/redis-link.ts';
import type { Config } from '../config.ts';
import { StartupError, errorText } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { CallBook } from './call-book.ts';
import type { CallNodes, ClaimHooks } from './call-nodes.ts';
import { ClusterCalls } from './cluster-calls.ts';
import { ClusterFailover } from './cluster-failover.ts';

/**
 * Several callbridge instances sharing FreeSWITCH nodes through Redis (REDIS_URL): how callbridge.ts wires it.
 * open() joins the cluster before the nodes exist (their managers claim calls through `hooks`); attach()
 * starts sharing, serving routed actions and the failover sweep once they do; the API is wrapped to answer
 * for every instance (api-wiring.ts); shutdown() drains (hands calls over when another instance is alive) and leaves.
 */
export class ClusterMode {
  readonly cluster: Cluster;
  readonly #config: Config;
  readonly #logger: Logger;
  #nodes: CallNodes | undefined;
  #calls: ClusterCalls | undefined;
  #failover: ClusterFailover | undefined;
  readonly #load: { nodes?: CallNodes };
  #abandoned = false;

  /** What each node's CallManager claims calls with (usable once attach() ran; no call arrives before). */
  readonly hooks: ClaimHooks = {
    claim: (id, answered) => this.#ready().claim(id, answered),
    unclaim: (id) => this.#ready().hooks.unclaim(id),
    full: (id, refuse) => this.#ready().hooks.full(id, refuse),
  };

  private constructor(cluster: Cluster, config: Config, logger: Logger, load: { nodes?: CallNodes }) {
    this.cluster = cluster;
    this.#load = load;
    this.#config = config;
    this.#logger = logger;
  }

  /** Undefined without REDIS_URL (a single instance); StartupError when Redis cannot be reached. */
  static async open(config: Config, logger: Logger): Promise<ClusterMode | undefined> {
    if (!config.REDIS_URL) return undefined;
    // The directory's heartbeat reports the calls of the nodes attached later.
    const load = { nodes: undefined as CallNodes | undefined };
    let mode: ClusterMode;
    try {
      const cluster = await Cluster.open({
        url: config.REDIS_URL,
        instanceId: config.INSTANCE_ID,
        leaseMs: config.CLAIM_LEASE_MS,
        prefix: config.CLUSTER_PREFIX,
        callCount: () => load.nodes?.load ?? 0,
      });
      mode = new ClusterMode(cluster, config, logger, load);
    } catch (err) {
      if (err instanceof RedisUnavailableError) throw new StartupError(`REDIS_URL: ${err.message}`);
      throw err;
    }
    const { cluster } = mode;
    logger.info(
      { redis: cluster.link.where, instance: config.INSTANCE_ID, leaseMs: config.CLAIM_LEASE_MS },
      'joined the cluster',
    );
    cluster.link.on('down', (reason) => logger.warn({ redis: cluster.link.where, reason }, 'Redis unreachable'));
    cluster.link.on('up', () => logger.info({ redis: cluster.link.where }, 'Redis reachable again'));
    return mode;
  }

  get calls(): ClusterCalls {
    return this.#ready();
  }

  get failover(): ClusterFailover | undefined {
    return this.#failover;
  }

  async attach(deps: { nodes: CallNodes; book: CallBook; metrics?: Metrics }): Promise<void> {
    const { nodes, book, metrics } = deps;
    const logger = this.#logger;
    this.#nodes = nodes;
    this.#load.nodes = nodes;
    const calls = new ClusterCalls({ cluster: this.cluster, nodes, book, logger, metrics });
    this.#calls = calls;
    await calls.start();
    this.#failover = new ClusterFailover({
      cluster: this.cluster,
      calls,
      nodes,
      book,
      logger,
      metrics,
      prefix: this.#config.CLUSTER_PREFIX,
    });
    this.#failover.start();
  }

  /**
   * SIGTERM: stop claiming; hand the calls over when another instance is alive, else `endCalls` (today's
   * drain within SHUTDOWN_TIMEOUT_MS). The cluster is left by close().
   */
  async shutdown(endCalls: () => Promise<void>): Promise<void> {
    this.#failover?.stop();
    const calls = this.#calls;
    if (calls) {
      await calls.drain().catch(() => {});
      const handed = await this.#failover?.handOverAll().catch((err: unknown) => {
        this.#logger.warn({ err: errorText(err) }, 'could not hand calls over: ending them');
        return false;
      });
      if (handed) this.#logger.info('calls handed over to the other instances');
    }
    await endCalls();
  }

  /** Leave the directory, release what is left, close the Redis connections. */
  async close(): Promise<void> {
    if (this.#abandoned) return;
    this.#failover?.stop();
    await this.#calls?.stop();
    await this.cluster.close().catch((err: unknown) => {
      this.#logger.warn({ err: errorText(err) }, 'leaving the cluster failed');
    });
  }

  /**
   * Tests: die as SIGKILL would, as far as the others can tell: no more renewals, heartbeats or writes, the
   * Redis connections dropped; the calls are not ended (the caller also cuts ESL and media).
   */
  async abandon(): Promise<void> {
    this.#abandoned = true;
    this.#failover?.stop();
    await this.#calls?.stop();
    await this.cluster.claims.stop();
    await this.cluster.directory.stop();
    this.cluster.calls.close();
    await this.cluster.actions.close();
    await this.cluster.link.close();
  }

  #ready(): ClusterCalls {
    if (!this.#calls) throw new Error('cluster mode used before attach()');
    return this.#calls;
  }
}

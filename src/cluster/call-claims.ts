import { EventEmitter } from 'node:events';
import { errorText } from '../errors.ts';
import { type ClusterKeys, checkInstanceId, checkLeaseMs, clusterKeys } from './keys.ts';
import { LuaScript, type RedisLink } from './redis-link.ts';

export interface CallClaimsOptions {
  link: RedisLink;
  instanceId: string;
  /** How long a claim lives without renewal (CLAIM_LEASE_MS); renewed every leaseMs/3. */
  leaseMs: number;
  /** CLUSTER_PREFIX. */
  prefix: string;
}

/** Take the call if nobody holds it, or extend our own lease: 1 = ours now, 0 = someone else's. */
const CLAIM = new LuaScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if v then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`);

/** Delete the claim only if it is still ours. */
const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/**
 * Extend every claim still ours. Per key: 1 = renewed, 0 = no key (lapsed), or the other owner's id.
 * Keys we no longer hold are never written.
 */
const RENEW = new LuaScript(`
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  elseif v then
    out[i] = v
  else
    out[i] = 0
  end
end
return out`);

export interface RenewalOutcome {
  renewed: number;
  /** Calls whose claim was gone or someone else's (also emitted as `lost`). */
  lost: string[];
  /** The renewal could not reach Redis (the claims are kept; see `lease-expired`). */
  failed?: string;
}

export interface ClaimStats {
  owned: number;
  renewals: number;
  renewalFailures: number;
}

interface Held {
  /** When Redis last confirmed the claim (ms, local clock). */
  confirmedAt: number;
  /** `lease-expired` already emitted for the current outage. */
  expiredReported: boolean;
}

/**
 * Which instance owns each call: `P:claim:<callId>` holds the owner's id with a lease that the owner renews
 * for all its calls in one round trip every leaseMs/3 (while started). Emits `lost` (callId, new owner or
 * undefined) when a renewal finds the claim gone or someone else's: the session must stop touching the call.
 * A Redis outage is not a loss: the calls are kept and renewal retried; once an outage has lasted longer than
 * the lease (counted from the call's last confirmation), `lease-expired` (callId) is emitted once per call so
 * the owner can decide (another instance may be taking the call over). The set of owned ids is bounded by
 * the instance's live calls: claim when a call starts, release when it ends.
 */
export class CallClaims extends EventEmitter<{
  lost: [callId: string, newOwner: string | undefined];
  'lease-expired': [callId: string];
  'renewal-failed': [reason: string];
}> {
  readonly instanceId: string;
  readonly leaseMs: number;
  readonly #link: RedisLink;
  readonly #keys: ClusterKeys;
  readonly #held = new Map<string, Held>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #renewing: Promise<RenewalOutcome> | undefined;
  #renewals = 0;
  #renewalFailures = 0;

  constructor(opts: CallClaimsOptions) {
    super();
    this.instanceId = checkInstanceId(opts.instanceId);
    this.leaseMs = checkLeaseMs(opts.leaseMs);
    this.#link = opts.link;
    this.#keys = clusterKeys(opts.prefix);
  }

  /** True when this instance owns the call now (newly taken, or already ours: the lease is then extended). */
  async claim(callId: string): Promise<boolean> {
    const ok = await CLAIM.run(this.#link.command, [this.#keys.claim(callId)], [this.instanceId, this.leaseMs]);
    if (ok !== 1) return false;
    this.#held.set(callId, { confirmedAt: Date.now(), expiredReported: false });
    return true;
  }

  /** Stop renewing the call and delete its claim if it is still ours. True when a claim was deleted. */
  async release(callId: string): Promise<boolean> {
    this.#held.delete(callId);
    const n = await RELEASE.run(this.#link.command, [this.#keys.claim(callId)], [this.instanceId]);
    return n === 1;
  }

  /** Stop renewing the call without touching Redis (its claim lapses after the lease). */
  forget(callId: string): void {
    this.#held.delete(callId);
  }

  /** The instance id that owns the call, or undefined when nobody does. */
  async owner(callId: string): Promise<string | undefined> {
    return (await this.#link.command.get(this.#keys.claim(callId))) ?? undefined;
  }

  /** The calls this instance holds (and renews). */
  owned(): string[] {
    return [...this.#held.keys()];
  }

  isOwned(callId: string): boolean {
    return this.#held.has(callId);
  }

  stats(): ClaimStats {
    return { owned: this.#held.size, renewals: this.#renewals, renewalFailures: this.#renewalFailures };
  }

  /** Renew every leaseMs/3 until stop(). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stop renewing (the claims stay in Redis until released or lapsed). Waits for a renewal in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#renewing;
  }

  /** One renewal of every owned claim now (also what the timer runs). Never rejects. */
  renewNow(): Promise<RenewalOutcome> {
    this.#renewing ??= this.#renew().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(
      () => {
        void this.renewNow().then(() => this.#schedule());
      },
      Math.floor(this.leaseMs / 3),
    );
    this.#timer.unref();
  }

  async #renew(): Promise<RenewalOutcome> {
    const ids = this.owned();
    if (ids.length === 0) return { renewed: 0, lost: [] };
    const started = Date.now();
    let reply: unknown;
    try {
      reply = await RENEW.run(
        this.#link.command,
        ids.map((id) => this.#keys.claim(id)),
        [this.instanceId, this.leaseMs],
      );
    } catch (e) {
      return this.#renewalFailed(errorText(e));
    }
    if (!Array.isArray(reply) || reply.length !== ids.length) return this.#renewalFailed('unexpected renewal reply');
    this.#renewals++;
    const out: RenewalOutcome = { renewed: 0, lost: [] };
    ids.forEach((id, i) => {
      const held = this.#held.get(id);
      if (!held) return; // released while the renewal was on its way
      const v: unknown = reply[i];
      if (v === 1) {
        held.confirmedAt = started;
        held.expiredReported = false;
        out.renewed++;
        return;
      }
      this.#held.delete(id);
      out.lost.push(id);
      this.emit('lost', id, typeof v === 'string' ? v : undefined);
    });
    return out;
  }

  #renewalFailed(reason: string): RenewalOutcome {
    this.#renewalFailures++;
    this.emit('renewal-failed', reason);
    const now = Date.now();
    for (const [id, held] of this.#held) {
      if (held.expiredReported || now - held.confirmedAt < this.leaseMs) continue;
      held.expiredReported = true;
      this.emit('lease-expired', id);
    }
    return { renewed: 0, lost: [], failed: reason };
  }
}

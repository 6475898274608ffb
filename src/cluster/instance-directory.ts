import { EventEmitter } from 'node:events';
import { errorText } from '../errors.ts';
import { type ClusterKeys, checkInstanceId, checkLeaseMs, clusterKeys } from './keys.ts';
import { LuaScript, type RedisLink } from './redis-link.ts';

export interface InstanceInfo {
  id: string;
  /** ms since the epoch (the instance's clock). */
  startedAt: number;
  /** Live calls the instance carried at its last heartbeat. */
  calls: number;
  /** Shutting down: takes no new calls. */
  draining: boolean;
  /** ms since the epoch by Redis's clock, so instances with skewed clocks still agree on who is alive. */
  lastSeen: number;
}

export interface InstanceDirectoryOptions {
  link: RedisLink;
  instanceId: string;
  /** An instance not seen for this long is gone; heartbeats every leaseMs/3. */
  leaseMs: number;
  prefix: string;
  /** The instance's live calls right now (reported with each heartbeat). */
  callCount: () => number;
}

/** Entries of instances gone this many leases without leaving are pruned by the others' heartbeats. */
const PRUNE_AFTER_LEASES = 10;

/**
 * Write our entry with lastSeen = Redis's time, prune long-dead entries (bounded hash).
 * ARGV: id, info JSON (without lastSeen), prune-after ms.
 */
const HEARTBEAT = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local info = cjson.decode(ARGV[2])
info['lastSeen'] = now
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(info))
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, other = pcall(cjson.decode, all[i + 1])
  if not ok or type(other) ~= 'table' or type(other['lastSeen']) ~= 'number' or now - other['lastSeen'] > tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return now`);

/** Redis's time (ms) followed by the hash's fields and values. */
const READ = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
table.insert(all, 1, tostring(now))
return all`);

/**
 * The instances in the cluster (`P:instances`: instance id → {id, startedAt, calls, draining, lastSeen} JSON).
 * While started, this instance's entry is rewritten every leaseMs/3; an entry not refreshed within the lease
 * is not alive. A failed heartbeat is retried at the next period (`heartbeat-failed` says why).
 */
export class InstanceDirectory extends EventEmitter<{ 'heartbeat-failed': [reason: string] }> {
  readonly instanceId: string;
  readonly leaseMs: number;
  readonly startedAt = Date.now();
  readonly #link: RedisLink;
  readonly #keys: ClusterKeys;
  readonly #callCount: () => number;
  #draining = false;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #beating: Promise<boolean> | undefined;

  constructor(opts: InstanceDirectoryOptions) {
    super();
    this.instanceId = checkInstanceId(opts.instanceId);
    this.leaseMs = checkLeaseMs(opts.leaseMs);
    this.#link = opts.link;
    this.#keys = clusterKeys(opts.prefix);
    this.#callCount = opts.callCount;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Join: the first heartbeat now (resolves true once written), then every leaseMs/3 until stop()/leave(). */
  start(): Promise<boolean> {
    if (!this.#running) {
      this.#running = true;
      this.#schedule();
    }
    return this.heartbeat();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#beating;
  }

  /** Stop heartbeating and remove our entry (the others see us gone at once). */
  async leave(): Promise<void> {
    await this.stop();
    await this.#link.command.hdel(this.#keys.instances, this.instanceId);
  }

  /** Mark (or unmark) this instance as draining; told to the others at once. Resolves true once written. */
  setDraining(draining: boolean): Promise<boolean> {
    this.#draining = draining;
    return this.heartbeat();
  }

  /** Write our entry now. Never rejects: false when Redis could not be reached. */
  heartbeat(): Promise<boolean> {
    const beat = (this.#beating ?? Promise.resolve(true)).then(() => this.#beat());
    const current = beat.finally(() => {
      if (this.#beating === current) this.#beating = undefined;
    });
    this.#beating = current;
    return current;
  }

  /** The instances seen within the lease (by Redis's clock), ourselves included when heartbeating. */
  async alive(): Promise<InstanceInfo[]> {
    const reply = (await READ.run(this.#link.command, [this.#keys.instances], [])) as string[];
    const now = Number(reply[0]);
    const out: InstanceInfo[] = [];
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const info = parseInfo(reply[i + 1]!);
      if (info && info.id === reply[i] && now - info.lastSeen <= this.leaseMs) out.push(info);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** For each alive instance, ms until it stops counting as alive unless it heartbeats again. */
  async expiries(): Promise<Map<string, number>> {
    const reply = (await READ.run(this.#link.command, [this.#keys.instances], [])) as string[];
    const now = Number(reply[0]);
    const out = new Map<string, number>();
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const info = parseInfo(reply[i + 1]!);
      const left = info ? this.leaseMs - (now - info.lastSeen) : -1;
      if (info && info.id === reply[i] && left >= 0) out.set(info.id, left);
    }
    return out;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(
      () => {
        void this.heartbeat().then(() => this.#schedule());
      },
      Math.floor(this.leaseMs / 3),
    );
    this.#timer.unref();
  }

  async #beat(): Promise<boolean> {
    const info = { id: this.instanceId, startedAt: this.startedAt, calls: this.#callCount(), draining: this.#draining };
    try {
      await HEARTBEAT.run(
        this.#link.command,
        [this.#keys.instances],
        [this.instanceId, JSON.stringify(info), this.leaseMs * PRUNE_AFTER_LEASES],
      );
      return true;
    } catch (e) {
      this.emit('heartbeat-failed', errorText(e));
      return false;
    }
  }
}

function parseInfo(json: string): InstanceInfo | undefined {
  try {
    const v = JSON.parse(json) as Partial<InstanceInfo>;
    if (typeof v.id !== 'string' || typeof v.lastSeen !== 'number') return undefined;
    return {
      id: v.id,
      startedAt: Number(v.startedAt) || 0,
      calls: Number(v.calls) || 0,
      draining: v.draining === true,
      lastSeen: v.lastSeen,
    };
  } catch {
    return undefined;
  }
}

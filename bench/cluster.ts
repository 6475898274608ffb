/**
 * Scale-out on one machine: callbridge instances as child processes (`node src/main.ts`, configured as in
 * production) sharing a Redis and a PostgreSQL database of the bench's own, in front of two FreeSWITCH emulators
 * and a Gemini Live fake that run in this process and hold talking calls (the caller speaks ~1.4 s, the fake
 * answers, the caller waits for the reply and speaks again).
 *
 * For 1 and then 2 instances: calls held per instance and in total, CPU of each instance over the hold window
 * (/proc/<pid>/stat), the calls one core would hold at that rate, Redis commands per call (INFO commandstats,
 * minus the idle rate of heartbeats and lease renewals) and Redis CPU, PostgreSQL transactions per call
 * (pg_stat_database xact_commit of the bench database, minus a run without calls). With 2 instances one is
 * killed (SIGKILL) at the end of the hold: per call it had, the pause from the kill to the new audio stream's
 * connection at the emulator and to the first agent audio the caller hears (the caller says "hello?" as soon
 * as the stream is back). Prints a table, writes JSON to bench/results/.
 *
 *   node_modules/.bin/node bench/cluster.ts                              # 20 calls per instance, 20 s hold
 *   node_modules/.bin/node bench/cluster.ts --per-instance 40 --hold 30 --lease 3000
 *
 * Needs redis-server on the PATH (a private one is started on a free port) and the tests' PostgreSQL
 * (CALLBRIDGE_TEST_DATABASE_URL; the role must be allowed to CREATE DATABASE).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { EmulatedChannel } from '../test/bed/index.ts';
import { freePort } from '../test/bed/index.ts';
import { connectRedis, type Instance, TestCluster } from '../test/support/cluster.ts';
import { TEST_DATABASE_URL } from '../test/support/postgres.ts';
import { speechLike } from './speech.ts';

const { values: args } = parseArgs({
  options: {
    'per-instance': { type: 'string', default: '20' },
    hold: { type: 'string', default: '20' },
    lease: { type: 'string', default: '3000' },
    instances: { type: 'string', default: '1,2' },
    'reply-ms': { type: 'string', default: '2000' },
    failover: { type: 'boolean', default: true },
  },
});
const PER_INSTANCE = Number(args['per-instance']);
const HOLD_S = Number(args.hold);
const LEASE_MS = Number(args.lease);
const REPLY_MS = Number(args['reply-ms']);
const ROOT = new URL('..', import.meta.url).pathname;

const RECORDED = readFileSync(join(ROOT, 'test/fixtures/speech-8k.raw'));
const SPEECH = new Int16Array(RECORDED.buffer, RECORDED.byteOffset, RECORDED.length >> 1).slice(0, 1400 * 8);
const SPEECH_MS = 1400;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = (v: number[], p: number) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]! : Number.NaN;
};

// ---------------------------------------------------------------- private Redis, bench database

async function startRedis(): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  for (let k = 0; ; k++) {
    try {
      (await connectRedis(url)).disconnect();
      return { url, proc };
    } catch (err) {
      if (k > 50) throw err;
      await sleep(100);
    }
  }
}

async function redisCounters(url: string): Promise<{ commands: Map<string, number>; cpuS: number }> {
  const r = await connectRedis(url);
  try {
    const commands = new Map<string, number>();
    for (const m of (await r.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
      if (m[1] !== 'info' && m[1] !== 'ping') commands.set(m[1]!, Number(m[2]));
    const cpu = await r.info('cpu');
    const v = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? 0);
    return { commands, cpuS: v('used_cpu_sys') + v('used_cpu_user') };
  } finally {
    r.disconnect();
  }
}

function commandDelta(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of b) if (v - (a.get(k) ?? 0) > 0) d.set(k, v - (a.get(k) ?? 0));
  return d;
}
const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);

class BenchDatabase {
  readonly name = `cb_bench_${randomBytes(4).toString('hex')}`;
  readonly url: string;
  readonly #admin: pg.Client;
  private constructor(admin: pg.Client) {
    this.#admin = admin;
    const u = new URL(TEST_DATABASE_URL);
    u.pathname = `/${this.name}`;
    this.url = u.toString();
  }
  static async create(): Promise<BenchDatabase> {
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000 });
    await admin.connect();
    const db = new BenchDatabase(admin);
    await admin.query(`CREATE DATABASE ${db.name}`);
    return db;
  }
  /** Transactions committed in the bench database (flushed by backends at the latest when they exit). */
  async commits(): Promise<number> {
    await this.#admin.query('SELECT pg_stat_clear_snapshot()');
    const r = await this.#admin.query('SELECT xact_commit FROM pg_stat_database WHERE datname = $1', [this.name]);
    return Number(r.rows[0]?.xact_commit ?? 0);
  }
  async drop(): Promise<void> {
    await this.#admin.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`).catch(() => {});
    await this.#admin.end();
  }
}

// ---------------------------------------------------------------- the callers

/** Each caller talks, waits for the answer, talks again; `now()` makes one start a turn at once. */
class Callers {
  readonly #timers = new Map<EmulatedChannel, NodeJS.Timeout>();
  #stopped = false;

  start(ch: EmulatedChannel): void {
    this.#schedule(ch, Math.random() * 3000);
  }

  now(ch: EmulatedChannel): void {
    this.#schedule(ch, 0);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  #schedule(ch: EmulatedChannel, ms: number): void {
    clearTimeout(this.#timers.get(ch));
    this.#timers.set(
      ch,
      setTimeout(() => {
        if (this.#stopped || ch.hungUp) return;
        ch.say(SPEECH, 8000);
        this.#schedule(ch, SPEECH_MS + 600 + REPLY_MS + 1000);
      }, ms),
    );
  }
}

// ---------------------------------------------------------------- one run

interface RunResult {
  instances: number;
  calls: number;
  holdS: number;
  perInstance: { id: string; held: number; cpuPct: number; callsPerCore: number }[];
  heldTotal: number;
  /** Agent audio files (a reply is several) played to the callers in the window. */
  repliesInWindow: number;
  /** CPU of this process (the emulators and the Gemini fake driving the calls) over the window. */
  driverCpuPct: number;
  /** Redis server CPU over the window. */
  redisCpuPct: number;
  redis: {
    commandsPerCall: number;
    /** The same per minute of call (calls last from their placing to the hang-up after the hold). */
    commandsPerCallMinute: number;
    meanCallS: number;
    idleCommandsPerSecond: number;
    topCommandsPerCall: Record<string, number>;
    cpuMsPerCall: number;
  };
  postgres: { transactionsPerCall: number };
  failover?: {
    leaseMs: number;
    calls: number;
    takenOver: number;
    toStreamMs: { p50: number; p99: number; max: number };
    toAgentAudioMs: { p50: number; p99: number; max: number };
    agentReplyAfterHelloMs: { p50: number; p99: number };
  };
}

async function startCluster(n: number, redisUrl: string, db: BenchDatabase): Promise<TestCluster> {
  return TestCluster.start({
    instances: n,
    redis: redisUrl,
    databaseUrl: db.url,
    emulator: { keepEventLog: false, recordHeardAudio: false },
    gemini: {
      recordAudio: false,
      autoReply: { replyAudio: speechLike(REPLY_MS, 24000, 3), chunkMs: 40, paceMs: 10 },
    },
    env: { CLAIM_LEASE_MS: String(LEASE_MS), LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: '5000' },
    startTimeoutMs: 60000,
  });
}

/** PostgreSQL transactions of starting and stopping `n` instances with no call (subtracted from a run's). */
async function idleCommits(n: number, redisUrl: string, db: BenchDatabase): Promise<number> {
  const before = await db.commits();
  const c = await startCluster(n, redisUrl, db);
  await sleep(2000);
  for (const i of c.live) await i.terminate(15000);
  await c.stop();
  await sleep(500);
  return (await db.commits()) - before;
}

async function run(n: number, redisUrl: string, db: BenchDatabase): Promise<RunResult> {
  const idlePg = await idleCommits(n, redisUrl, db);
  const pg0 = await db.commits();
  const c = await startCluster(n, redisUrl, db);
  const callers = new Callers();
  try {
    // Idle rate: heartbeats and the like, with no call.
    const idle0 = await redisCounters(redisUrl);
    const idleT0 = performance.now();
    await sleep(3000);
    const idle1 = await redisCounters(redisUrl);
    const idleRate = total(commandDelta(idle0.commands, idle1.commands)) / ((performance.now() - idleT0) / 1000);

    const r0 = await redisCounters(redisUrl);
    const t0 = performance.now();
    const nodes = [...c.nodes.values()];
    const calls: EmulatedChannel[] = [];
    const count = PER_INSTANCE * n;
    for (let k = 0; k < count; k++) {
      const ch = nodes[k % nodes.length]!.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
      calls.push(ch);
      callers.start(ch);
      await sleep(30);
    }
    await c.waitFor(() => calls.every((ch) => ch.stream?.connected), 60000, `${count} calls streaming`);
    await sleep(3000); // warm-up: first turns under way

    const cpu0 = new Map(c.instances.map((i) => [i, i.cpuMs()]));
    const driver0 = process.cpuUsage();
    const redisW0 = (await redisCounters(redisUrl)).cpuS;
    const w0 = performance.now();
    await sleep(HOLD_S * 1000);
    const windowMs = performance.now() - w0;
    const driver = process.cpuUsage(driver0);
    const driverCpuPct = ((driver.user + driver.system) / 1000 / windowMs) * 100;
    const redisCpuPct = (((await redisCounters(redisUrl)).cpuS - redisW0) * 1000 * 100) / windowMs;
    const perInstance = c.instances.map((i) => {
      const held = calls.filter(
        (ch) => !ch.hungUp && ch.stream?.connected && c.ownerOf(ch) === i && ch.heard.some((s) => s.startedAt > w0),
      ).length;
      const cpuPct = ((i.cpuMs() - cpu0.get(i)!) / windowMs) * 100;
      return { id: i.id, held, cpuPct, callsPerCore: cpuPct > 0 ? held / (cpuPct / 100) : Number.NaN };
    });
    const repliesInWindow = calls.reduce((s, ch) => s + ch.heard.filter((x) => x.startedAt > w0).length, 0);

    const failover = n >= 2 && args.failover ? await killOne(c, calls, callers) : undefined;

    callers.stop();
    await Promise.all(calls.filter((ch) => !ch.hungUp).map((ch) => ch.hangup().catch(() => {})));
    for (const i of c.live)
      await c.waitFor(async () => (await i.get('/health')).body.activeCalls === 0, 30000, `${i.id} idle`);
    await sleep(1000); // records written, claims released
    const r1 = await redisCounters(redisUrl);
    const elapsedS = (performance.now() - t0) / 1000;
    const delta = commandDelta(r0.commands, r1.commands);
    const perCall = (total(delta) - idleRate * elapsedS) / count;
    // Every call lasted from its placing until the hang-up above (the last ones placed slightly less).
    const meanCallS = elapsedS - (count * 30) / 2000;
    const top = Object.fromEntries(
      [...delta]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([k, v]) => [k, Math.round((v / count) * 10) / 10]),
    );
    for (const i of c.live) await i.terminate(15000); // PostgreSQL backends flush their counters as they exit
    await sleep(500);
    const pgRun = (await db.commits()) - pg0;
    return {
      instances: n,
      calls: count,
      holdS: HOLD_S,
      perInstance,
      heldTotal: perInstance.reduce((s, x) => s + x.held, 0),
      repliesInWindow,
      driverCpuPct,
      redisCpuPct,
      redis: {
        commandsPerCall: perCall,
        commandsPerCallMinute: perCall / (meanCallS / 60),
        meanCallS,
        idleCommandsPerSecond: idleRate,
        topCommandsPerCall: top,
        cpuMsPerCall: ((r1.cpuS - r0.cpuS) * 1000) / count,
      },
      postgres: { transactionsPerCall: (pgRun - idlePg) / count },
      ...(failover && { failover }),
    };
  } finally {
    callers.stop();
    await c.stop();
  }
}

/** SIGKILL the instance with the most calls; per call it had: kill → new stream connected, → first agent audio. */
async function killOne(c: TestCluster, calls: EmulatedChannel[], callers: Callers): Promise<RunResult['failover']> {
  const victim = c.live.sort(
    (a, b) => calls.filter((ch) => c.ownerOf(ch) === b).length - calls.filter((ch) => c.ownerOf(ch) === a).length,
  )[0] as Instance;
  const its = calls.filter((ch) => c.ownerOf(ch) === victim && !ch.hungUp);
  const connectedAt = new Map<string, number>();
  const mine = new Set(its.map((ch) => ch.uuid));
  const byUuid = new Map(its.map((ch) => [ch.uuid, ch]));
  let killedAt = 0;
  const onEvent = (e: { subclass?: string; uuid?: string; at: number }) => {
    if (e.subclass !== 'mod_audio_stream::connect' || !e.uuid || !mine.has(e.uuid) || connectedAt.has(e.uuid)) return;
    if (killedAt === 0 || e.at < killedAt) return;
    connectedAt.set(e.uuid, e.at);
    callers.now(byUuid.get(e.uuid)!); // "hello?" as soon as the line is back
  };
  for (const fs of c.nodes.values()) fs.on('event', onEvent);
  killedAt = performance.now();
  await victim.kill();
  await c
    .waitFor(() => connectedAt.size === its.length, LEASE_MS + 20000, 'every call of the killed instance back')
    .catch(() => {});
  await sleep(SPEECH_MS + 600 + 3000); // the hello, the end-of-turn silence, the reply's start
  for (const fs of c.nodes.values()) fs.off('event', onEvent);
  const toStream: number[] = [];
  const toAudio: number[] = [];
  const replyAfterHello: number[] = [];
  for (const ch of its) {
    const at = connectedAt.get(ch.uuid);
    if (at === undefined) continue;
    toStream.push(at - killedAt);
    const heard = ch.heard.find((s) => s.startedAt > at);
    if (heard) {
      toAudio.push(heard.startedAt - killedAt);
      replyAfterHello.push(heard.startedAt - (at + SPEECH_MS));
    }
  }
  const spread = (v: number[]) => ({ p50: q(v, 0.5), p99: q(v, 0.99), max: Math.max(...v) });
  return {
    leaseMs: LEASE_MS,
    calls: its.length,
    takenOver: toStream.length,
    toStreamMs: spread(toStream),
    toAgentAudioMs: spread(toAudio),
    agentReplyAfterHelloMs: { p50: q(replyAfterHello, 0.5), p99: q(replyAfterHello, 0.99) },
  };
}

// ---------------------------------------------------------------- main

const redis = await startRedis();
const db = await BenchDatabase.create();
const results: RunResult[] = [];
try {
  for (const n of args.instances.split(',').map(Number)) {
    console.error(`running ${n} instance(s), ${PER_INSTANCE * n} calls, ${HOLD_S} s hold...`);
    results.push(await run(n, redis.url, db));
  }
} finally {
  redis.proc.kill('SIGKILL');
  await db.drop();
}

const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(
  '\ninstances | calls | held per instance (CPU %, calls/core) | held total | Redis cmds/call (per call-minute; idle cmds/s) | Redis CPU ms/call | PG xacts/call',
);
for (const r of results) {
  const per = r.perInstance.map((p) => `${p.id}: ${p.held} (${f(p.cpuPct)} %, ${f(p.callsPerCore)})`).join('; ');
  console.log(
    `${r.instances} | ${r.calls} | ${per} | ${r.heldTotal} | ${f(r.redis.commandsPerCall, 1)} (${f(r.redis.commandsPerCallMinute, 1)} over ${f(r.redis.meanCallS)} s calls; ${f(r.redis.idleCommandsPerSecond, 1)}) | ${f(r.redis.cpuMsPerCall, 2)} | ${f(r.postgres.transactionsPerCall, 2)}`,
  );
  console.log(
    `  ${r.repliesInWindow} agent audio files played to callers in the window; CPU of the call driver (emulators + Gemini fake, this process) ${f(r.driverCpuPct)} %, of redis-server ${f(r.redisCpuPct, 1)} %`,
  );
  console.log(
    `  Redis commands per call (those run inside Lua scripts included): ${JSON.stringify(r.redis.topCommandsPerCall)}`,
  );
  if (r.failover) {
    const fo = r.failover;
    console.log(
      `  failover (SIGKILL, CLAIM_LEASE_MS=${fo.leaseMs}): ${fo.takenOver}/${fo.calls} calls taken over; kill → new stream p50 ${f(fo.toStreamMs.p50)} ms, p99 ${f(fo.toStreamMs.p99)} ms, max ${f(fo.toStreamMs.max)} ms; kill → first agent audio p50 ${f(fo.toAgentAudioMs.p50)} ms, p99 ${f(fo.toAgentAudioMs.p99)} ms (the caller says a 1.4 s "hello?" once the stream is back; reply ${f(fo.agentReplyAfterHelloMs.p50)} / ${f(fo.agentReplyAfterHelloMs.p99)} ms after it ends)`,
    );
  }
}
const out = join(ROOT, 'bench/results', `cluster-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await mkdir(join(ROOT, 'bench/results'), { recursive: true });
await writeFile(
  out,
  JSON.stringify(
    { args: { PER_INSTANCE, HOLD_S, LEASE_MS, REPLY_MS }, cpus: (await import('node:os')).cpus().length, results },
    null,
    2,
  ),
);
console.log(`\nwritten ${out}`);

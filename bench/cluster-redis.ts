/**
 * What the cluster's Redis layer costs per call, against a real Redis (CALLBRIDGE_TEST_REDIS_URL, default
 * redis://127.0.0.1:6379; scripts/test-services.sh starts one):
 *
 *   node bench/cluster-redis.ts             # round trips (median/p99 of 1000) and operations per call
 *   node bench/cluster-redis.ts --n 5000    # more samples
 *   node bench/cluster-redis.ts --smoke     # one pass through every part, then close: the process must exit
 *
 * Keys go under a random prefix (or CLUSTER_BENCH_PREFIX) and are deleted at the end.
 */
import { randomUUID } from 'node:crypto';
import { mock } from 'node:test';
import { parseArgs } from 'node:util';
import type { CallChange } from '../src/calls/call-book.ts';
import { Cluster } from '../src/cluster/cluster.ts';
import type { RedisLink } from '../src/cluster/redis-link.ts';
import { SharedCalls } from '../src/cluster/shared-calls.ts';
import { type CallRecord, noResumptions } from '../src/store/call-record.ts';

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    n: { type: 'string', default: '1000' },
  },
});
const url = process.env.CALLBRIDGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.CLUSTER_BENCH_PREFIX ?? `cbbench-${randomUUID().slice(0, 8)}`;

function liveCall(id: string): CallRecord {
  const now = Date.now();
  return {
    id,
    direction: 'inbound',
    from: '1000',
    to: '2000',
    pipeline: 'gemini-live',
    status: 'answered',
    createdAt: now,
    answeredAt: now,
    turns: [],
    resumptions: noResumptions(),
    transcript: [],
  };
}

async function open(instanceId: string, calls = () => 0): Promise<Cluster> {
  return Cluster.open({ url, instanceId, leaseMs: 10_000, prefix, callCount: calls, readyTimeoutMs: 5000 });
}

async function dropKeys(link: RedisLink): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await link.command.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await link.command.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Count the commands a connection sends, by name. */
function countCommands(link: RedisLink): Map<string, number> {
  const counts = new Map<string, number>();
  const conn = link.command as unknown as { sendCommand: (cmd: { name: string }, ...rest: unknown[]) => unknown };
  const send = conn.sendCommand.bind(conn);
  conn.sendCommand = (cmd, ...rest) => {
    counts.set(cmd.name, (counts.get(cmd.name) ?? 0) + 1);
    return send(cmd, ...rest);
  };
  return counts;
}

const show = (m: Map<string, number>): string => [...m].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';

async function timed(n: number, fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number): number => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99) };
}

const fmt = (r: { p50: number; p99: number }): string => `median ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms`;

/** Every part once, then close: run by the tests to prove close() leaves nothing that keeps a process alive. */
async function smoke(): Promise<void> {
  const a = await open('smoke-a', () => 1);
  const b = await open('smoke-b');
  try {
    if (!(await a.claims.claim('call-1'))) throw new Error('claim failed');
    const changes: string[] = [];
    await b.calls.subscribe((m) => changes.push(m.id));
    const call = liveCall('call-1');
    a.calls.put(call);
    await a.calls.publish(call, { type: 'status', status: 'answered', at: Date.now() });
    await a.actions.serve(async (req) => `done ${req.action}`);
    const answer = await b.actions.request('smoke-a', { callId: 'call-1', action: 'hangup' }, 5000);
    if (answer !== 'done hangup') throw new Error(`unexpected answer ${String(answer)}`);
    await a.calls.flush();
    if ((await b.calls.get('call-1'))?.owner !== 'smoke-a') throw new Error('record not shared');
    if ((await b.directory.alive()).length !== 2) throw new Error('directory incomplete');
    await a.claims.renewNow();
    await a.calls.remove('call-1');
    await a.claims.release('call-1');
    await dropKeys(b.link);
  } finally {
    await a.close();
    await b.close();
  }
  console.log('smoke ok');
}

/**
 * How many record writes a 10-turn call costs with coalescing: the call's changes replayed on a mocked clock
 * (exact and instant; the writes go to a counter, not to Redis, as only their number matters here).
 * steady: partial transcripts as a person speaks (caller every 250 ms for 2.5 s, agent every 200 ms for 4 s);
 * bursty: the agent's reply transcribed as the model streams it, faster than real time (a chunk every 40 ms).
 */
async function coalescedWrites(agentEveryMs: number, coalesceMs: number): Promise<{ changes: number; writes: number }> {
  let writes = 0;
  const link = { command: { hset: async () => ++writes } } as unknown as RedisLink;
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  try {
    const shared = new SharedCalls({ link, instanceId: 'sim', prefix: 'sim', coalesceMs });
    const call = liveCall('sim-call');
    let changes = 0;
    const change = async (ms: number, mutate: () => void): Promise<void> => {
      mock.timers.tick(ms);
      mutate();
      changes++;
      shared.put(call);
      await settle();
    };
    await change(0, () => {});
    for (let turn = 0; turn < 10; turn++) {
      const caller = { speaker: 'caller' as const, text: '', at: Date.now(), final: false };
      call.transcript.push(caller);
      for (let t = 0; t < 2500; t += 250) await change(250, () => (caller.text += ' word'));
      await change(100, () => (caller.final = true));
      await change(700, () => call.turns.push({ firstAudio: 700 }));
      const agent = { speaker: 'agent' as const, text: '', at: Date.now(), final: false };
      call.transcript.push(agent);
      const chunks = Math.round(4000 / 200);
      for (let c = 0; c < chunks; c++) await change(agentEveryMs, () => (agent.text += ' word'));
      await change(agentEveryMs, () => (agent.final = true));
      mock.timers.tick(1000); // the caller thinks
      await settle();
    }
    await change(500, () => {
      call.status = 'completed';
      call.endedAt = Date.now();
    });
    mock.timers.tick(1000);
    await shared.flush();
    return { changes, writes };
  } finally {
    mock.timers.reset();
  }
}

/** Let the writes due now run (setImmediate is not mocked: it runs after every pending promise job). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function bench(n: number): Promise<void> {
  const a = await open('bench-a');
  const b = await open('bench-b');
  try {
    await a.actions.serve(async (req) => req.callId);
    const claim = await timed(n, (i) => a.claims.claim(`claim-${i}`));
    const renew100: string[] = a.claims.owned().slice(0, 100);
    for (const id of a.claims.owned()) if (!renew100.includes(id)) a.claims.forget(id);
    const renew = await timed(Math.min(n, 200), () => a.claims.renewNow());
    const request = await timed(n, (i) => b.actions.request('bench-a', { callId: `c${i}`, action: 'hangup' }, 5000));
    const change: CallChange = { type: 'dtmf', digits: '1', at: Date.now() };
    const call = liveCall('bench-call');
    const publish = await timed(n, () => a.calls.publish(call, change));

    // One call's life, by commands sent (renewal and heartbeat are per instance and period, not per call).
    const counts = countCommands(a.link);
    await a.claims.claim('life-1');
    const claimOps = new Map(counts);
    counts.clear();
    await a.claims.renewNow();
    const renewOps = new Map(counts);
    counts.clear();
    a.calls.put(liveCall('life-1'));
    await a.calls.flush();
    await a.calls.publish(call, change);
    await a.calls.remove('life-1');
    await a.claims.release('life-1');
    const lifeOps = new Map(counts);

    const sims: Array<[string, number, { changes: number; writes: number }]> = [];
    for (const coalesceMs of [100, 250, 1000]) {
      sims.push(['steady', coalesceMs, await coalescedWrites(200, coalesceMs)]);
      sims.push(['bursty', coalesceMs, await coalescedWrites(40, coalesceMs)]);
    }

    console.log(`Redis at ${a.link.where}, ${n} samples each, one client at a time`);
    console.log(`claim (EVALSHA, GET + SET PX):        ${fmt(claim)}`);
    console.log(`renew 100 owned calls (one EVALSHA):  ${fmt(renew)}`);
    console.log(`action request → owner → answer:      ${fmt(request)}`);
    console.log(`publish one change:                   ${fmt(publish)}`);
    console.log(`commands: claim → ${show(claimOps)}; renewal period → ${show(renewOps)} for all owned calls`);
    console.log(`          put+flush, publish, remove, release → ${show(lifeOps)}`);
    for (const [name, coalesceMs, r] of sims) {
      const what = `${r.changes} changes → ${r.writes} record writes (HSET), ${r.changes} PUBLISH`;
      console.log(`10-turn call, ${name}, one write per ${coalesceMs} ms at most: ${what}`);
    }
    await dropKeys(a.link);
  } finally {
    await a.close();
    await b.close();
  }
}

if (args.smoke) await smoke();
else await bench(Number(args.n));

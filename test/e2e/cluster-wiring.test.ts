/**
 * Cluster mode wiring in one process: two callbridge stacks (instances `a` and `b`) on one FreeSWITCH
 * emulator (every ESL connection gets every event) and the real Redis at 127.0.0.1:6379, each test under its
 * own CLUSTER_PREFIX whose keys are deleted afterwards, and one PostgreSQL history (a schema of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { EmulatedChannel } from '../bed/index.ts';
import { TestSchemas } from '../support/postgres.ts';
import { sse } from '../support/sse.ts';
import { startStack, until, type Stack } from '../support/stack.ts';
import { stackApi } from '../support/http.ts';

const REDIS_URL = 'redis://127.0.0.1:6379';
const LEASE_MS = 1000;

interface Pair {
  a: Stack;
  start(id: 'b'): Promise<Stack>;
}

/** Instance `a` now (with its own emulator), `b` when the test asks, on a's emulator. Stopped after the test. */
async function cluster(t: { after(fn: () => Promise<void>): void }): Promise<Pair> {
  const prefix = `cbtest-${randomUUID().slice(0, 8)}`;
  // One history for both, as in production (PostgreSQL): an ended call is found from either instance.
  const schemas = await TestSchemas.connect();
  const { url } = await schemas.create();
  const env = {
    REDIS_URL,
    CLUSTER_PREFIX: prefix,
    CLAIM_LEASE_MS: String(LEASE_MS),
    SHUTDOWN_TIMEOUT_MS: '500',
    DATABASE_URL: url,
  };
  const stacks: Stack[] = [];
  t.after(async () => {
    for (const s of stacks.reverse()) await s.stop().catch(() => {});
    await schemas.close();
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  });
  const a = await startStack({ env: { ...env, INSTANCE_ID: 'a' } });
  stacks.push(a);
  return {
    a,
    async start(id) {
      const s = await startStack({ env: { ...env, INSTANCE_ID: id, FREESWITCH_ESL_PORT: String(a.fs.eslPort) } });
      stacks.push(s);
      return s;
    },
  };
}

const http = (stack: Stack) => stackApi(stack, 8000);

const commandsAbout = (stack: Stack, id: string, verb: string) =>
  stack.fs.commands.filter((c) => c.line.startsWith(`api ${verb} ${id}`));

/** A parked inbound call taken by `owner` alone (started before any other instance). */
async function callOn(owner: Stack): Promise<EmulatedChannel> {
  const call = owner.fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await until(() => call.stream?.connected && owner.bridge.calls.isLive(call.uuid), 5000, 'call active on its owner');
  return call;
}

test('each of 20 parked calls seen by two instances is taken by exactly one of them', async (t) => {
  const { a, start } = await cluster(t);
  const b = await start('b');
  const calls = Array.from({ length: 20 }, () =>
    a.fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false }),
  );
  await until(
    () => calls.every((c) => c.stream?.connected && (a.bridge.calls.isLive(c.uuid) || b.bridge.calls.isLive(c.uuid))),
    15000,
    'every call active on one instance',
  );
  for (const c of calls) {
    assert.ok(!(a.bridge.calls.isLive(c.uuid) && b.bridge.calls.isLive(c.uuid)), `${c.uuid} carried once`);
    assert.equal(commandsAbout(a, c.uuid, 'uuid_answer').length, 1, `${c.uuid} answered once`);
    assert.equal(commandsAbout(a, c.uuid, 'uuid_audio_stream').length, 1, `${c.uuid} streamed once`);
  }
  const perInstance = [a, b].map((s) => s.bridge.calls.active.size);
  t.diagnostic(`calls per instance: a=${perInstance[0]} b=${perInstance[1]}`);
  assert.equal(perInstance[0]! + perInstance[1]!, 20);
  // Every instance lists all 20 live calls.
  for (const s of [a, b]) {
    const list = (await http(s).get('/calls?limit=50')).body;
    const live = new Set(list.calls.filter((r: any) => r.status === 'answered').map((r: any) => r.id));
    assert.equal(live.size, 20, 'all live calls listed once');
  }

  await Promise.all(calls.map((c) => c.hangup()));
  const shared = a.bridge.cluster!.cluster.calls;
  await until(async () => (await shared.list()).length === 0, 5000, 'shared live records removed');
  const claims = a.bridge.cluster!.cluster.claims;
  for (const c of calls) assert.equal(await claims.owner(c.uuid), undefined, 'claim released');
});

test("instance b lists, shows, streams and hangs up instance a's call", async (t) => {
  const { a, start } = await cluster(t);
  const call = await callOn(a);
  const gemini = await a.gemini.nextSession(5000);
  const b = await start('b');
  const api = http(b);

  // a shares its changes at most every 100 ms (coalesced): wait for the answered state to reach b.
  let listed: any;
  await until(
    async () => {
      listed = (await api.get('/calls')).body.calls.find((r: any) => r.id === call.uuid);
      return listed?.status === 'answered';
    },
    5000,
    "a's live call answered in b's list",
  );
  const one = await api.get(`/calls/${call.uuid}`);
  assert.equal(one.status, 200);
  assert.equal(one.body.node, 'default');

  // b's event streams carry a's changes.
  const all = sse(`${api.base}/events`);
  const own = sse(`${api.base}/calls/${call.uuid}/events`);
  t.after(() => {
    all.close();
    own.close();
  });
  await until(() => all.events.length > 0 && own.events.length >= 0, 3000, 'snapshot');
  assert.ok(
    all.events[0]!.data.calls.some((c: any) => c.id === call.uuid),
    "snapshot holds a's call",
  );
  gemini.sendInputTranscription('Is anybody there?', true);
  await until(
    () => all.events.some((e) => e.event === 'call' && e.data.change.type === 'transcript'),
    3000,
    "a's transcript on b's /events",
  );
  await until(
    () => own.events.some((e) => e.event === 'transcript' && e.data.entry.text === 'Is anybody there?'),
    3000,
    "a's transcript on b's /calls/:id/events",
  );

  // Actions on a's call through b run on a.
  const post = api.post;
  assert.equal((await post(`/calls/${call.uuid}/dtmf`, { digits: '42' })).status, 200);
  assert.equal(commandsAbout(a, call.uuid, 'uuid_send_dtmf').length, 1, 'digits sent once, by the owner');
  assert.equal((await post(`/calls/${call.uuid}/say`, { text: 'Routed through b' })).status, 200);
  await until(() => gemini.texts.some((t) => t.includes('Routed through b')), 3000, "a's agent asked to say it");
  const unknown = await post(`/calls/${randomUUID()}/say`, { text: 'x' });
  assert.equal(unknown.status, 404);

  const res = await api.del(`/calls/${call.uuid}`);
  assert.equal(res.status, 200);
  await until(() => call.hungUp, 3000, 'the emulator hung the call up');
  assert.equal(commandsAbout(a, call.uuid, 'uuid_kill').length, 1, 'hung up once, by its owner');
  await until(
    () => own.events.some((e) => e.event === 'status' && e.data.status === 'completed'),
    3000,
    "the end reaches b's stream",
  );
});

test('an action on a call whose owner vanished answers 503 owner_unavailable', async (t) => {
  const { a, start } = await cluster(t);
  const call = await callOn(a);
  const b = await start('b');
  await a.bridge.abandon();
  const res = await fetch(`${http(b).base}/calls/${call.uuid}/dtmf`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ digits: '1' }),
    signal: AbortSignal.timeout(8000),
  });
  // Before the lease lapses (then b takes the call over and the digits would go through).
  if (b.bridge.calls.isLive(call.uuid)) return t.skip('b took the call over first');
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as any).error.code, 'owner_unavailable');
});

test('instance a vanishes mid-call: b takes the call over, streams it to itself and continues the record', async (t) => {
  const { a, start } = await cluster(t);
  const call = await callOn(a);
  const gemini = await a.gemini.nextSession(5000);
  const b = await start('b');
  gemini.sendInputTranscription('I need a plumber', true);
  gemini.turnComplete();
  const before = await until(
    async () => {
      const r = (await http(b).get(`/calls/${call.uuid}`)).body;
      return r.transcript?.some((e: any) => e.text === 'I need a plumber') && r;
    },
    3000,
    'transcript shared',
  );

  const killedAt = Date.now();
  await a.bridge.abandon();
  const bUrl = `ws://127.0.0.1:${b.bridge.http.port}/stream/${call.uuid}?`;
  await until(
    () => call.streams.length === 2 && call.stream!.url.startsWith(bUrl) && call.stream!.connected,
    10 * LEASE_MS,
    "a new stream towards b's URL",
  );
  t.diagnostic(`takeover pause (kill → new stream connected, lease ${LEASE_MS} ms): ${Date.now() - killedAt} ms`);
  assert.ok(!call.hungUp, 'the caller was never hung up');
  assert.ok(
    commandsAbout(a, call.uuid, 'uuid_audio_stream').some((c) => c.line.endsWith(' stop')),
    'the old stream was stopped before the new one',
  );

  const after = await until(
    async () => {
      const r = (await http(b).get(`/calls/${call.uuid}`)).body;
      return r.resumptions?.count > 0 && r;
    },
    3000,
    'resumption recorded',
  );
  assert.equal(after.id, before.id);
  assert.equal(after.createdAt, before.createdAt);
  assert.equal(after.answeredAt, before.answeredAt);
  assert.equal(after.status, 'answered');
  assert.ok(
    after.transcript.some((e: any) => e.text === 'I need a plumber'),
    'transcript kept',
  );
  assert.equal(after.resumptions.last.at(-1)?.reason, 'failover');

  // b's fresh agent was told the conversation so far.
  const fresh = await b.gemini.nextSession(5000);
  const setup = await until(() => fresh.setup, 3000, 'setup');
  assert.match(JSON.stringify(setup), /I need a plumber/);

  // The call now ends on b as any call: saved once, shared state cleared.
  await call.hangup();
  await until(async () => (await http(b).get(`/calls/${call.uuid}`)).body.status === 'completed', 3000, 'ended on b');
  const shared = b.bridge.cluster!.cluster.calls;
  await until(async () => !(await shared.get(call.uuid)), 3000, 'shared record removed');
});

test("a call whose owner vanished and whose channel is gone is ended as failed, 'owner lost'", async (t) => {
  const { a, start } = await cluster(t);
  const call = await callOn(a);
  const b = await start('b');
  await a.bridge.abandon();
  await call.hangup(); // nobody hears of it: a is gone, b does not own the call
  const ended = await until(
    async () => {
      const r = (await http(b).get(`/calls/${call.uuid}`)).body;
      return r.status === 'failed' && r;
    },
    10 * LEASE_MS,
    'the call finalised by b',
  );
  assert.equal(ended.endReason, 'owner lost');
  const shared = b.bridge.cluster!.cluster.calls;
  await until(async () => !(await shared.get(call.uuid)), 3000, 'shared record removed');
});

test('drain: a stopped while b is alive hands its call over (no hang-up); b carries it on', async (t) => {
  const { a, start } = await cluster(t);
  const call = await callOn(a);
  const b = await start('b');
  await a.bridge.stop();
  const bUrl = `ws://127.0.0.1:${b.bridge.http.port}/stream/${call.uuid}?`;
  await until(
    () => call.stream?.url.startsWith(bUrl) && call.stream.connected,
    5 * LEASE_MS,
    "the call's stream towards b",
  );
  assert.ok(!call.hungUp, 'the caller was never hung up');
  assert.equal(commandsAbout(a, call.uuid, 'uuid_kill').length, 0);
  const record = await until(
    async () => {
      const r = (await http(b).get(`/calls/${call.uuid}`)).body;
      return r.resumptions?.count > 0 && r;
    },
    3000,
    'resumption recorded',
  );
  assert.equal(record.status, 'answered');
  assert.equal(record.resumptions.last.at(-1)?.reason, 'handover');
  assert.equal(
    Number((await b.bridge.metrics.text()).match(/^callbridge_cluster_takeovers_total (\d+)/m)?.[1]),
    1,
    'b counted the takeover',
  );
});

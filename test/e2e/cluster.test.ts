import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { concat, type EmulatedChannel, RawEslClient, silence, tone } from '../bed/index.ts';
import { type Instance, TestCluster } from '../support/cluster.ts';
import { TestSchemas } from '../support/postgres.ts';
import { sse } from '../support/sse.ts';

/**
 * Several callbridge processes sharing a real Redis and a real PostgreSQL, in front of two FreeSWITCH
 * emulators: what a caller and an API user notice when calls are spread, moved and ended across instances.
 * Without Redis or PostgreSQL the tests fail (scripts/test-services.sh starts both).
 */

const FINAL = new Set(['completed', 'failed', 'busy', 'no-answer']);
/** The caller says something (the Gemini fake answers after speech followed by 500 ms of silence). */
const SPEECH = concat(tone(300, 600, 8000), silence(100, 8000));

let schemas: TestSchemas;
before(async () => {
  schemas = await TestSchemas.connect();
});
after(() => schemas?.close());

let said = 0;
/** Gemini Live answering by itself, with transcripts unique across sessions (so a continued transcript shows). */
const talkingGemini = () => ({
  autoReply: {
    replyAudio: tone(440, 400, 24000),
    transcripts: { caller: () => `caller line ${++said}`, agent: () => `agent line ${said}` },
  },
});

async function cluster(
  t: { after(fn: () => Promise<void>): void },
  opts: { instances?: number; env?: Record<string, string>; talking?: boolean } = {},
): Promise<TestCluster> {
  const { url, schema } = await schemas.create();
  const c = await TestCluster.start({
    instances: opts.instances ?? 3,
    databaseUrl: url,
    env: { CLAIM_LEASE_MS: '1500', DEFAULT_GATEWAY: 'trunk', ...opts.env },
    ...(opts.talking && { gemini: talkingGemini() }),
  });
  t.after(() => c.stop());
  schemaOf.set(c, schema);
  return c;
}

const schemaOf = new Map<TestCluster, string>();

/** A call's row in the cluster's PostgreSQL history (status and end reason), once there. */
async function historyRow(c: TestCluster, id: string): Promise<{ status: string; reason: string | null }> {
  return c.waitFor(
    async () =>
      (
        await schemas.query<{ status: string; reason: string | null }>(
          `SELECT status, record->>'endReason' AS reason FROM ${schemaOf.get(c)}.callbridge_calls WHERE id = $1`,
          [id],
        )
      ).rows[0],
    10000,
    `${id} in the PostgreSQL history`,
  );
}

/** `n` inbound calls, alternating between the nodes, each parked unanswered for callbridge to take. */
function placeInbound(c: TestCluster, n: number): EmulatedChannel[] {
  const nodes = [...c.nodes.values()];
  return Array.from({ length: n }, (_, i) =>
    nodes[i % nodes.length]!.placeInboundCall({ variables: { callbridge: '1' }, answer: false }),
  );
}

const streaming = (calls: EmulatedChannel[]) => calls.every((ch) => ch.stream?.connected);

/** Every call, live or ended, that an instance's API lists. */
async function listed(i: Instance): Promise<{ id: string; status: string; owner?: string; node?: string }[]> {
  const res = await i.get('/calls?limit=200');
  assert.equal(res.status, 200, `GET /calls on ${i.id}: ${JSON.stringify(res.body)}`);
  return res.body.calls;
}

/** The caller speaks and waits until it hears an agent reply that started after it spoke. */
async function talkAndHear(c: TestCluster, ch: EmulatedChannel, what: string): Promise<void> {
  const from = performance.now();
  ch.say(SPEECH, 8000);
  await c.waitFor(() => ch.heard.some((s) => s.startedAt > from), 10000, `${what}: a reply heard by ${ch.uuid}`);
}

/** No call shown live by any instance without a channel in the emulators (a zombie). */
async function assertNoZombies(c: TestCluster): Promise<void> {
  for (const i of c.live) {
    for (const call of await listed(i)) {
      if (FINAL.has(call.status)) continue;
      const alive = [...c.nodes.values()].some((fs) => fs.channels.get(call.id)?.hungUp === false);
      assert.ok(alive, `${i.id} lists ${call.id} as ${call.status} but no node has its channel`);
    }
  }
}

/** The instance carrying the most of `calls`, and those calls. */
function busiest(c: TestCluster, calls: EmulatedChannel[]): [Instance, EmulatedChannel[]] {
  const by = new Map<Instance, EmulatedChannel[]>();
  for (const ch of calls) {
    const owner = c.ownerOf(ch)!;
    by.set(owner, [...(by.get(owner) ?? []), ch]);
  }
  return [...by].sort((x, y) => y[1].length - x[1].length)[0]!;
}

/** How many times each call was answered and had its audio stream started, across every node. */
function takes(c: TestCluster, uuid: string): { answers: number; starts: number } {
  const lines = c.commandsAbout(uuid).map((x) => x.line);
  return {
    answers: lines.filter((l) => l === `api uuid_answer ${uuid}`).length,
    starts: lines.filter((l) => l.startsWith(`api uuid_audio_stream ${uuid} start `)).length,
  };
}

test('harness: each emulator sends every event to every ESL connection; a lone instance streams its calls to itself', async (t) => {
  const c = await TestCluster.start({ instances: 1, redis: false });
  t.after(() => c.stop());
  const a = c.nodes.get('a')!;
  const watchers = [await RawEslClient.connect(a.eslPort, 'ClueCon'), await RawEslClient.connect(a.eslPort, 'ClueCon')];
  t.after(() => {
    for (const w of watchers) w.close();
  });
  for (const w of watchers) assert.match(await w.command('event json CHANNEL_PARK'), /^\+OK/);
  const calls = placeInbound(c, 2);
  await c.waitFor(() => streaming(calls), 10000, 'both calls streaming');
  for (const w of watchers) await w.waitEvent((e) => e['Unique-ID'] === calls[0]!.uuid, 3000);
  const [one] = c.instances;
  for (const ch of calls) {
    assert.equal(c.ownerOf(ch), one, `${ch.uuid} streams to the instance: ${ch.stream?.url}`);
    assert.deepEqual(takes(c, ch.uuid), { answers: 1, starts: 1 });
  }
  assert.deepEqual((await listed(one!)).map((r) => r.id).sort(), calls.map((ch) => ch.uuid).sort());
  for (const ch of calls) await ch.hangup();
  await c.waitFor(async () => (await one!.get('/health')).body.activeCalls === 0, 5000, 'calls ended');
  assert.equal((await one!.terminate(10000)).code, 0);
});

test('100 inbound calls over two nodes and three instances: each taken exactly once, then all hung up', async (t) => {
  const c = await cluster(t);
  for (const fs of c.nodes.values()) assert.equal(fs.eslConnectionCount, 3, 'every instance connected to every node');
  const calls = placeInbound(c, 100);
  await c.waitFor(() => streaming(calls), 30000, '100 calls streaming');
  await c.waitFor(() => c.gemini.sessions.filter((s) => s.setupCompleted).length >= 100, 10000, '100 agent sessions');
  for (const ch of calls) {
    assert.deepEqual(takes(c, ch.uuid), { answers: 1, starts: 1 }, `${ch.uuid} taken once`);
    assert.ok(c.ownerOf(ch), `${ch.uuid} streams to one of the instances: ${ch.stream?.url}`);
  }
  assert.equal(c.gemini.sessions.length, 100, 'one agent session per call');
  const owners = new Map<string, number>();
  for (const ch of calls) owners.set(c.ownerOf(ch)!.id, (owners.get(c.ownerOf(ch)!.id) ?? 0) + 1);
  t.diagnostic(`calls per instance: ${JSON.stringify(Object.fromEntries(owners))}`);

  await Promise.all(calls.map((ch) => ch.hangup()));
  for (const i of c.instances)
    await c.waitFor(async () => (await i.get('/health')).body.activeCalls === 0, 15000, `${i.id} carries no call`);
  await c.waitFor(
    async () => (await listed(c.instances[0]!)).filter((r) => FINAL.has(r.status)).length === 100,
    15000,
    '100 ended calls listed',
  );
  await c.waitFor(() => c.gemini.sessions.every((s) => !s.isOpen), 10000, 'every agent session closed');
  // Nothing left in the shared state: no live record, and every claim released (or lapsed with its lease).
  const liveLeft = async () => c.redis!.hgetall(`${c.prefix}:live`);
  await c.waitFor(async () => Object.keys(await liveLeft()).length === 0, 10000, 'the live hash empty').catch(() => {});
  const left = await liveLeft();
  assert.deepEqual(
    Object.values(left).map((v) => {
      const r = JSON.parse(v) as { id: string; status: string; owner: string };
      return `${r.id} ${r.status} ${r.owner} channel ${c.nodes.get('a')!.channels.has(r.id) || c.nodes.get('b')!.channels.has(r.id)}`;
    }),
    [],
    'no live record left in Redis',
  );
  await c.waitFor(async () => (await c.keys()).every((k) => !k.includes(':claim:')), 5000, 'no claim left in Redis');
});

test('the API of every instance lists every live call, streams its events and hangs up any of them; outbound calls stream to the instance that placed them', async (t) => {
  const c = await cluster(t);
  const calls = placeInbound(c, 6);
  await c.waitFor(() => streaming(calls), 10000, '6 calls streaming');
  const [i1, i2, i3] = c.instances as [Instance, Instance, Instance];

  const placed = await i2.post('/calls', { to: '+15551230001' });
  assert.equal(placed.status, 202, JSON.stringify(placed.body));
  const outId: string = placed.body.id;
  const out = await c.waitFor(
    () => [...c.nodes.values()].map((fs) => fs.channels.get(outId)).find((ch) => ch?.stream?.connected),
    10000,
    'the outbound call streaming',
  );
  assert.equal(c.ownerOf(out), i2, `the outbound call streams to the instance that placed it: ${out.stream?.url}`);
  calls.push(out);

  const ids = calls.map((ch) => ch.uuid).sort();
  for (const i of c.instances) {
    const rows = await c.waitFor(
      async () => {
        const rows = await listed(i);
        const live = rows.filter((r) => r.status === 'answered').map((r) => r.id);
        return ids.every((id) => live.includes(id)) ? rows : undefined;
      },
      5000,
      `${i.id} lists all 7 live calls`,
    );
    for (const ch of calls) {
      const owner = c.ownerOf(ch)!.id;
      assert.equal(rows.find((r) => r.id === ch.uuid)?.owner, owner, `GET /calls on ${i.id} names ${ch.uuid}'s owner`);
      const one = await i.get(`/calls/${ch.uuid}`);
      assert.equal(one.status, 200);
      assert.equal(one.body.owner, owner, `GET /calls/${ch.uuid} on ${i.id} names its owner`);
    }
  }

  // Event streams on instances that neither own the calls nor hang them up: every call's, and all calls'.
  const deleter = (ch: EmulatedChannel) => [i1, i2, i3].find((i) => i !== c.ownerOf(ch))!;
  const watcher = (ch: EmulatedChannel) => [i1, i2, i3].find((i) => i !== c.ownerOf(ch) && i !== deleter(ch))!;
  const streams = calls.map((ch) => sse(`${watcher(ch).baseUrl}/calls/${ch.uuid}/events`));
  const everything = sse(`${i3.baseUrl}/events`);
  t.after(() => {
    for (const s of [...streams, everything]) s.close();
  });
  const snapshot = await c.waitFor(
    () => everything.events.find((e) => e.event === 'snapshot'),
    5000,
    '/events snapshot',
  );
  assert.deepEqual(
    snapshot.data.calls.map((r: { id: string }) => r.id).sort(),
    ids,
    `/events on ${i3.id}: every live call`,
  );
  await c.waitFor(() => streams.every((s) => s.events[0]?.event === 'snapshot'), 5000, 'per-call snapshots');

  // Every call hung up through an instance that does not own it.
  const hangUpElsewhere = async (ch: EmulatedChannel) => {
    const other = deleter(ch);
    const res = await other.del(`/calls/${ch.uuid}`);
    assert.equal(res.status, 200, `DELETE /calls/${ch.uuid} on ${other.id}: ${JSON.stringify(res.body)}`);
    await c.waitFor(() => ch.hungUp, 5000, `${ch.uuid} hung up in FreeSWITCH`);
  };
  await Promise.all(calls.map(hangUpElsewhere));
  for (const i of c.instances)
    await c.waitFor(
      async () => {
        const ended = (await listed(i)).filter((r) => FINAL.has(r.status)).map((r) => r.id);
        return ids.every((id) => ended.includes(id));
      },
      5000,
      `${i.id} shows the 7 calls ended`,
    );
  for (const [k, s] of streams.entries())
    await c.waitFor(
      () =>
        s.events.some((e) => e.event === 'status' && e.data.status === 'completed') && s.events.at(-1)?.event === 'end',
      5000,
      `${watcher(calls[k]!).id}'s event stream of ${calls[k]!.uuid}: completed, then end`,
    );
  const ended = (id: string) =>
    everything.events.some((e) => e.event === 'call' && e.data.call?.id === id && e.data.call.status === 'completed');
  await c.waitFor(() => ids.every(ended), 5000, `/events on ${i3.id}: every call completed`);
  await assertNoZombies(c);
});

test('SIGKILL mid-call: the calls of the dead instance are taken over (new stream, audio both ways, the new agent told the conversation, transcript continued); one whose caller left meanwhile ends, recorded; no zombie', async (t) => {
  const c = await cluster(t, { talking: true });
  const calls = placeInbound(c, 6);
  await c.waitFor(() => streaming(calls), 10000, '6 calls streaming');
  await Promise.all(calls.map((ch) => talkAndHear(c, ch, 'before the kill')));

  // The instance with the most calls dies (6 calls on 3 instances: at least 2).
  const [victim, victimCalls] = busiest(c, calls);
  assert.ok(victimCalls.length >= 2);
  const survivors = c.instances.filter((i) => i !== victim);
  const before = new Map<string, string[]>();
  for (const ch of victimCalls) {
    // Final lines only: a line still being transcribed when the owner dies may change (or be lost with it).
    const finals = async () => {
      const rec = await survivors[0]!.get(`/calls/${ch.uuid}`);
      const lines = (rec.body.transcript as { speaker: string; text: string; final: boolean }[]).filter((e) => e.final);
      return lines.some((e) => e.speaker === 'caller') && lines.some((e) => e.speaker === 'agent') ? lines : undefined;
    };
    const lines = await c.waitFor(finals, 5000, `${survivors[0]!.id} sees both sides of ${ch.uuid} before the kill`);
    before.set(
      ch.uuid,
      lines.map((e) => e.text),
    );
  }

  const sessionsBefore = c.gemini.sessions.length;
  await victim.kill();
  const [left, ...moved] = victimCalls as [EmulatedChannel, ...EmulatedChannel[]];
  await left.hangup(); // its caller leaves while nobody owns the call: nothing to take over

  const takenOver = async (ch: EmulatedChannel) => {
    await c.waitFor(
      () => ch.streams.length >= 2 && ch.stream!.connected && survivors.includes(c.ownerOf(ch)!),
      15000,
      `${ch.uuid} streaming to a surviving instance`,
    );
    assert.equal(ch.hungUp, false);
    await talkAndHear(c, ch, 'after the takeover');
    // The new agent was told the conversation so far (no resumption handle here: a fresh session).
    const told = c.gemini.sessions
      .slice(sessionsBefore)
      .some((s) => before.get(ch.uuid)!.every((line) => JSON.stringify(s.setup ?? {}).includes(line)));
    assert.ok(told, `a new agent session for ${ch.uuid} was told ${JSON.stringify(before.get(ch.uuid))}`);
    const owner = c.ownerOf(ch)!;
    for (const i of survivors) {
      let seen: unknown;
      await c
        .waitFor(
          async () => {
            const rec = (await i.get(`/calls/${ch.uuid}`)).body;
            const texts = (rec.transcript as { text: string }[]).map((e) => e.text);
            const old = before.get(ch.uuid)!;
            seen = { status: rec.status, owner: rec.owner, old, texts };
            return (
              rec.status === 'answered' &&
              rec.owner === owner.id &&
              old.every((x) => texts.includes(x)) &&
              texts.some((x) => !old.includes(x))
            );
          },
          5000,
          `${i.id} shows ${ch.uuid} owned by ${owner.id} with its transcript continued`,
        )
        .catch((err: Error) => {
          throw new Error(`${err.message}\nlast seen: ${JSON.stringify(seen)}`);
        });
    }
  };
  await Promise.all(moved.map(takenOver));
  for (const i of survivors) {
    const ended = await c.waitFor(
      async () => {
        const rec = (await i.get(`/calls/${left.uuid}`)).body;
        return FINAL.has(rec.status) && rec;
      },
      15000,
      `${i.id} shows the call whose caller left as ended`,
    );
    assert.ok(ended.endedAt, 'with the time it ended');
  }
  const row = await historyRow(c, left.uuid);
  assert.ok(FINAL.has(row.status), `recorded as ended: ${JSON.stringify(row)}`);
  t.diagnostic(`call whose caller left meanwhile, in the history: ${row.status}, ${row.reason}`);
  // The calls the other instances carried were not disturbed.
  for (const ch of calls.filter((x) => !victimCalls.includes(x))) assert.equal(ch.streams.length, 1);
  await assertNoZombies(c);
});

test('SIGTERM drain: the instance stops claiming, its calls carry on on another instance, it exits in time and leaves the cluster', async (t) => {
  const c = await cluster(t, { instances: 2, talking: true });
  const calls = placeInbound(c, 4);
  await c.waitFor(() => streaming(calls), 10000, '4 calls streaming');
  const [drained, itsCalls] = busiest(c, calls);
  const other = c.instances.find((i) => i !== drained)!;

  const exit = drained.terminate(3000 + 2000); // SHUTDOWN_TIMEOUT_MS (the harness sets 3000) and a margin
  await c.waitFor(() => drained.logged('shutting down').length > 0 || !drained.alive, 5000, 'SIGTERM received');
  const late = placeInbound(c, 2);
  await c.waitFor(() => streaming(late), 10000, 'calls placed during the drain streaming');
  for (const ch of late) {
    assert.equal(c.ownerOf(ch), other, `${ch.uuid} taken by the instance that is not draining`);
    assert.deepEqual(takes(c, ch.uuid), { answers: 1, starts: 1 });
  }
  assert.equal((await exit).code, 0, `exit code\n${drained.tail()}`);
  assert.deepEqual(await c.redis!.hkeys(`${c.prefix}:instances`), [other.id], 'the drained instance left the cluster');

  const carriedOn = async (ch: EmulatedChannel) => {
    await c.waitFor(
      () => ch.stream?.connected && c.ownerOf(ch) === other,
      15000,
      `${ch.uuid} carried on by ${other.id}`,
    );
    assert.equal(ch.hungUp, false, `${ch.uuid} not hung up by the drain`);
    await talkAndHear(c, ch, 'after the drain');
    const rec = (await other.get(`/calls/${ch.uuid}`)).body;
    assert.equal(rec.status, 'answered');
    assert.equal(rec.owner, other.id);
    t.diagnostic(`${ch.uuid} after the drain: resumptions ${JSON.stringify(rec.resumptions?.last)}`);
  };
  await Promise.all(itsCalls.map(carriedOn));
  await assertNoZombies(c);
});

/** Instances `small` (MAX_CALLS=1) and `big` (MAX_CALLS=2) with `n` calls placed one after the other. */
async function fullCluster(
  t: { after(fn: () => Promise<void>): void },
  n: number,
): Promise<{ c: TestCluster; small: Instance; big: Instance; calls: EmulatedChannel[] }> {
  const c = await cluster(t, { instances: 0 });
  const [small, big] = await Promise.all([
    c.add({ id: 'small', env: { MAX_CALLS: '1' } }),
    c.add({ id: 'big', env: { MAX_CALLS: '2' } }),
  ]);
  const calls: EmulatedChannel[] = [];
  for (let k = 0; k < n; k++) {
    const [ch] = placeInbound(c, 1);
    calls.push(ch!);
    await c.waitFor(() => ch!.stream?.connected || ch!.hungUp, 10000, `call ${k + 1} taken`);
    assert.equal(ch!.hungUp, false, `call ${k + 1} (capacity left somewhere) not refused: ${ch!.hangupCause}`);
    assert.deepEqual(takes(c, ch!.uuid), { answers: 1, starts: 1 });
  }
  return { c, small, big, calls };
}

test('MAX_CALLS in the cluster: a full instance does not claim, another takes the call; POST /calls at the limit → 503 at_capacity', async (t) => {
  const { c, small, big, calls } = await fullCluster(t, 3);
  assert.deepEqual(
    calls.map((ch) => c.ownerOf(ch)!.id).sort(),
    ['big', 'big', 'small'],
    'each instance holds at most its MAX_CALLS',
  );
  for (const i of [small, big]) {
    const res = await i.post('/calls', { to: '+15551230001' });
    assert.deepEqual([res.status, res.body.error?.code], [503, 'at_capacity'], `POST /calls on ${i.id}`);
  }

  // A call of the small instance ends: the next one fits there.
  const smallCall = calls.find((ch) => c.ownerOf(ch) === small)!;
  await smallCall.hangup();
  await c.waitFor(async () => (await small.get('/health')).body.activeCalls === 0, 5000, 'small instance free');
  const [next] = placeInbound(c, 1);
  await c.waitFor(() => next!.stream?.connected, 10000, 'the next call taken');
  assert.equal(c.ownerOf(next!), small);
  await assertNoZombies(c);
});

test('MAX_CALLS in the cluster: with every instance full, the caller gets MAX_CALLS_ACTION=busy (USER_BUSY, never answered)', async (t) => {
  const { c } = await fullCluster(t, 3);
  const [over] = placeInbound(c, 1);
  await c.waitFor(() => over!.hangupCause, 5000, 'the call over every instance’s capacity ended');
  assert.equal(over!.hangupCause, 'USER_BUSY');
  assert.deepEqual(takes(c, over!.uuid), { answers: 0, starts: 0 });
  const kills = c.commandsAbout(over!.uuid).filter((x) => x.line.startsWith('api uuid_kill'));
  assert.equal(kills.length, 1, 'refused by one instance only');
});

test('history: ended calls are listed from PostgreSQL by every instance, also by one started afterwards', async (t) => {
  const c = await cluster(t, { instances: 2 });
  const calls = placeInbound(c, 4);
  await c.waitFor(() => streaming(calls), 10000, '4 calls streaming');
  await calls[0]!.hangup();
  await calls[1]!.hangup();
  assert.equal((await c.instances[1]!.del(`/calls/${calls[2]!.uuid}`)).status, 200);
  assert.equal((await c.instances[0]!.del(`/calls/${calls[3]!.uuid}`)).status, 200);
  const ids = calls.map((ch) => ch.uuid).sort();
  for (const i of c.instances)
    await c.waitFor(
      async () => {
        const ended = (await listed(i)).filter((r) => r.status === 'completed').map((r) => r.id);
        return ids.every((id) => ended.includes(id));
      },
      10000,
      `${i.id} lists the 4 ended calls`,
    );

  // Every instance gone (so nothing is served from memory or Redis): a new one reads them from PostgreSQL.
  await Promise.all(c.instances.map((i) => i.terminate(10000)));
  const fresh = await c.add({ id: 'fresh' });
  const first = await fresh.get('/calls?limit=2');
  assert.equal(first.status, 200);
  assert.equal(first.body.calls.length, 2);
  const second = await fresh.get(`/calls?limit=2&before=${first.body.next}`);
  const paged = [...first.body.calls, ...second.body.calls];
  assert.deepEqual(paged.map((r: { id: string }) => r.id).sort(), ids);
  for (const r of paged) {
    assert.equal(r.status, 'completed');
    assert.ok(['a', 'b'].includes(r.node), `node recorded: ${r.node}`);
  }
});

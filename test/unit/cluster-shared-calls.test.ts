import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { CallChange } from '../../src/calls/call-book.ts';
import { CallClaims } from '../../src/cluster/call-claims.ts';
import type { RedisLink } from '../../src/cluster/redis-link.ts';
import { type ChangeMessage, SharedCalls } from '../../src/cluster/shared-calls.ts';
import { type CallRecord, noResumptions } from '../../src/store/call-record.ts';
import { TestRedis, waitFor } from './cluster-redis.ts';

const redis = new TestRedis();
after(() => redis.cleanup());

function liveCall(id: string): CallRecord {
  return {
    id,
    direction: 'inbound',
    from: '1000',
    to: '2000',
    pipeline: 'echo',
    status: 'answered',
    createdAt: Date.now(),
    answeredAt: Date.now(),
    turns: [],
    resumptions: noResumptions(),
    transcript: [],
  };
}

const shared = (link: RedisLink, instanceId: string, prefix: string, coalesceMs = 100): SharedCalls =>
  new SharedCalls({ link, instanceId, prefix, coalesceMs });

test('a live record put by one instance is read and listed by another, and gone once removed', async () => {
  const prefix = redis.prefix();
  const a = shared(await redis.open(), 'inst-a', prefix);
  const b = shared(await redis.open(), 'inst-b', prefix);
  const call = liveCall('call-1');
  call.transcript.push({ speaker: 'caller', text: 'hello', at: Date.now(), final: true });
  a.put(call);
  a.put(liveCall('call-2'));
  await a.flush();

  const seen = await b.get('call-1');
  assert.equal(seen?.owner, 'inst-a');
  assert.deepEqual(
    seen?.transcript.map((t) => t.text),
    ['hello'],
  );
  assert.deepEqual((await b.list()).map((r) => r.id).sort(), ['call-1', 'call-2']);

  await a.remove('call-1');
  assert.equal(await b.get('call-1'), undefined);
  assert.deepEqual(
    (await b.list()).map((r) => r.id),
    ['call-2'],
  );
});

test('a burst of 50 changes becomes one write carrying the newest state; the final state is written at once', async () => {
  const prefix = redis.prefix();
  // A long window, so the whole burst surely falls into it even on a slow machine.
  const a = shared(await redis.open(), 'inst-a', prefix, 60_000);
  const b = shared(await redis.open(), 'inst-b', prefix);
  const call = liveCall('call-1');
  a.put(call); // written at once: nothing was written for this call within the window
  await waitFor('the first write', async () => (await b.get('call-1')) !== undefined);
  for (let i = 0; i < 50; i++) {
    call.transcript.push({ speaker: 'agent', text: `word ${i}`, at: Date.now(), final: false });
    a.put(call);
  }
  // The 50 wait for the window; flushed, they are one write of the newest state.
  await a.flush();
  assert.equal(a.stats().writes, 2);
  assert.equal((await b.get('call-1'))?.transcript.length, 50);

  call.status = 'completed';
  call.endedAt = Date.now();
  a.put(call); // no flush: a final state does not wait for the window
  await waitFor('the final state visible', async () => (await b.get('call-1'))?.status === 'completed');
  assert.equal(a.stats().writes, 3);
  assert.equal(a.stats().pending, 0, 'nothing kept for an ended call');
});

test('changes reach every instance, own ones included, once each and in order per call', async () => {
  const prefix = redis.prefix();
  const a = shared(await redis.open(), 'inst-a', prefix);
  const b = shared(await redis.open(), 'inst-b', prefix);
  const gotA: ChangeMessage[] = [];
  const gotB: ChangeMessage[] = [];
  const stopA = await a.subscribe((m) => gotA.push(m));
  const stopB = await b.subscribe((m) => gotB.push(m));
  const callA = liveCall('call-a');
  const callB = liveCall('call-b');
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 50; i++) {
    const change: CallChange = { type: 'dtmf', digits: String(i), at: i };
    sends.push(a.publish(callA, change), b.publish(callB, change));
  }
  await Promise.all(sends);
  await waitFor('100 changes at each instance', () => gotA.length === 100 && gotB.length === 100);

  for (const got of [gotA, gotB]) {
    for (const [id, instance] of [
      ['call-a', 'inst-a'],
      ['call-b', 'inst-b'],
    ] as const) {
      const mine = got.filter((m) => m.id === id);
      assert.deepEqual(
        mine.map((m) => (m.change.type === 'dtmf' ? m.change.digits : '?')),
        Array.from({ length: 50 }, (_, i) => String(i)),
      );
      assert.ok(mine.every((m) => m.instance === instance && m.call.id === id));
    }
  }
  await stopA();
  await b.publish(callB, { type: 'status', status: 'completed', at: 1 });
  await waitFor('the last change at inst-b', () => gotB.length === 101);
  assert.equal(gotA.length, 100, 'nothing after unsubscribing');
  await stopB();
});

test('records whose claim is gone, or held by an instance no longer alive, are told apart as stale', async () => {
  const prefix = redis.prefix();
  const link = await redis.open();
  const a = shared(link, 'inst-a', prefix);
  const claimsA = new CallClaims({ link, instanceId: 'inst-a', leaseMs: 10_000, prefix });
  const claimsB = new CallClaims({ link, instanceId: 'inst-b', leaseMs: 10_000, prefix });
  for (const id of ['held-by-a', 'held-by-b', 'unclaimed']) a.put(liveCall(id));
  await a.flush();
  await claimsA.claim('held-by-a');
  await claimsB.claim('held-by-b');

  assert.deepEqual(await a.staleIds(), ['unclaimed']);
  assert.deepEqual((await a.staleIds(['inst-a', 'inst-b'])).sort(), ['unclaimed']);
  assert.deepEqual((await a.staleIds(['inst-a'])).sort(), ['held-by-b', 'unclaimed']);
});

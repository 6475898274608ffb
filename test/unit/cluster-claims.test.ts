import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CallClaims } from '../../src/cluster/call-claims.ts';
import type { RedisLink } from '../../src/cluster/redis-link.ts';
import { CuttableRelay, TestRedis, waitFor } from './cluster-redis.ts';

const redis = new TestRedis();
after(() => redis.cleanup());

/**
 * Where renewal must hold a claim: short, yet long enough that a scheduling hiccup on a loaded CI machine does
 * not lapse a lease between two renewals (a real lapse is reported as `lost`, which these tests check against).
 */
const HELD_LEASE_MS = 1000;
/** Where a claim is meant to lapse. */
const LAPSING_LEASE_MS = 300;

const ids = (n: number, tag: string): string[] => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

function claimsFor(link: RedisLink, instanceId: string, prefix: string, leaseMs = 10_000): CallClaims {
  return new CallClaims({ link, instanceId, leaseMs, prefix });
}

test('100 calls claimed by three racing instances are each owned by exactly one of them', async () => {
  const prefix = redis.prefix();
  const instances = await Promise.all(
    ['a', 'b', 'c'].map(async (name) => claimsFor(await redis.open(), `inst-${name}`, prefix)),
  );
  const calls = ids(100, 'race');
  const wins = await Promise.all(calls.map((id) => Promise.all(instances.map((c) => c.claim(id)))));

  for (const [i, id] of calls.entries()) {
    const winners = instances.filter((_, j) => wins[i]![j]);
    assert.equal(winners.length, 1, `${id} taken by ${winners.length} instances`);
    assert.equal(await instances[0]!.owner(id), winners[0]!.instanceId);
  }
  const owned = instances.flatMap((c) => c.owned());
  assert.equal(owned.length, 100);
  assert.equal(new Set(owned).size, 100);
});

test('claiming a call already owned is true for the owner and false for everyone else', async () => {
  const prefix = redis.prefix();
  const a = claimsFor(await redis.open(), 'inst-a', prefix);
  const b = claimsFor(await redis.open(), 'inst-b', prefix);
  assert.equal(await a.claim('call-1'), true);
  assert.equal(await a.claim('call-1'), true);
  assert.equal(await b.claim('call-1'), false);
  assert.equal(await b.owner('call-1'), 'inst-a');
  assert.deepEqual(b.owned(), []);
});

test('renewal keeps claims alive for many lease periods', async () => {
  const prefix = redis.prefix();
  const a = claimsFor(await redis.open(), 'inst-a', prefix, HELD_LEASE_MS);
  const b = claimsFor(await redis.open(), 'inst-b', prefix, HELD_LEASE_MS);
  const calls = ids(20, 'renew');
  for (const id of calls) assert.equal(await a.claim(id), true);
  const lost: string[] = [];
  a.on('lost', (id) => lost.push(id));
  a.start();
  try {
    // Renewals run every lease/3: 12 of them span four leases.
    await waitFor('12 renewals', () => a.stats().renewals >= 12);
    for (const id of calls) {
      assert.equal(await b.claim(id), false, `${id} lapsed despite renewal`);
      assert.equal(await b.owner(id), 'inst-a');
    }
    assert.deepEqual(lost, []);
    assert.equal(a.stats().renewalFailures, 0);
  } finally {
    await a.stop();
  }
});

test("a stopped owner's claims lapse, another instance takes them, and the old owner hears it lost them", async () => {
  const prefix = redis.prefix();
  const a = claimsFor(await redis.open(), 'inst-a', prefix, LAPSING_LEASE_MS);
  const b = claimsFor(await redis.open(), 'inst-b', prefix, LAPSING_LEASE_MS);
  const calls = ids(5, 'lapse');
  for (const id of calls) assert.equal(await a.claim(id), true);

  // inst-a stops renewing (as if frozen or dead): inst-b gets each call once the lease runs out.
  for (const id of calls) await waitFor(`inst-b taking ${id}`, () => b.claim(id));
  for (const id of calls) assert.equal(await a.owner(id), 'inst-b');

  const lost = new Map<string, string | undefined>();
  a.on('lost', (id, newOwner) => lost.set(id, newOwner));
  const outcome = await a.renewNow();
  assert.deepEqual(outcome.lost.sort(), [...calls].sort());
  assert.deepEqual([...lost.entries()].sort(), calls.map((id) => [id, 'inst-b']).sort());
  assert.deepEqual(a.owned(), []);
  // Nothing of inst-b's was touched by inst-a's renewal.
  for (const id of calls) assert.equal(await b.owner(id), 'inst-b');
});

test('`lost` fires when a renewal finds the claim overwritten or deleted', async () => {
  const prefix = redis.prefix();
  const link = await redis.open();
  const a = claimsFor(link, 'inst-a', prefix, HELD_LEASE_MS);
  assert.equal(await a.claim('taken'), true);
  assert.equal(await a.claim('vanished'), true);
  assert.equal(await a.claim('kept'), true);
  const lost = new Map<string, string | undefined>();
  a.on('lost', (id, newOwner) => lost.set(id, newOwner));
  a.start();
  try {
    await link.command.set(`${prefix}:claim:taken`, 'intruder', 'PX', 10_000);
    await link.command.del(`${prefix}:claim:vanished`);
    await waitFor('both losses reported', () => lost.size === 2);
    assert.deepEqual(
      [...lost.entries()].sort(),
      [
        ['taken', 'intruder'],
        ['vanished', undefined],
      ].sort(),
    );
    assert.deepEqual(a.owned(), ['kept']);
    assert.equal(await a.owner('taken'), 'intruder');
  } finally {
    await a.stop();
  }
});

test('only the owner can release a claim', async () => {
  const prefix = redis.prefix();
  const a = claimsFor(await redis.open(), 'inst-a', prefix);
  const b = claimsFor(await redis.open(), 'inst-b', prefix);
  assert.equal(await a.claim('call-1'), true);
  assert.equal(await b.release('call-1'), false);
  assert.equal(await b.owner('call-1'), 'inst-a');
  assert.equal(await a.release('call-1'), true);
  assert.equal(await b.owner('call-1'), undefined);
  assert.deepEqual(a.owned(), []);
  assert.equal(await b.claim('call-1'), true);
});

test('a Redis outage is not a loss: claims are kept, `lease-expired` once past the lease, then the truth after', async () => {
  const prefix = redis.prefix();
  const relay = new CuttableRelay();
  await relay.start();
  try {
    const link = await redis.open(relay.url);
    const downs: string[] = [];
    let ups = 0;
    link.on('down', (reason) => downs.push(reason));
    link.on('up', () => ups++);
    const a = claimsFor(link, 'inst-a', prefix, HELD_LEASE_MS);
    const calls = ids(3, 'outage');
    for (const id of calls) assert.equal(await a.claim(id), true);
    const lost: string[] = [];
    const expired: string[] = [];
    a.on('lost', (id) => lost.push(id));
    a.on('lease-expired', (id) => expired.push(id));
    a.start();
    try {
      await relay.cut();
      await waitFor('lease-expired for every call', () => expired.length === calls.length);
      await waitFor('several failed renewals', () => a.stats().renewalFailures >= 6);
      assert.deepEqual(expired.sort(), [...calls].sort(), 'one lease-expired per call, not per renewal');
      assert.deepEqual(lost, []);
      assert.deepEqual(a.owned().sort(), [...calls].sort());
      assert.equal(downs.length, 1, `one down per outage, got ${downs.length}`);

      await relay.start();
      await waitFor('the link back up', () => ups === 1);
      // The leases ran out in Redis meanwhile: the first renewal after the outage reports them lost.
      await waitFor('the lapsed claims reported lost', () => lost.length === calls.length);
      assert.deepEqual(a.owned(), []);
      assert.equal(downs.length, 1);
    } finally {
      await a.stop();
    }
  } finally {
    await relay.stop();
  }
});

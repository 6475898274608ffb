import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { InstanceDirectory } from '../../src/cluster/instance-directory.ts';
import type { RedisLink } from '../../src/cluster/redis-link.ts';
import { TestRedis, waitFor } from './cluster-redis.ts';

const redis = new TestRedis();
after(() => redis.cleanup());

function directory(link: RedisLink, instanceId: string, prefix: string, calls: () => number, leaseMs = 1000) {
  return new InstanceDirectory({ link, instanceId, leaseMs, prefix, callCount: calls });
}

test('instances see each other with their call counts and draining flag', async () => {
  const prefix = redis.prefix();
  let aCalls = 3;
  const a = directory(await redis.open(), 'inst-a', prefix, () => aCalls);
  const b = directory(await redis.open(), 'inst-b', prefix, () => 0);
  try {
    assert.equal(await a.start(), true);
    assert.equal(await b.start(), true);
    const seen = await b.alive();
    assert.deepEqual(
      seen.map((i) => [i.id, i.calls, i.draining]),
      [
        ['inst-a', 3, false],
        ['inst-b', 0, false],
      ],
    );
    assert.equal(seen[0]!.startedAt, a.startedAt);

    aCalls = 7;
    assert.equal(await a.setDraining(true), true);
    const after = await b.alive();
    assert.deepEqual(
      after.map((i) => [i.id, i.calls, i.draining]),
      [
        ['inst-a', 7, true],
        ['inst-b', 0, false],
      ],
    );
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('an instance that stops heartbeating drops out after the lease; one that leaves is gone at once', async () => {
  const prefix = redis.prefix();
  const a = directory(await redis.open(), 'inst-a', prefix, () => 0, 300);
  const b = directory(await redis.open(), 'inst-b', prefix, () => 0, 300);
  const c = directory(await redis.open(), 'inst-c', prefix, () => 0, 300);
  try {
    await Promise.all([a.start(), b.start(), c.start()]);
    await waitFor('all three alive', async () => (await b.alive()).length === 3);

    await c.leave();
    assert.deepEqual(
      (await b.alive()).map((i) => i.id).filter((id) => id === 'inst-c'),
      [],
      'inst-c left',
    );

    await a.stop(); // frozen or killed: no goodbye
    await waitFor('inst-a gone from the alive list', async () => !(await b.alive()).some((i) => i.id === 'inst-a'));
    await waitFor('inst-b still alive', async () => (await b.alive()).some((i) => i.id === 'inst-b'));
  } finally {
    await Promise.all([a.stop(), b.stop(), c.stop()]);
  }
});

test('entries of instances long gone are pruned by the heartbeats of the living', async () => {
  const prefix = redis.prefix();
  const link = await redis.open();
  await link.command.hset(
    `${prefix}:instances`,
    'inst-dead',
    JSON.stringify({ id: 'inst-dead', startedAt: 1, calls: 4, draining: false, lastSeen: 1 }),
  );
  await link.command.hset(`${prefix}:instances`, 'garbage', 'not json');
  const a = directory(link, 'inst-a', prefix, () => 0);
  try {
    await a.start();
    assert.deepEqual(await link.command.hkeys(`${prefix}:instances`), ['inst-a']);
  } finally {
    await a.stop();
  }
});

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { RedisLink, RedisUnavailableError, redactRedisUrl } from '../../src/cluster/redis-link.ts';
import { CuttableRelay, TestRedis, waitFor } from './cluster-redis.ts';

const redis = new TestRedis();
after(() => redis.cleanup());

test('a Redis URL is shown with its user and password masked', () => {
  const shown = redactRedisUrl('redis://callbridge:s3cr3t-pw@redis.internal:6380/2');
  assert.equal(shown, 'redis://***:***@redis.internal:6380/2');
  assert.equal(redactRedisUrl('redis://:only-pw@127.0.0.1:6379'), 'redis://:***@127.0.0.1:6379');
  assert.equal(redactRedisUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  assert.ok(!redactRedisUrl('not a url s3cr3t').includes('s3cr3t'));
});

test('an unreachable Redis fails ready() in time, without the password in the error', async () => {
  const relay = new CuttableRelay();
  await relay.start();
  const url = new URL(relay.url);
  await relay.stop(); // nothing listens on that port now
  url.password = 's3cr3t-pw';
  const link = new RedisLink({ url: url.toString(), connectTimeoutMs: 500 });
  const downs: string[] = [];
  link.on('down', (reason) => downs.push(reason));
  try {
    await assert.rejects(link.ready(1500), (e: Error) => {
      assert.ok(e instanceof RedisUnavailableError);
      assert.match(e.message, /not ready within 1500 ms/);
      assert.ok(!e.message.includes('s3cr3t'), e.message);
      return true;
    });
    assert.equal(downs.length, 1, 'one down for the whole outage');
    assert.ok(!downs[0]!.includes('s3cr3t'));
  } finally {
    await link.close();
  }
});

test('an outage is reported once as down and once as up, and subscriptions survive it', async () => {
  const relay = new CuttableRelay();
  await relay.start();
  try {
    const link = await redis.open(relay.url);
    const events: string[] = [];
    link.on('down', () => events.push('down'));
    link.on('up', () => events.push('up'));
    const channel = `${redis.prefix()}:chan`;
    const got: string[] = [];
    await link.listen(channel, (m) => got.push(m));

    await relay.cut();
    await waitFor('down', () => events.includes('down'));
    await assert.rejects(link.command.get('x'), 'commands fail at once while down (no offline queue)');
    await relay.start();
    await waitFor('up', () => events.includes('up'));
    assert.deepEqual(events, ['down', 'up']);

    const direct = await redis.open();
    await waitFor('the channel re-subscribed', async () => (await direct.command.publish(channel, 'after')) > 0);
    await waitFor('the message delivered', () => got.includes('after'));
  } finally {
    await relay.stop();
  }
});

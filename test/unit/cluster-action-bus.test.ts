import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import {
  ActionBus,
  ActionBusBusyError,
  type ActionRequest,
  OwnerGoneError,
  OwnerTimeoutError,
  RemoteActionError,
} from '../../src/cluster/action-bus.ts';
import type { RedisLink } from '../../src/cluster/redis-link.ts';
import { REDIS_URL, TestRedis, testPrefix } from './cluster-redis.ts';

const redis = new TestRedis();
after(() => redis.cleanup());

const bus = (link: RedisLink, instanceId: string, prefix: string, maxPending?: number): ActionBus =>
  new ActionBus({ link, instanceId, prefix, maxPending });

class CallNotLive extends Error {
  override name = 'CallNotLive';
  readonly code = 'call_not_live';
}

test("an action on a call is run by the call's owner and its answer comes back", async () => {
  const prefix = redis.prefix();
  const owner = bus(await redis.open(), 'inst-a', prefix);
  const asker = bus(await redis.open(), 'inst-b', prefix);
  const seen: ActionRequest[] = [];
  await owner.serve(async (req) => {
    seen.push(req);
    return { hungUp: req.callId };
  });
  try {
    const answer = await asker.request('inst-a', { callId: 'call-1', action: 'hangup', args: { cause: 'X' } }, 5000);
    assert.deepEqual(answer, { hungUp: 'call-1' });
    assert.deepEqual(seen, [{ callId: 'call-1', action: 'hangup', args: { cause: 'X' } }]);
    assert.equal(asker.pending, 0);
  } finally {
    await owner.close();
    await asker.close();
  }
});

test("the owner's error comes back with its name, message and code", async () => {
  const prefix = redis.prefix();
  const owner = bus(await redis.open(), 'inst-a', prefix);
  const asker = bus(await redis.open(), 'inst-b', prefix);
  await owner.serve(async (req) => {
    throw new CallNotLive(`call ${req.callId} is not live`);
  });
  try {
    await assert.rejects(asker.request('inst-a', { callId: 'call-9', action: 'hangup' }, 5000), (e: Error) => {
      assert.ok(e instanceof RemoteActionError);
      assert.equal(e.name, 'CallNotLive');
      assert.equal(e.message, 'call call-9 is not live');
      assert.equal(e.code, 'call_not_live');
      return true;
    });
  } finally {
    await owner.close();
    await asker.close();
  }
});

test('a request to an instance nobody hears fails at once with OwnerGoneError', async () => {
  const prefix = redis.prefix();
  const asker = bus(await redis.open(), 'inst-b', prefix);
  try {
    // A minute to answer: only a refusal at once can produce OwnerGoneError within the test's time.
    await assert.rejects(asker.request('inst-gone', { callId: 'call-1', action: 'hangup' }, 60_000), OwnerGoneError);
    assert.equal(asker.pending, 0);
  } finally {
    await asker.close();
  }
});

test('a request the owner never answers fails with OwnerTimeoutError', async () => {
  const prefix = redis.prefix();
  const owner = bus(await redis.open(), 'inst-a', prefix);
  const asker = bus(await redis.open(), 'inst-b', prefix);
  let release: () => void = () => {};
  const stuck = new Promise<void>((r) => {
    release = r;
  });
  let asked = 0;
  await owner.serve(async () => {
    asked++;
    await stuck;
    return 'too late';
  });
  try {
    await assert.rejects(asker.request('inst-a', { callId: 'call-1', action: 'hangup' }, 300), OwnerTimeoutError);
    assert.equal(asked, 1, 'the owner got the request');
    assert.equal(asker.pending, 0);
  } finally {
    release();
    await owner.close();
    await asker.close();
  }
});

test('requests waiting for answers are bounded', async () => {
  const prefix = redis.prefix();
  const owner = bus(await redis.open(), 'inst-a', prefix);
  const asker = bus(await redis.open(), 'inst-b', prefix, 2);
  let release: () => void = () => {};
  const stuck = new Promise<void>((r) => {
    release = r;
  });
  await owner.serve(async (req) => {
    await stuck;
    return req.callId;
  });
  try {
    const first = asker.request('inst-a', { callId: 'c1', action: 'hangup' }, 10_000);
    const second = asker.request('inst-a', { callId: 'c2', action: 'hangup' }, 10_000);
    await assert.rejects(asker.request('inst-a', { callId: 'c3', action: 'hangup' }, 10_000), ActionBusBusyError);
    release();
    assert.deepEqual(await Promise.all([first, second]), ['c1', 'c2']);
  } finally {
    release();
    await owner.close();
    await asker.close();
  }
});

test('a process that used the whole cluster and closed it exits by itself (no open handles)', async () => {
  const script = fileURLToPath(new URL('../../bench/cluster-redis.ts', import.meta.url));
  const child = spawn(process.execPath, [script, '--smoke'], {
    env: { ...process.env, CALLBRIDGE_TEST_REDIS_URL: REDIS_URL, CLUSTER_BENCH_PREFIX: testPrefix() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    );
    assert.equal(signal, null, `the process had to be killed: it did not exit after close()\n${output}`);
    assert.equal(code, 0, output);
    assert.match(output, /smoke ok/);
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
});

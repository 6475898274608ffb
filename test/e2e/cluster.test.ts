import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TestCluster } from '../support/cluster.ts';

test('harness: one instance as a child process, two nodes, an inbound call on each streams to it', async (t) => {
  const cluster = await TestCluster.start({ instances: 1, redis: false });
  t.after(() => cluster.stop());
  const [one] = cluster.instances;
  const a = cluster.nodes.get('a')!;
  const b = cluster.nodes.get('b')!;
  assert.equal(a.eslConnectionCount, 1);
  const ca = a.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  const cb = b.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await cluster.waitFor(() => ca.stream?.connected && cb.stream?.connected, 10000, 'both streams connected');
  assert.equal(cluster.ownerOf(ca), one);
  assert.equal(cluster.ownerOf(cb), one);
  const list = await one!.get('/calls');
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.calls.map((c: { id: string }) => c.id).sort(), [ca.uuid, cb.uuid].sort());
  await ca.hangup();
  await cb.hangup();
  await cluster.waitFor(async () => (await one!.get('/health')).body.activeCalls === 0, 5000, 'calls ended');
  const term = await one!.terminate(10000);
  assert.equal(term.code, 0);
});

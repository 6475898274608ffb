import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, type FreeSwitchEmulator } from '../bed/index.ts';
import { stackApi } from '../support/http.ts';
import { startStack, until, type Stack } from '../support/stack.ts';

/** Two FreeSWITCH emulators (nodes `a` and `b`) behind one callbridge; `b` streams to its own URL. */
async function twoNodes(
  env: Record<string, string> = {},
): Promise<{ stack: Stack; a: FreeSwitchEmulator; b: FreeSwitchEmulator; port: number }> {
  const port = await freePort();
  const stack = await startStack({
    nodes: ['a', 'b'],
    // Both reach this callbridge; `localhost` tells b's streams apart from a's (CALLBRIDGE_WS_URL).
    streamUrls: { b: `ws://localhost:${port}` },
    env: { HTTP_PORT: String(port), CALLBRIDGE_WS_URL: `ws://127.0.0.1:${port}`, DEFAULT_GATEWAY: 'trunk', ...env },
  });
  return { stack, a: stack.nodes.get('a')!, b: stack.nodes.get('b')!, port };
}

/** Command lines an emulator received about call `id`. */
const about = (fs: FreeSwitchEmulator, id: string) => fs.commands.filter((c) => c.line.includes(id)).map((c) => c.line);

test('inbound calls on two nodes are each taken and streamed by their own node, to its own URL', async (t) => {
  const { stack, a, b, port } = await twoNodes();
  t.after(() => stack.stop());
  const callA = a.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  const callB = b.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await until(() => callA.stream?.connected && callB.stream?.connected, 5000, 'both streams connected');

  for (const [fs, call, url] of [
    [a, callA, `ws://127.0.0.1:${port}`],
    [b, callB, `ws://localhost:${port}`],
  ] as const) {
    const lines = about(fs, call.uuid);
    assert.ok(lines.includes(`api uuid_answer ${call.uuid}`), `${call.uuid} answered by its node`);
    const start = lines.find((l) => l.startsWith(`api uuid_audio_stream ${call.uuid} start `));
    assert.ok(start?.includes(` ${url}/stream/${call.uuid}?token=`), `streams to ${url}: ${start}`);
  }
  assert.deepEqual(about(a, callB.uuid), [], 'node a got no command for b’s call');
  assert.deepEqual(about(b, callA.uuid), [], 'node b got no command for a’s call');

  const http = stackApi(stack);
  assert.equal((await http.get(`/calls/${callA.uuid}`)).body.node, 'a');
  assert.equal((await http.get(`/calls/${callB.uuid}`)).body.node, 'b');
  const health = (await http.get('/health')).body;
  assert.equal(health.esl, 'connected');
  assert.equal(health.activeCalls, 2);
  assert.deepEqual(health.nodes, [
    { name: 'a', esl: 'connected', activeCalls: 1 },
    { name: 'b', esl: 'connected', activeCalls: 1 },
  ]);

  await callB.hangup();
  await until(() => stack.bridge.calls.active.size === 1, 3000, 'b’s call ended');
  assert.ok(stack.bridge.calls.active.has(callA.uuid), 'a’s call carries on');
});

test('outbound calls go to the node with fewer calls or the one named; unknown node → 400; hang-up reaches the right node', async (t) => {
  const { stack, a, b } = await twoNodes();
  t.after(() => stack.stop());
  const http = stackApi(stack);
  const inbound = a.placeInboundCall({ variables: { callbridge: '1' } });
  await until(() => stack.bridge.calls.active.has(inbound.uuid), 3000, 'inbound call on a taken');

  const first = await http.post('/calls', { to: '+15551230001' });
  assert.equal(first.status, 202);
  const firstId: string = first.body.id;
  await b.waitForCommand((c) => c.kind === 'bgapi' && c.line.includes(`origination_uuid=${firstId}`), 3000);
  assert.equal(
    a.commands.filter((c) => c.line.includes('originate')).length,
    0,
    'the busier node a was not asked to dial',
  );
  assert.equal((await http.get(`/calls/${firstId}`)).body.node, 'b');

  // a and b carry one call each now: the request's node decides.
  const named = await http.post('/calls', { to: '+15551230002', node: 'a' });
  assert.equal(named.status, 202);
  await a.waitForCommand((c) => c.kind === 'bgapi' && c.line.includes(`origination_uuid=${named.body.id}`), 3000);
  assert.equal((await http.get(`/calls/${named.body.id}`)).body.node, 'a');
  const alias = await http.post('/outbound/call', { phone_number: '+15551230003', node: 'b' });
  assert.equal(alias.status, 202);
  await b.waitForCommand((c) => c.kind === 'bgapi' && c.line.includes(`origination_uuid=${alias.body.id}`), 3000);

  const unknown = await http.post('/calls', { to: '+15551230004', node: 'zz' });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.code, 'invalid_request');
  assert.match(unknown.body.error.message, /unknown node "zz".*a, b/);
  assert.equal((await http.post('/calls', { to: '+15551230004', node: 'Not A Node' })).status, 400);

  // Hang up b's call through the API: only b hears of it.
  await until(() => stack.bridge.calls.active.has(firstId), 5000, 'b’s outbound call answered');
  const del = await http.del(`/calls/${firstId}`);
  assert.equal(del.status, 200);
  await b.waitForCommand((c) => c.line === `api uuid_kill ${firstId} NORMAL_CLEARING`, 3000);
  await until(() => !stack.bridge.calls.active.has(firstId), 3000, 'b’s call ended');
  assert.deepEqual(about(a, firstId), [], 'node a got no command for b’s call');
  assert.ok(stack.bridge.calls.active.has(inbound.uuid), 'a’s inbound call carries on');
});

test('with one node down, outbound calls go to the other and /health shows the node disconnected', async (t) => {
  const { stack, a, b } = await twoNodes();
  t.after(() => stack.stop());
  const http = stackApi(stack);
  // b is the busier node: only a being down sends the next call there.
  const onB = b.placeInboundCall({ variables: { callbridge: '1' } });
  await until(() => stack.bridge.calls.active.has(onB.uuid), 3000, 'call on b taken');
  await a.stop();
  await until(async () => (await http.get('/health')).body.nodes[0].esl === 'disconnected', 5000, 'a disconnected');

  const health = (await http.get('/health')).body;
  assert.equal(health.status, 'ok');
  assert.equal(health.esl, 'disconnected', 'not every node is connected');
  assert.deepEqual(health.nodes, [
    { name: 'a', esl: 'disconnected', activeCalls: 0 },
    { name: 'b', esl: 'connected', activeCalls: 1 },
  ]);
  const placed = await http.post('/calls', { to: '+15551230001' });
  assert.equal(placed.status, 202);
  await b.waitForCommand((c) => c.kind === 'bgapi' && c.line.includes(`origination_uuid=${placed.body.id}`), 3000);
  const onDownNode = await http.post('/calls', { to: '+15551230002', node: 'a' });
  assert.equal(onDownNode.status, 503);
  assert.equal(onDownNode.body.error.code, 'unavailable');
  assert.match(onDownNode.body.error.message, /node "a" is not connected/);
  const metrics = await (await fetch(`http://127.0.0.1:${stack.bridge.http.port}/metrics`)).text();
  assert.match(metrics, /^callbridge_esl_connected 1$/m);
});

test('MAX_CALLS counts the calls of every node', async (t) => {
  const { stack, a, b } = await twoNodes({ MAX_CALLS: '2' });
  t.after(() => stack.stop());
  const onA = a.placeInboundCall({ variables: { callbridge: '1' } });
  const onB = b.placeInboundCall({ variables: { callbridge: '1' } });
  await until(() => onA.stream?.connected && onB.stream?.connected, 5000, 'one call on each node');
  const over = b.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await until(() => over.hangupCause, 3000, 'the third call refused');
  assert.equal(over.hangupCause, 'USER_BUSY');
  assert.deepEqual(about(b, over.uuid), [`api uuid_kill ${over.uuid} USER_BUSY`]);
  const placed = await stackApi(stack).post('/calls', { to: '+15551230001', node: 'a' });
  assert.deepEqual([placed.status, placed.body.error.code], [503, 'at_capacity']);
});

/**
 * Webhook tools on a real call, end to end: POST /calls carries a tool definition, Gemini Live (the fake) calls
 * it, callbridge POSTs the signed request to a local tool server, and the answer reaches the model as its
 * toolResponse; the call record, its transcript and the metrics show the call.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { signCallback } from '../../src/calls/signing.ts';
import { safeEqual } from '../../src/secrets.ts';
import { startStack, until } from '../support/stack.ts';

const SECRET = 'tools-e2e-secret-0123456789';

test('a webhook tool given with POST /calls: signed request, answer back to Gemini Live as its toolResponse', async (t) => {
  const hits: Array<{ body: any; signed: boolean }> = [];
  const hook = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const ts = Number(req.headers['x-callbridge-timestamp']);
      const signed = safeEqual(String(req.headers['x-callbridge-signature']), signCallback(SECRET, ts, raw));
      hits.push({ body: JSON.parse(raw), signed });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'shipped', eta_days: 2 }));
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk', CALLBACK_SECRET: SECRET } });
  t.after(async () => {
    await stack.stop();
    hook.closeAllConnections();
    await new Promise((r) => hook.close(r));
  });
  stack.fs.onOriginate = () => ({ result: 'answer', afterMs: 50 });
  const base = `http://127.0.0.1:${stack.bridge.http.port}`;
  const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/orders`;
  const tool = {
    name: 'check_order',
    description: 'Where an order is',
    parameters: { type: 'object', properties: { order: { type: 'string' } }, required: ['order'] },
    url,
    timeout_ms: 3000,
  };
  const post = (body: unknown) =>
    fetch(`${base}/calls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  const refused = await post({ to: '+15551234567', tools: [{ ...tool, url: 'file:///etc/passwd' }] });
  assert.equal(refused.status, 400);
  const problem = (await refused.json()) as { error: { code: string; details: string[] } };
  assert.equal(problem.error.code, 'invalid_request');
  assert.ok(
    problem.error.details.some((d) => /^tools\.0\.url: must be an http/.test(d)),
    JSON.stringify(problem),
  );

  const placed = await post({ to: '+15551234567', tools: [tool], builtin_tools: ['end_call'] });
  assert.equal(placed.status, 202);
  const { id } = (await placed.json()) as { id: string };
  const session = await stack.gemini.nextSession(5000);
  const setup = await until(() => session.setup, 3000, 'setup');
  const declared = JSON.stringify(setup.tools ?? []);
  assert.match(declared, /check_order/);
  assert.match(declared, /end_call/);
  await until(() => stack.fs.channels.get(id)?.stream?.connected, 3000, 'stream');

  session.toolCall([{ id: 'fc-1', name: 'check_order', args: { order: 'A17' } }]);
  const response = await session.nextToolResponse('fc-1', 5000);
  assert.match(JSON.stringify(response), /"status":"shipped"/);
  assert.equal(hits.length, 1);
  assert.ok(hits[0]!.signed, 'the signature verifies at the tool server');
  assert.equal(hits[0]!.body.call_uuid, id);
  assert.equal(hits[0]!.body.tool, 'check_order');
  assert.deepEqual(hits[0]!.body.args, { order: 'A17' });

  const record = (await (await fetch(`${base}/calls/${id}`)).json()) as any;
  assert.equal(record.tools.count, 1);
  assert.equal(record.tools.last[0].name, 'check_order');
  assert.equal(record.tools.last[0].ok, true);
  assert.ok(record.transcript.some((e: any) => e.speaker === 'tool' && e.text.startsWith('check_order')));
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^callbridge_tool_calls_total\{tool="check_order",outcome="ok"\} 1$/m);
  const toolLog = stack.logs.find((l) => l.msg === 'tool call');
  assert.ok(toolLog, 'logged');
  assert.doesNotMatch(JSON.stringify(stack.logs), new RegExp(SECRET), 'the secret is never logged');

  await stack.fs.channels.get(id)!.hangup();
  await until(() => stack.bridge.calls.active.size === 0, 3000, 'ended');
});

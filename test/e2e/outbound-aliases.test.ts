import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, until, type Stack } from '../support/stack.ts';

const TOKEN = 'test-token-0123456789';

function client(stack: Stack, token?: string) {
  const base = `http://127.0.0.1:${stack.bridge.http.port}`;
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return {
    get: (path: string) => fetch(base + path, { headers: auth }),
    post: (path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      fetch(base + path, {
        method: 'POST',
        headers: { ...auth, ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
  };
}

type ErrorShape = { error: { code: string; message: string; details?: string[] } };

test('POST /calls without a JSON content type gets 415 in the error shape, and nothing is dialed', async (t) => {
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk' } });
  t.after(() => stack.stop());
  const http = client(stack);
  const body = JSON.stringify({ to: '+15551234567' });
  for (const headers of [
    {},
    { 'content-type': 'text/plain' },
    { 'content-type': 'application/x-www-form-urlencoded' },
  ] as Array<Record<string, string>>) {
    const res = await http.post('/calls', body, headers);
    assert.equal(res.status, 415, JSON.stringify(headers));
    const json = (await res.json()) as ErrorShape;
    assert.equal(json.error.code, 'unsupported_media_type');
    assert.match(json.error.message, /application\/json/);
  }
  assert.equal(stack.fs.commands.filter((c) => c.line.includes('originate')).length, 0);
  // A charset parameter is still JSON.
  stack.fs.onOriginate = () => ({ result: 'answer', afterMs: 50 });
  assert.equal((await http.post('/calls', body, { 'content-type': 'application/json; charset=utf-8' })).status, 202);
});

test('oversized opening_reason / objective get a clear 400 in the error shape, and nothing is dialed', async (t) => {
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk' } });
  t.after(() => stack.stop());
  const http = client(stack);
  for (const path of ['/calls', '/outbound/call']) {
    const number = path === '/calls' ? { to: '+15551234567' } : { phone_number: '+15551234567' };
    const res = await http.post(path, { ...number, opening_reason: 'r'.repeat(501), objective: 'o'.repeat(1001) });
    assert.equal(res.status, 400, path);
    const json = (await res.json()) as ErrorShape;
    assert.equal(json.error.code, 'invalid_request');
    assert.ok(
      json.error.details?.some((d) => /^opening_reason: .*500 characters/.test(d)),
      JSON.stringify(json),
    );
    assert.ok(
      json.error.details?.some((d) => /^objective: .*1000 characters/.test(d)),
      JSON.stringify(json),
    );
  }
  assert.equal(stack.fs.commands.filter((c) => c.line.includes('originate')).length, 0);
});

test("the Python agent's outbound API works as an alias: POST /outbound/call, GET /outbound/calls, GET /outbound/call/{id}, same auth and validation, in /openapi.json", async (t) => {
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk', API_TOKEN: TOKEN } });
  t.after(() => stack.stop());
  stack.fs.onOriginate = () => ({ result: 'answer', afterMs: 50 });
  const anon = client(stack);
  const http = client(stack, TOKEN);

  assert.equal((await anon.post('/outbound/call', { phone_number: '+15551234567' })).status, 401);
  assert.equal((await anon.get('/outbound/calls')).status, 401);

  const res = await http.post('/outbound/call', {
    phone_number: '+15551234567',
    opening_reason: 'your free trial signup',
    objective: 'qualify the lead',
  });
  assert.equal(res.status, 202, await res.clone().text());
  const accepted = (await res.json()) as {
    id: string;
    call_id: string;
    status: string;
    phone_number: string;
    links: { self: string };
  };
  assert.match(accepted.id, /^[0-9a-f-]{36}$/);
  assert.equal(accepted.call_id, accepted.id);
  assert.equal(accepted.phone_number, '+15551234567');
  assert.equal(accepted.links.self, `/calls/${accepted.id}`);
  const cmd = await stack.fs.waitForCommand((c) => c.kind === 'bgapi' && c.line.includes('originate'), 2000);
  assert.match(cmd.line, /\}sofia\/gateway\/trunk\/\+15551234567 &park\(\)$/);
  assert.match(cmd.line, /callbridge_opening_reason_b64=/);
  assert.match(cmd.line, /callbridge_objective_b64=/);

  const one = await http.get(`/outbound/call/${accepted.id}`);
  assert.equal(one.status, 200);
  const call = (await one.json()) as {
    id: string;
    to: string;
    openingReason: string;
    objective: string;
    direction: string;
  };
  assert.deepEqual(
    [call.id, call.to, call.direction, call.openingReason, call.objective],
    [accepted.id, '+15551234567', 'outbound', 'your free trial signup', 'qualify the lead'],
  );
  const list = (await (await http.get('/outbound/calls')).json()) as { calls: Array<{ id: string }> };
  assert.ok(list.calls.some((c) => c.id === accepted.id));
  assert.equal((await http.get('/outbound/call/11111111-2222-3333-4444-555555555555')).status, 404);
  assert.equal((await http.get('/outbound/call/nope')).status, 400);

  // Same validation as POST /calls: a bad number, a missing one, or both names at once.
  for (const bad of [
    { phone_number: '+1 555 123' },
    { opening_reason: 'x' },
    { phone_number: '+15551234567', to: '+15551234567' },
  ]) {
    const r = await http.post('/outbound/call', bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(((await r.json()) as ErrorShape).error.code, 'invalid_request');
  }
  assert.equal((await http.post('/outbound/call', 'phone_number=1', { 'content-type': 'text/plain' })).status, 415);

  const doc = (await (await http.get('/openapi.json')).json()) as { paths: Record<string, unknown> };
  for (const p of ['/outbound/call', '/outbound/calls', '/outbound/call/{id}'])
    assert.ok(doc.paths[p], `${p} in /openapi.json`);
  await until(() => stack.bridge.calls.active.size === 1, 3000, 'call up');
});

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { signCallback, signedHeaders } from '../../src/calls/signing.ts';
import type { WebhookTool } from '../../src/calls/tools/tool-config.ts';
import { callWebhook, MAX_ANSWER_BYTES } from '../../src/calls/tools/webhook.ts';
import { safeEqual } from '../../src/secrets.ts';

const SECRET = 'a-tool-secret-of-enough-length';

/** A user's tool server: checks the signature the way the README tells users to, then answers per path. */
let server: Server;
let base = '';
const seen: Array<{ path: string; body: unknown; signatureOk: boolean }> = [];
const pending = new Set<ServerResponse>();

function verify(req: IncomingMessage, raw: string): boolean {
  const ts = String(req.headers['x-callbridge-timestamp'] ?? '');
  const sig = String(req.headers['x-callbridge-signature'] ?? '');
  const fresh = Math.abs(Date.now() / 1000 - Number(ts)) < 300;
  return fresh && safeEqual(sig, signCallback(SECRET, Number(ts), raw));
}

before(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const path = req.url ?? '';
      seen.push({ path, body: JSON.parse(raw), signatureOk: verify(req, raw) });
      switch (path) {
        case '/ok':
          res.setHeader('content-type', 'application/json');
          return res.end(JSON.stringify({ status: 'shipped', eta_days: 2 }));
        case '/500':
          res.statusCode = 500;
          return res.end('{"error":"db down"}');
        case '/not-json':
          return res.end('<html>hello</html>');
        case '/huge':
          res.setHeader('content-type', 'application/json');
          // No content-length: the cap has to hold while streaming.
          res.write('["');
          res.write('x'.repeat(MAX_ANSWER_BYTES + 10));
          return res.end('"]');
        case '/redirect':
          res.statusCode = 307;
          res.setHeader('location', `${base}/ok`);
          return res.end();
        case '/slow':
          pending.add(res);
          return; // never answers on its own
        default:
          res.statusCode = 404;
          return res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const res of pending) res.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const tool = (path: string, timeoutMs = 2000): WebhookTool => ({
  name: 'lookup_order',
  description: 'd',
  parameters: { type: 'object' },
  url: `${base}${path}`,
  timeoutMs,
});

const body = { call_id: 'c1', call_uuid: 'u1', tool: 'lookup_order', tool_call_id: 't1', args: { order: 'A17' } };
const headers = (b: string) => signedHeaders(SECRET, b);

test('a webhook round trip: signed request, JSON answer returned as the result', async () => {
  const a = await callWebhook({ tool: tool('/ok'), body, headers, signal: new AbortController().signal });
  assert.deepEqual(a.result, { ok: true, result: { status: 'shipped', eta_days: 2 } });
  assert.equal(a.outcome, 'ok');
  const got = seen.find((s) => s.path === '/ok')!;
  assert.deepEqual(got.body, body);
  assert.ok(got.signatureOk, 'the signature verifies with the shared secret');
});

test('non-2xx, invalid JSON, oversized answers and redirects become error results', async () => {
  const signal = new AbortController().signal;
  const e500 = await callWebhook({ tool: tool('/500'), body, headers, signal });
  assert.deepEqual(e500.result, { ok: false, error: "the tool's server answered HTTP 500" });
  assert.equal(e500.status, 500);
  const html = await callWebhook({ tool: tool('/not-json'), body, headers, signal });
  assert.deepEqual(html.result, { ok: false, error: "the tool's answer is not valid JSON" });
  const huge = await callWebhook({ tool: tool('/huge'), body, headers, signal });
  assert.deepEqual(huge.result, { ok: false, error: `the tool's answer is larger than ${MAX_ANSWER_BYTES} bytes` });
  const moved = await callWebhook({ tool: tool('/redirect'), body, headers, signal });
  assert.equal(moved.result.ok, false, 'a redirect is not followed with the signed body');
  assert.equal(moved.outcome, 'error');
});

test('a tool that does not answer in time is a timeout error', async () => {
  const a = await callWebhook({ tool: tool('/slow', 150), body, headers, signal: new AbortController().signal });
  assert.deepEqual(a.result, { ok: false, error: 'the tool did not answer within 150 ms' });
  assert.equal(a.outcome, 'timeout');
});

test('an aborted call cancels the request', async () => {
  const ac = new AbortController();
  const running = callWebhook({ tool: tool('/slow', 30000), body, headers, signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  const a = await running;
  assert.equal(a.outcome, 'cancelled');
  assert.equal(a.result.ok, false);
  const already = await callWebhook({ tool: tool('/ok'), body, headers, signal: AbortSignal.abort() });
  assert.equal(already.outcome, 'cancelled');
});

test('an unreachable server is an error naming the cause, and no secret appears in any result', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const a = await callWebhook({
    tool: { ...tool('/ok'), url: `http://127.0.0.1:${port}/x` },
    body,
    headers,
    signal: new AbortController().signal,
  });
  assert.equal(a.result.ok, false);
  assert.match(JSON.stringify(a.result), /could not be reached: ECONNREFUSED/);
  assert.doesNotMatch(JSON.stringify(a), new RegExp(SECRET));
});

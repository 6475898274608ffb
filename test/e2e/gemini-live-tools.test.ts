/**
 * Tools on a Gemini Live call, end to end (FreeSWITCH emulator, callbridge with TOOLS_FILE, the Gemini Live fake,
 * a local webhook): the declarations in the setup, a call answered while the service asks to switch connections
 * (the switch waits for the answer, which goes on the old connection), and a call cancelled by the model.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStack, until } from '../support/stack.ts';

/** A webhook that answers only when the test says so. */
async function heldWebhook() {
  const waiting: { body: any; res: ServerResponse }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => waiting.push({ body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'), res }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rooms`,
    waiting,
    answer(i: number, body: unknown) {
      const w = waiting[i]!;
      w.res.writeHead(200, { 'content-type': 'application/json' });
      w.res.end(JSON.stringify(body));
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

async function toolStack(url: string) {
  const dir = mkdtempSync(join(tmpdir(), 'cb-live-tools-'));
  const toolsFile = join(dir, 'tools.json');
  const parameters = { type: 'object', properties: { nights: { type: 'integer' } }, required: ['nights'] };
  writeFileSync(
    toolsFile,
    JSON.stringify({
      tools: [{ name: 'check_rooms', description: 'Free rooms', parameters, url, timeout_ms: 10000 }],
      builtin_tools: ['end_call'],
    }),
  );
  const stack = await startStack({ env: { TOOLS_FILE: toolsFile }, gemini: { resumption: { updateEveryMs: 100 } } });
  return { stack, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('Gemini Live: a webhook tool called while the service asks to switch; the switch waits for the answer', async (t) => {
  const hook = await heldWebhook();
  const { stack, cleanup } = await toolStack(hook.url);
  t.after(async () => {
    await stack.stop();
    await hook.stop();
    cleanup();
  });
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const s = await stack.gemini.nextSession(5000);
  const setup = await until(() => s.setup, 3000, 'setup');
  const names = (setup.tools?.[0]?.functionDeclarations ?? []).map((d: { name: string }) => d.name);
  assert.deepEqual(names.sort(), ['check_rooms', 'end_call']);
  const rooms = setup.tools[0].functionDeclarations.find((d: { name: string }) => d.name === 'check_rooms');
  assert.deepEqual(rooms.parametersJsonSchema.required, ['nights']);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  await until(() => s.handles.length > 0, 3000, 'a resumable handle');

  const id = s.callTool('check_rooms', { nights: 2 });
  await until(() => hook.waiting.length === 1, 5000, 'the webhook called');
  assert.deepEqual(hook.waiting[0]!.body.args, { nights: 2 });
  s.goAway(8000);
  await sleep(500); // five update periods: no resumable handle while the call is pending, so no switch
  assert.equal(stack.gemini.sessions.length, 1, 'the switch waits for the answer');

  hook.answer(0, { free: 3 });
  const response = await s.nextToolResponse(id, 5000);
  assert.deepEqual(response.response, { output: { free: 3 } });
  assert.equal(response.scheduling, 'WHEN_IDLE', 'gemini-3.8-live: non-blocking, a lookup spoken when idle');
  const s2 = await stack.gemini.nextSession(5000);
  await until(() => stack.logs.some((l) => l.msg === 'gemini live session resumed'), 5000, 'resumed');
  const resumed = stack.logs.find((l) => l.msg === 'gemini live session resumed')!;
  assert.equal(resumed.reason, 'goAway', 'switched at a safe moment, not at the deadline');
  assert.ok(s2.resumedFrom !== undefined);
  assert.equal(s2.toolResponses.length, 0, 'the answer is not sent twice');
  await call.hangup();
  await until(() => stack.bridge.calls.active.size === 0, 3000, 'ended');
});

test('Gemini Live: a call the model cancels is aborted and never answered', async (t) => {
  const hook = await heldWebhook();
  const { stack, cleanup } = await toolStack(hook.url);
  t.after(async () => {
    await stack.stop();
    await hook.stop();
    cleanup();
  });
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const s = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  const cancelled = s.callTool('check_rooms', { nights: 1 });
  await until(() => hook.waiting.length === 1, 5000, 'the webhook called');
  s.cancelTool([cancelled]);
  // The runner aborts the request: the webhook sees its connection closed.
  await until(() => hook.waiting[0]!.res.destroyed || hook.waiting[0]!.res.req.destroyed, 5000, 'webhook aborted');
  const next = s.callTool('check_rooms', { nights: 4 });
  await until(() => hook.waiting.length === 2, 5000, 'the second call');
  hook.answer(1, { free: 1 });
  await s.nextToolResponse(next, 5000);
  const ids = s.toolResponses.flatMap((r) => r.functionResponses.map((f: { id: string }) => f.id));
  assert.deepEqual(ids, [next]);
  await call.hangup();
  await until(() => stack.bridge.calls.active.size === 0, 3000, 'ended');
});

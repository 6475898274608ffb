import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { startStack, until } from '../support/stack.ts';

function connect(url: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const closed = new Promise<{ code: number; reason: string }>((r) =>
      ws.once('close', (code, reason) => r({ code, reason: reason.toString() })),
    );
    ws.once('open', () => resolve({ ws, closed }));
    ws.once('error', reject);
  });
}

test('media sockets for unknown calls, with a wrong token or on other paths are refused with a code, never a crash', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const base = `ws://127.0.0.1:${stack.bridge.http.port}`;
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');

  const unknown = await connect(`${base}/stream/11111111-2222-3333-4444-555555555555?token=x`);
  assert.deepEqual(await unknown.closed, { code: 4404, reason: 'unknown call' });
  const wrong = await connect(`${base}/stream/${call.uuid}?token=not-the-secret`);
  assert.deepEqual(await wrong.closed, { code: 4401, reason: 'bad token' });
  const noToken = await connect(`${base}/stream/${call.uuid}`);
  assert.equal((await noToken.closed).code, 4401);
  await assert.rejects(connect(`${base}/elsewhere`), /404/);
  assert.equal(stack.logs.filter((l) => l.msg === 'media socket refused').length, 3, 'each refusal logged');
  assert.ok(stack.logs.some((l) => l.msg === 'WebSocket upgrade for an unknown path refused'));

  // The real stream was not disturbed.
  assert.ok(call.stream!.connected);
  assert.ok(stack.bridge.calls.active.has(call.uuid));
});

test('malformed frames are dropped and counted, oversized messages close only that socket, metadata may come late', async (t) => {
  const stack = await startStack({ env: { MEDIA_MAX_MESSAGE_BYTES: '4096' }, emulator: { metadataAfterFrames: 5 } });
  t.after(() => stack.stop());
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const session = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  await session.waitForAudioMs(200, 3000); // audio flowed even though the metadata came after 5 frames
  const live = stack.bridge.calls.active.get(call.uuid)!;

  // A client holding the call's own URL (as when the module reconnects: it replaces the old socket) sends
  // garbage in one burst, then a message over the size cap.
  const { ws, closed } = await connect(live.streamUrl);
  const framesBefore = live.stats.framesIn;
  ws.send(Buffer.alloc(0));
  ws.send(Buffer.alloc(321));
  ws.send(Buffer.alloc(7));
  ws.send('{"not":"audio"}');
  ws.send(Buffer.alloc(640));
  ws.send(Buffer.alloc(8192));
  assert.equal((await closed).code, 1009, 'message too big');
  assert.equal(live.stats.badFrames, 3, 'empty and odd-length frames counted');
  assert.equal(live.stats.framesIn, framesBefore + 1, 'the good frame was accepted');
  assert.equal(
    stack.logs.filter((l) => l.msg.startsWith('dropped malformed audio frame')).length,
    1,
    'logged once, then counted',
  );
  // The call survives: its stream is restarted and audio flows again.
  await until(() => call.stream?.connected && live.stats.framesIn > framesBefore + 20, 5000, 'stream restarted');
  assert.equal(live.state, 'active');
});

test('a stream that drops while the agent is still starting is restarted once the call is up', async (t) => {
  const stack = await startStack({ gemini: { setupDelayMs: 600 } });
  t.after(() => stack.stop());
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  await until(() => call.stream?.connected, 3000, 'stream connected');
  const first = call.stream!;
  const live = stack.bridge.calls.active.get(call.uuid)!;
  assert.equal(live.state, 'starting', 'the agent is still connecting');
  first.dropConnection();
  await until(() => live.state === 'active', 3000, 'call active');
  await until(
    () => call.stream !== first && call.stream?.connected && live.stats.framesIn > 20,
    5000,
    'stream restarted, audio flowing',
  );
  assert.ok(stack.logs.some((l) => l.msg === 'media stream lost; restarting it'));
});

test('a hostile value is refused before it reaches FreeSWITCH', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  // A channel whose uuid would append a second command if it were pasted into a command line.
  const evil = '12345678-1234-1234-1234-123456789abc all\napi hupall';
  const before = stack.fs.commands.length;
  const ch = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  // Re-emit its park with a rewritten Unique-ID through the emulator's own event path.
  const park = ch.events.find((e) => e.name === 'CHANNEL_PARK');
  assert.ok(park);
  const raw = {
    name: 'CHANNEL_PARK',
    subclass: undefined,
    body: '',
    header: (n: string) => (n === 'Unique-ID' ? evil : n === 'variable_callbridge' ? '1' : undefined),
  };
  stack.bridge.calls.nodes[0]!.calls.handleEvent(raw);
  await sleep(300);
  assert.ok(!stack.fs.commands.slice(before).some((c) => c.line.includes('hupall')), 'nothing injected');
  assert.ok(stack.logs.some((l) => l.msg === 'ignoring parked channel with an unusable uuid'));
  assert.equal(stack.bridge.calls.active.has(evil), false);
});

test('the stream is retried once (stop then start) when mod_audio_stream cannot connect', async (t) => {
  const stack = await startStack({ env: { CALLBRIDGE_WS_URL: 'ws://127.0.0.1:9', STREAM_CONNECT_TIMEOUT_MS: '1500' } });
  t.after(() => stack.stop());
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  await call.waitDestroyed(8000);
  const lines = stack.fs.commands.map((c) => c.line).filter((l) => l.includes(call.uuid));
  const kinds = lines
    .map((l) =>
      l.includes(' start ws://') ? 'start' : l.endsWith(' stop') ? 'stop' : l.startsWith('api uuid_kill') ? 'kill' : '',
    )
    .filter(Boolean);
  assert.deepEqual(kinds, ['start', 'stop', 'start', 'kill'], 'start, then stop + start once more, then hang up');
  const ended = stack.logs.find((l) => l.msg === 'call ended' && l.call === call.uuid);
  assert.match(String(ended?.reason), /media stream failed: mod_audio_stream error 6/);
});

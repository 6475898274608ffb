import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { estimateFrequency, tone } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

async function activeCall(stack: Awaited<ReturnType<typeof startStack>>, codec: 'PCMU' | 'L16' = 'PCMU') {
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' }, codec });
  const session = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  return { call, session };
}

test('barge-in: interrupted sends uuid_break, nothing of the interrupted reply plays afterwards', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { call, session } = await activeCall(stack);

  // A 4 s reply of 1 kHz; interrupt once the caller has heard ~600 ms of it.
  void session.sendAudio(tone(1000, 4000, 24000), { chunkMs: 40, paceMs: 2 });
  await call.waitHeardMs(600, 5000);
  const from = stack.fs.commands.length;
  session.interrupt();
  const brk = await stack.fs.waitForCommand((c) => c.line === `api uuid_break ${call.uuid} all`, 2000, from);
  // How fast is the bench's job (`npm run bench` reports interrupted → uuid_break p50/p99); here: what is heard.
  const live = stack.bridge.calls.active.get(call.uuid)!;
  assert.equal(live.stats.bargeInMs.length, 1, 'one barge-in recorded');

  // The next reply is a different tone: everything heard after the break is the new reply.
  await sleep(100);
  const beforeNew = call.heard.length;
  assert.ok(
    call.heard.every((s) => s.status !== 'playing'),
    'the interrupted file stopped',
  );
  // At most the file playing at that moment was broken off (none if the break fell between two files), and
  // no file of the interrupted reply started after the break took effect.
  assert.ok(call.heard.filter((s) => s.status === 'break').length <= 1);
  assert.ok(
    call.heard.every((s) => s.startedAt < brk.at + 40),
    'nothing of the old reply started after the break',
  );
  const heardOld = call.heard.reduce((a, s) => a + s.playedMs, 0);
  assert.ok(heardOld < 1200, `heard ${heardOld} ms of the 4 s reply`);

  await session.sendAudio(tone(500, 800, 24000), { chunkMs: 40, paceMs: 2 });
  session.generationComplete();
  session.turnComplete();
  await until(() => call.heard.length > beforeNew && call.playbackIdle, 5000, 'new reply played');
  const after = call.heard.slice(beforeNew);
  const newMs = after.reduce((a, s) => a + s.playedMs, 0);
  assert.ok(newMs >= 800 && newMs <= 840, `only the new reply played after the break (${newMs} ms)`);
  const pcm = call.heardPcm(beforeNew);
  assert.ok(
    Math.abs(estimateFrequency(pcm.subarray(800, pcm.length - 800), 8000) - 500) < 15,
    'and it is the new tone',
  );
  await until(async () => (await stack.playbackFiles()).length === 0, 2000, 'files of both replies deleted');
});

test('the caller hangs up mid-reply: playback stops, Gemini is closed, files are deleted', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { call, session } = await activeCall(stack);
  void session.sendAudio(tone(700, 3000, 24000), { chunkMs: 40, paceMs: 2 });
  await call.waitHeardMs(300, 5000);
  const commandsBefore = stack.fs.commands.length;
  await call.hangup();
  await until(() => stack.bridge.calls.active.size === 0, 3000, 'session ended');
  await session.closed;
  await sleep(200);
  const later = stack.fs.commands
    .slice(commandsBefore)
    .filter((c) => c.line.includes(call.uuid) || c.headers['execute-app-arg']);
  assert.deepEqual(
    later.map((c) => c.line),
    [],
    'no command after the hangup',
  );
  assert.deepEqual(await stack.playbackFiles(), []);
});

test('the model session fails mid-call: the call is hung up with a logged cause', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { call, session } = await activeCall(stack);
  stack.gemini.expireHandles(); // a 1011 is resumed; failing means the service refused the handle too
  session.close(1011, 'Internal error encountered.');
  await stack.fs.waitForCommand((c) => c.line === `api uuid_kill ${call.uuid} NORMAL_CLEARING`, 3000);
  await call.waitDestroyed(3000);
  await until(() => stack.bridge.calls.active.size === 0, 3000, 'session ended');
  const ended = stack.logs.find((l) => l.msg === 'call ended' && l.call === call.uuid);
  assert.match(String(ended?.reason), /agent failed: gemini live closed: 1011 Internal error encountered/);
});

test('Gemini cannot be reached at call start: the call is hung up, not left silent', async (t) => {
  const stack = await startStack({ gemini: { refuse: 'http-503' } });
  t.after(() => stack.stop());
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  await call.waitDestroyed(5000);
  const ended = stack.logs.find((l) => l.msg === 'call ended' && l.call === call.uuid);
  assert.match(String(ended?.reason), /agent failed to start: gemini live: connecting to model .* failed/);
});

test('L16 16 kHz calls get .r16 files at the call rate', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { call, session } = await activeCall(stack, 'L16');
  await session.sendAudio(tone(1000, 400, 24000), { chunkMs: 40, paceMs: 2 });
  session.generationComplete();
  await until(() => call.heard.length > 0 && call.playbackIdle, 5000, 'played');
  assert.ok(
    call.heard.every((s) => s.path.endsWith('.r16') && s.sampleRate === 16000),
    JSON.stringify(call.heard.map((s) => s.path)),
  );
});

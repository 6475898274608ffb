import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { tone } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

test('ESL drops while idle: callbridge reconnects, resubscribes and takes the next call', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const disconnected = new Promise((r) => bridge.esl.once('disconnected', r));
  fs.dropEslConnections();
  await disconnected;
  assert.equal(bridge.esl.connected, false);
  await bridge.esl.waitConnected(3000);
  const subs = fs.commands.filter((c) => c.line.startsWith('event json') && c.line.includes('CHANNEL_PARK'));
  assert.equal(subs.length, 2, 'subscribed again after the reconnect');

  const call = fs.placeInboundCall({ variables: { callbridge: '1' } });
  const session = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  await session.sendAudio(tone(800, 300, 24000), { chunkMs: 40, paceMs: 2 });
  session.generationComplete();
  await until(() => call.heard.length > 0 && call.playbackIdle, 5000, 'reply played after the reconnect');
});

test('ESL drops during a call: audio keeps flowing, the call continues after the reconnect', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const call = fs.placeInboundCall({ variables: { callbridge: '1' } });
  const session = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');

  fs.dropEslConnections();
  // The media socket does not depend on ESL: caller audio still reaches Gemini while ESL is down.
  const before = session.receivedAudioMs();
  call.say(tone(300, 200, 8000), 8000);
  await session.waitForAudioMs(before + 150, 3000);
  await bridge.esl.waitConnected(3000);
  await sleep(50);

  assert.ok(bridge.calls.active.has(call.uuid), 'the call survived the blip');
  await session.sendAudio(tone(800, 400, 24000), { chunkMs: 40, paceMs: 2 });
  session.generationComplete();
  await until(() => call.heard.length > 0 && call.playbackIdle, 5000, 'reply played after the reconnect');
  assert.ok(
    fs.commands.some((c) => c.line === 'api show channels as json'),
    'listed the channels after reconnecting',
  );
  await call.hangup();
  await until(() => bridge.calls.active.size === 0, 3000, 'ended by the hangup event');
});

test('FreeSWITCH restarts (its channels are gone): calls end, callbridge reconnects and takes new calls', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const call = fs.placeInboundCall({ variables: { callbridge: '1' } });
  await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  await fs.restart(300);
  await until(() => bridge.calls.active.size === 0, 5000, 'the orphaned call ended');
  await bridge.esl.waitConnected(5000);
  const call2 = fs.placeInboundCall({ variables: { callbridge: '1' } });
  await stack.gemini.nextSession(5000);
  await until(() => call2.stream?.connected, 3000, 'new call streams after the restart');
});

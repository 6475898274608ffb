import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tone, type EmulatedChannel } from '../bed/index.ts';
import { startStack, until, type Stack } from '../support/stack.ts';

/** An inbound call answered by the Gemini Live fake, active, its stream connected. */
async function activeCall(
  stack: Stack,
): Promise<{ call: EmulatedChannel; gemini: Awaited<ReturnType<Stack['gemini']['nextSession']>> }> {
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
  const gemini = await stack.gemini.nextSession(5000);
  await until(
    () => call.stream?.connected && stack.bridge.calls.active.get(call.uuid)?.state === 'active',
    5000,
    'call active',
  );
  return { call, gemini };
}

const lines = (stack: Stack) => stack.fs.commands.map((c) => c.line);
const B_LEG =
  /^bgapi originate \{origination_uuid=([0-9a-f-]{36}),ignore_early_media=true,originate_timeout=(\d+)\}sofia\/gateway\/trunk\/\+15550001234 &park\(\)$/;

test('transfer answered: the caller is bridged to the B leg, the session ends without hanging up, the record says transferred', async (t) => {
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk', ORIGINATE_TIMEOUT_SECONDS: '20' } });
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const { call } = await activeCall(stack);
  fs.onOriginate = () => ({ result: 'answer', afterMs: 200 });

  const outcome = await bridge.calls.transfer(call.uuid, '+15550001234');
  assert.deepEqual(outcome, { ok: true, method: 'bridge' });

  const sent = lines(stack);
  const originate = sent.find((l) => B_LEG.test(l));
  assert.ok(
    originate,
    `B leg originated through the gateway: ${sent.filter((l) => l.includes('originate')).join(' | ')}`,
  );
  const legId = B_LEG.exec(originate)![1]!;
  assert.equal(B_LEG.exec(originate)![2], '20');
  assert.ok(sent.includes(`api uuid_bridge ${call.uuid} ${legId}`), 'uuid_bridge caller ↔ B leg');
  const leg = fs.channels.get(legId)!;
  await call.waitForEvent('CHANNEL_BRIDGE', 3000);
  assert.equal(call.bridgedWith, leg);

  // The call is no longer ours: session gone, stream stopped, nobody hung up, the marker cleared.
  await until(() => !bridge.calls.active.has(call.uuid), 3000, 'session ended');
  await until(
    () => sent.length && lines(stack).includes(`api uuid_audio_stream ${call.uuid} stop`),
    3000,
    'stream stopped',
  );
  assert.equal(call.stream?.attached, false);
  assert.ok(!lines(stack).some((l) => l.startsWith(`api uuid_kill ${call.uuid}`)), 'the caller was not hung up');
  assert.equal(call.hungUp, false);
  assert.equal(call.variables.get('callbridge'), '0');
  const record = (await bridge.callBook.get(call.uuid))!;
  assert.equal(record.status, 'completed');
  assert.equal(record.endReason, 'transferred to +15550001234 (bridge)');

  // Later the callee hangs up: both legs end, callbridge sends nothing for them.
  const before = fs.commands.length;
  await leg.hangup();
  await call.waitDestroyed(3000);
  assert.equal(call.hangupCause, 'NORMAL_CLEARING');
  assert.deepEqual(
    fs.commands.slice(before).map((c) => c.line),
    [],
  );
});

for (const [plan, reason, cause] of [
  [{ result: 'busy' as const }, 'busy', 'USER_BUSY'],
  [{ result: 'no-answer' as const }, 'no-answer', 'NO_ANSWER'],
] as const) {
  test(`transfer ${reason}: the outcome says so and the caller stays with the agent, stream running`, async (t) => {
    const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk', ORIGINATE_TIMEOUT_SECONDS: '5' } });
    t.after(() => stack.stop());
    const { fs, bridge } = stack;
    const { call, gemini } = await activeCall(stack);
    fs.onOriginate = (req) => (req.timeoutSec === 5 ? plan : { result: 'error', cause: 'UNEXPECTED' });

    const outcome = await bridge.calls.transfer(call.uuid, '+15550001234');
    assert.deepEqual(outcome, { ok: false, reason, detail: cause });
    assert.ok(!lines(stack).some((l) => l.startsWith('api uuid_bridge')), 'nothing bridged');
    const session = bridge.calls.active.get(call.uuid);
    assert.equal(session?.state, 'active');
    assert.equal(call.hungUp, false);
    assert.ok(call.stream?.connected, 'stream still running');
    // The agent still hears the caller.
    const before = gemini.audioIn.length;
    call.say(tone(440, 300, 8000), 8000);
    await until(() => gemini.audioIn.length > before, 3000, 'caller audio after the failed transfer');
  });
}

test('REFER via bgapi: 202 transfers the call; 405 is refused after sofia’s wait, api commands answered meanwhile', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;

  const first = await activeCall(stack);
  fs.onRefer = () => ({ status: 202 });
  const ok = await bridge.calls.transfer(first.call.uuid, 'sip:2000@127.0.0.1:5090', { method: 'refer' });
  assert.deepEqual(ok, { ok: true, method: 'refer' });
  assert.ok(lines(stack).includes(`bgapi uuid_deflect ${first.call.uuid} sip:2000@127.0.0.1:5090`));
  assert.ok(!lines(stack).some((l) => l.startsWith('api uuid_deflect')), 'never api');
  assert.deepEqual(first.call.refers, [{ uri: 'sip:2000@127.0.0.1:5090', status: 202 }]);
  await first.call.waitDestroyed(3000);
  assert.equal(first.call.hangupCause, 'BLIND_TRANSFER');
  await until(() => !bridge.calls.active.has(first.call.uuid), 3000, 'session ended');
  assert.equal(
    (await bridge.callBook.get(first.call.uuid))?.endReason,
    'transferred to sip:2000@127.0.0.1:5090 (refer)',
  );

  const second = await activeCall(stack);
  fs.onRefer = () => ({ status: 405, replyAfterMs: 1500 });
  const refused = bridge.calls.transfer(second.call.uuid, 'sip:2000@127.0.0.1:5090', { method: 'refer' });
  // While FreeSWITCH waits for the NOTIFY, the same connection still answers api commands.
  await until(() => second.call.refers.length === 1, 3000, 'REFER sent');
  await bridge.calls.sendDtmf(second.call.uuid, '12');
  assert.equal(second.call.refers.length, 1);
  assert.deepEqual(second.call.dtmfSent, ['12']);
  const outcome = await refused;
  assert.equal(outcome.ok, false);
  assert.equal(!outcome.ok && outcome.reason, 'rejected');
  await second.call.waitDestroyed(3000);
  assert.equal(second.call.hangupCause, 'BLIND_TRANSFER');
  await until(async () => (await bridge.callBook.get(second.call.uuid))?.status === 'completed', 3000, 'record final');
  assert.equal((await bridge.callBook.get(second.call.uuid))?.endReason, 'hangup: BLIND_TRANSFER');
});

test('send_dtmf: the far end hears the digits; unknown and ended calls get clear errors', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const { call } = await activeCall(stack);
  await bridge.calls.sendDtmf(call.uuid, '1234#');
  await bridge.calls.sendDtmf(call.uuid, 'w9W*AD');
  assert.deepEqual(call.dtmfSent, ['1234#', 'w9W*AD']);
  assert.ok(lines(stack).includes(`api uuid_send_dtmf ${call.uuid} 1234#`));

  await assert.rejects(bridge.calls.sendDtmf('00000000-0000-4000-8000-000000000000', '1'), { kind: 'unknown' });
  await call.hangup();
  await until(() => !bridge.calls.active.has(call.uuid), 3000, 'call ended');
  await assert.rejects(bridge.calls.sendDtmf(call.uuid, '1'), { kind: 'ended' });
  await assert.rejects(bridge.calls.transfer(call.uuid, '+15550001234'), { kind: 'ended' });
  void fs;
});

test('hostile targets and digits are refused with nothing reaching FreeSWITCH', async (t) => {
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk' } });
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const { call } = await activeCall(stack);
  const before = fs.commands.length;
  for (const target of [
    '+1555 0001234',
    '+15550001234,foo=bar',
    '+15550001234}&bridge(x)',
    "sip:2000@host'",
    'sip:2000@host;transport=tcp',
    'sip:a@b\nuuid_kill x',
    'user/1000',
    '',
  ]) {
    const outcome = await bridge.calls.transfer(call.uuid, target);
    assert.equal(!outcome.ok && outcome.reason, 'invalid', `bridge to ${JSON.stringify(target)}`);
    const refer = await bridge.calls.transfer(call.uuid, target, { method: 'refer' });
    assert.equal(!refer.ok && refer.reason, 'invalid', `refer to ${JSON.stringify(target)}`);
  }
  for (const digits of ['', '12 3', '1@400', '1\n', '1;2', 'E', '1'.repeat(65)]) {
    await assert.rejects(bridge.calls.sendDtmf(call.uuid, digits), { name: 'UnsafeEslValueError' });
  }
  assert.deepEqual(
    fs.commands.slice(before).map((c) => c.line),
    [],
  );
  assert.equal(bridge.calls.active.get(call.uuid)?.state, 'active');
});

test('end after playback: the goodbye queued for the caller plays out before the hangup', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const { call, gemini } = await activeCall(stack);
  await gemini.sendAudio(tone(700, 1500, 24000), { chunkMs: 40, paceMs: 2, transcript: 'Goodbye!' });
  gemini.generationComplete();
  await until(() => call.playing, 3000, 'goodbye playing');
  bridge.calls.active.get(call.uuid)!.actions!.endAfterPlayback('caller said goodbye');
  await call.waitDestroyed(8000);
  const kill = fs.commands.findIndex((c) => c.line.startsWith(`api uuid_kill ${call.uuid}`));
  assert.ok(kill >= 0, 'hung up by callbridge');
  const heardMs = call.heard.reduce((a, s) => a + s.playedMs, 0);
  assert.ok(heardMs >= 1480, `the whole goodbye was heard before the hangup (${heardMs} ms)`);
  assert.ok(
    call.heard.every((s) => s.status === 'done'),
    'no file cut off',
  );
  assert.match((await bridge.callBook.get(call.uuid))!.endReason ?? '', /^agent hung up: caller said goodbye/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWav, tone, type EmulatedChannel, type FreeSwitchEmulator } from '../bed/index.ts';
import { stackApi } from '../support/http.ts';
import { startStack, until, type Stack } from '../support/stack.ts';

/** Command lines that act on call `id` (reading it, as the resync's uuid_dump does, is not acting). */
const actingOn = (fs: FreeSwitchEmulator, id: string) =>
  fs.commands.filter((c) => c.line.includes(id) && !c.line.startsWith('api uuid_dump ')).map((c) => c.line);

async function taken(call: EmulatedChannel): Promise<void> {
  await until(() => call.stream?.connected, 5000, `call ${call.uuid} streaming`);
}

const refusedLogs = (stack: Stack, id: string) =>
  stack.logs.filter((l) => l.call === id && /^at MAX_CALLS/.test(l.msg));

test('MAX_CALLS=2, busy: the third call is hung up USER_BUSY unanswered, POST /calls gets 503 at_capacity, an ended call frees a slot', async (t) => {
  const stack = await startStack({ env: { MAX_CALLS: '2', DEFAULT_GATEWAY: 'trunk' } });
  t.after(() => stack.stop());
  const { fs } = stack;
  const http = stackApi(stack);
  const first = fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  const second = fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await taken(first);
  await taken(second);

  const third = fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await until(() => third.hangupCause, 3000, 'third call hung up');
  assert.equal(third.hangupCause, 'USER_BUSY');
  assert.deepEqual(actingOn(fs, third.uuid), [`api uuid_kill ${third.uuid} USER_BUSY`], 'never answered nor streamed');
  assert.equal(third.streams.length, 0);
  assert.equal(refusedLogs(stack, third.uuid).length, 1, 'logged once');
  assert.equal(stack.gemini.sessions.length, 2, 'no agent for the refused call');

  for (const [path, body] of [
    ['/calls', { to: '+15551230001' }],
    ['/outbound/call', { phone_number: '+15551230001' }],
  ] as const) {
    const refused = await http.post(path, body);
    assert.equal(refused.status, 503, path);
    assert.equal(refused.body.error.code, 'at_capacity');
    assert.match(refused.body.error.message, /MAX_CALLS \(2\)/);
  }
  assert.equal(fs.commands.filter((c) => c.line.includes('originate')).length, 0, 'nothing dialled');
  assert.match(await http.text('/metrics'), /^callbridge_calls_refused_total\{reason="at_capacity"\} 1$/m);

  // A call ends: the next one is taken, and then the outbound one that fits.
  await first.hangup();
  await until(() => stack.bridge.calls.active.size === 1, 3000, 'first call ended');
  const fourth = fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await taken(fourth);
  assert.equal((await http.post('/calls', { to: '+15551230001' })).status, 503, 'full again');
  await second.hangup();
  await until(() => stack.bridge.calls.active.size === 1, 3000, 'second call ended');
  assert.equal((await http.post('/calls', { to: '+15551230001' })).status, 202);
  assert.match(await http.text('/metrics'), /^callbridge_calls_refused_total\{reason="at_capacity"\} 1$/m);
});

test('busy with MAX_CALLS_MESSAGE_FILE: FreeSWITCH plays the message, then hangs up USER_BUSY, the call never answered', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-busy-'));
  const message = join(dir, 'busy.wav');
  await writeFile(message, encodeWav([tone(500, 400, 8000)], 8000));
  const stack = await startStack({ env: { MAX_CALLS: '1', MAX_CALLS_MESSAGE_FILE: message } });
  t.after(async () => {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const { fs } = stack;
  await taken(fs.placeInboundCall({ variables: { callbridge: '1' } }));
  const over = fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await until(() => over.hangupCause, 5000, 'refused call hung up');
  assert.equal(over.hangupCause, 'USER_BUSY');
  assert.deepEqual(
    over.heard.map((s) => [s.path, s.status]),
    [[message, 'done']],
    'the whole message was heard before the hang-up',
  );
  const acting = actingOn(fs, over.uuid);
  assert.equal(acting.length, 2, acting.join('\n'));
  assert.ok(
    acting.every((l) => l === `sendmsg ${over.uuid}`),
    'a queued playback and a queued hangup only',
  );
  const hangup = fs.commands.filter((c) => c.line === `sendmsg ${over.uuid}`)[1]!;
  assert.deepEqual(
    [hangup.headers['execute-app-name'], hangup.headers['execute-app-arg'], hangup.headers['event-lock']],
    ['hangup', 'USER_BUSY', 'true'],
  );
  assert.ok(!fs.commands.some((c) => c.line === `api uuid_answer ${over.uuid}`), 'never answered');
  assert.equal(over.streams.length, 0);
});

test('MAX_CALLS_ACTION=leave: the call over the limit stays parked and untouched, also after a reconnect', async (t) => {
  const stack = await startStack({ env: { MAX_CALLS: '1', MAX_CALLS_ACTION: 'leave' } });
  t.after(() => stack.stop());
  const { fs } = stack;
  const http = stackApi(stack);
  const first = fs.placeInboundCall({ variables: { callbridge: '1' } });
  await taken(first);
  const left = fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await until(() => refusedLogs(stack, left.uuid).length === 1, 3000, 'the refusal logged');
  assert.match(refusedLogs(stack, left.uuid)[0]!.msg, /leaving the call parked/);

  // A reconnect's resync finds it again: still left alone, not logged or counted twice.
  const resyncs = () => stack.logs.filter((l) => l.msg === 'resynchronised with FreeSWITCH').length;
  const before = resyncs();
  fs.dropEslConnections();
  await until(() => resyncs() > before, 5000, 'resync after the reconnect');
  assert.deepEqual(actingOn(fs, left.uuid), [], 'no command acted on the left call');
  assert.equal(left.answerState, 'ringing');
  assert.equal(left.hangupCause, undefined);
  assert.equal(refusedLogs(stack, left.uuid).length, 1, 'logged once');
  assert.match(await http.text('/metrics'), /^callbridge_calls_refused_total\{reason="at_capacity"\} 1$/m);
  assert.equal((await http.post('/calls', { to: '+15551230001', gateway: 'trunk' })).body.error.code, 'at_capacity');

  // With the slot free, the next reconnect's resync takes it.
  await first.hangup();
  await until(() => stack.bridge.calls.active.size === 0, 3000, 'first call ended');
  fs.dropEslConnections();
  await taken(left);
});

/**
 * Never lose a call or a word: what FreeSWITCH holds is re-read after every ESL (re)connect, hostile frames
 * from the ESL peer cost a reconnect (not the process), a dead FreeSWITCH is recorded as such, and a call
 * ending while its stream is being (re)started leaves no unhandled rejection behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { startStack, until, type Stack } from '../support/stack.ts';
import type { EmulatedChannel } from '../bed/index.ts';

async function activeCall(
  stack: Stack,
  variables: Record<string, string> = { callbridge: '1' },
): Promise<EmulatedChannel> {
  const call = stack.fs.placeInboundCall({ variables });
  await until(
    () => call.stream?.connected && stack.bridge.calls.active.get(call.uuid)?.state === 'active',
    5000,
    `call ${call.uuid} active`,
  );
  return call;
}

const connectionsSeen = (stack: Stack) => stack.fs.commands.filter((c) => c.kind === 'auth').length;

test('a call parked while ESL is down is picked up after the reconnect; vanished calls end, live ones stay', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const stays = await activeCall(stack);
  const leaves = await activeCall(stack);

  await fs.eslDown();
  await until(() => !bridge.esl.connected, 3000, 'ESL down');
  const parked = fs.placeInboundCall({ variables: { callbridge: '1' } });
  const notOurs = fs.placeInboundCall({ destination: 'nocb4003' });
  await parked.waitForEvent('CHANNEL_PARK');
  await leaves.hangup();
  await fs.eslUp();
  await bridge.esl.waitConnected(5000);

  await until(() => parked.stream?.connected, 5000, 'the call parked while ESL was down streams to callbridge');
  assert.ok(
    fs.commands.some((c) => c.line === 'api show channels as json'),
    'listed the channels after the reconnect',
  );
  assert.ok(
    fs.commands.some((c) => c.line === `api uuid_dump ${parked.uuid} json`),
    'read the unknown channel',
  );
  await until(() => !bridge.calls.active.has(leaves.uuid), 3000, 'the call whose channel vanished is ended');
  assert.equal((await bridge.callBook.get(leaves.uuid))?.endReason, 'channel gone while ESL was disconnected');
  assert.ok(bridge.calls.active.has(stays.uuid), 'the call still in FreeSWITCH keeps its session');
  assert.ok(stays.stream?.connected, 'and its stream');
  assert.ok(!bridge.calls.active.has(notOurs.uuid), 'a parked channel without the marker is left alone');
  assert.equal(notOurs.answerState, 'answered');
  assert.equal(notOurs.streams.length, 0);
  assert.equal(
    fs.commands
      .filter((c) => c.line.includes('uuid_audio_stream') && c.line.includes(' start '))
      .filter((c) => c.line.includes(stays.uuid)).length,
    1,
    'the surviving call was not set up twice',
  );
});

test('an outbound call answered and parked while ESL was down is taken, not orphaned in park', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  // The originate is accepted, then ESL drops before its BACKGROUND_JOB: the job is "pending" when it drops.
  fs.onOriginate = () => ({ result: 'answer', afterMs: 50 });
  fs.beforeApi = (command) => (command === 'originate' ? held : undefined);
  const record = await bridge.calls.originate({ to: '15550001111', gateway: 'gw1' });
  await fs.waitForCommand((c) => c.line.startsWith('bgapi originate'));
  await fs.eslDown();
  await until(() => !bridge.esl.connected, 3000, 'ESL down');
  release();
  const channel = await fs.waitForChannel(record.id);
  await channel.waitForEvent('CHANNEL_PARK');
  assert.notEqual(
    (await bridge.callBook.get(record.id))?.status,
    'failed',
    'not given up while FreeSWITCH may still place it',
  );
  await fs.eslUp();
  await bridge.esl.waitConnected(5000);
  await until(() => channel.stream?.connected, 5000, 'the parked outbound call is taken');
  assert.equal((await bridge.callBook.get(record.id))?.status, 'answered');
  await channel.hangup();
  await until(
    async () => (await bridge.callBook.get(record.id))?.status === 'completed',
    3000,
    'recorded as completed',
  );
});

test('an outbound call that never reached FreeSWITCH while ESL was down is recorded failed after the reconnect', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  fs.onOriginate = () => ({ result: 'busy' });
  fs.beforeApi = (command) => (command === 'originate' ? held : undefined);
  const record = await bridge.calls.originate({ to: '15550001111', gateway: 'gw1' });
  await fs.waitForCommand((c) => c.line.startsWith('bgapi originate'));
  await fs.eslDown();
  release();
  const channel = await fs.waitForChannel(record.id);
  await channel.waitDestroyed();
  await fs.eslUp();
  await bridge.esl.waitConnected(5000);
  await until(async () => (await bridge.callBook.get(record.id))?.status === 'failed', 3000, 'recorded failed');
  assert.match((await bridge.callBook.get(record.id))!.endReason ?? '', /FreeSWITCH connection lost/);
});

const HOSTILE: Array<{ name: string; frame: () => string | Buffer; reconnects: boolean }> = [
  {
    name: 'a header with a bad percent-escape',
    frame: () => 'Content-Type: log/data\nLog-File: %E0%A4%A\nContent-Length: 3\n\nabc',
    reconnects: false,
  },
  {
    name: 'a 50 MB Content-Length',
    frame: () =>
      Buffer.concat([
        Buffer.from('Content-Type: api/response\nContent-Length: 52428800\n\n'),
        Buffer.alloc(1 << 20, 0x41),
      ]),
    reconnects: true,
  },
  {
    name: 'garbage bytes',
    frame: () => Buffer.from([0, 0xff, 0xfe, 0x41, 0x0a, 0x7f, 0x3a, 0x0a, 0x0a, 0x42]),
    reconnects: true,
  },
  {
    name: 'an event-json body that is not JSON',
    frame: () => 'Content-Length: 12\nContent-Type: text/event-json\n\n{"Event-Name',
    reconnects: true,
  },
];

for (const h of HOSTILE) {
  test(`hostile frame from the ESL peer (${h.name}): the process lives, ESL ${h.reconnects ? 'reconnects' : 'stays up'}, calls carry on`, async (t) => {
    const stack = await startStack();
    t.after(() => stack.stop());
    const { fs, bridge } = stack;
    const call = await activeCall(stack);
    const before = connectionsSeen(stack);
    fs.injectEsl(h.frame());
    if (h.reconnects)
      await until(() => connectionsSeen(stack) > before && bridge.esl.connected, 5000, 'ESL re-established');
    else await tick();
    const next = await activeCall(stack);
    assert.ok(bridge.calls.active.has(call.uuid), 'the existing call was not affected');
    assert.ok(call.stream?.connected);
    assert.ok(next.stream?.connected, 'a new call is taken');
    await call.hangup();
    await until(() => !bridge.calls.active.has(call.uuid), 3000, 'hangup still seen');
  });
}

test('a channel variable that FreeSWITCH sends as a JSON array (push) neither crashes nor hides the call', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { bridge } = stack;
  const other = await activeCall(stack);
  // `push callbridge=1` twice: event json carries "variable_callbridge":["1","1"] (captured: resync).
  const call = await activeCall(stack, { callbridge: 'ARRAY::1|:1' });
  assert.ok(bridge.calls.active.has(call.uuid));
  assert.ok(bridge.calls.active.has(other.uuid), 'the other call was not affected');
  const notOurs = stack.fs.placeInboundCall({ variables: { callbridge: 'ARRAY::0|:0' } });
  await notOurs.waitForEvent('CHANNEL_PARK');
  await activeCall(stack); // events are handled in order: the park above has been seen
  assert.ok(!bridge.calls.active.has(notOurs.uuid), 'an array of "0" is no marker');
});

test('FreeSWITCH killed (SIGKILL): its calls are recorded failed with the connection lost, not completed', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const call = await activeCall(stack);
  // SIGKILL: no events, ESL closes, the media sockets die without a close frame (captured: shutdown_kill9).
  const restarted = fs.restart(4000);
  await until(() => !bridge.calls.active.has(call.uuid), 5000, 'the call ended');
  const record = (await bridge.callBook.get(call.uuid))!;
  assert.equal(record.status, 'failed');
  assert.match(record.endReason ?? '', /FreeSWITCH connection lost/);
  assert.notEqual(record.hangupCause, 'NORMAL_CLEARING');
  await restarted;
});

test('a call ending while its media stream restarts leaves no unhandled rejection and no playback files', async (t) => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  const stack = await startStack();
  t.after(async () => {
    process.off('unhandledRejection', onRejection);
    await stack.stop();
  });
  const { fs, bridge } = stack;
  const call = await activeCall(stack);
  let release: (() => void) | undefined;
  fs.beforeApi = (command, arg) => {
    if (command !== 'uuid_audio_stream' || !arg.includes(' start ')) return undefined;
    return new Promise<void>((r) => (release = r));
  };
  // FreeSWITCH closes the media socket first; callbridge starts the stream again; the call ends meanwhile.
  call.stream!.dropConnection();
  await until(() => release, 5000, 'stream restart in flight');
  const ended = bridge.calls.hangup(call.uuid);
  await until(() => bridge.calls.active.get(call.uuid)?.state === 'ending', 3000, 'ending');
  await tick(); // an unhandled rejection is reported after the microtasks of the turn that made it
  await tick();
  release!();
  await ended;
  await until(() => !bridge.calls.active.has(call.uuid), 3000, 'ended');
  assert.deepEqual(rejections.map(String), []);
  assert.deepEqual(await stack.playbackFiles(), []);
});

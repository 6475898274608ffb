import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as cmd from '../../src/freeswitch/commands.ts';

const U = '25200e2e-1434-42bd-85d3-75d185d3a79e';
const HOSTILE = [' ', ',', '}', '{', "'", '"', '&', '\n', '\r', ';'].map((c) => `x${c}y`);

test('builders produce the exact command lines FreeSWITCH expects', () => {
  assert.equal(cmd.answer(U), `uuid_answer ${U}`);
  assert.equal(cmd.breakPlayback(U), `uuid_break ${U} all`);
  assert.equal(cmd.breakPlayback(U, false), `uuid_break ${U}`);
  assert.equal(cmd.kill(U, 'USER_BUSY'), `uuid_kill ${U} USER_BUSY`);
  assert.equal(
    cmd.broadcast(U, '/var/lib/callbridge/playback/a-1-2.r8'),
    `uuid_broadcast ${U} /var/lib/callbridge/playback/a-1-2.r8 aleg`,
  );
  assert.equal(
    cmd.setVariables(U, { STREAM_MESSAGE_DEFLATE: 'false', STREAM_HEART_BEAT: '10' }),
    `uuid_setvar_multi ${U} STREAM_MESSAGE_DEFLATE=false;STREAM_HEART_BEAT=10`,
  );
  assert.equal(
    cmd.audioStreamStart(U, `ws://callbridge:8080/stream/${U}?token=abc_-9`, 16000, { call: U }),
    `uuid_audio_stream ${U} start ws://callbridge:8080/stream/${U}?token=abc_-9 mono 16k {"call":"${U}"}`,
  );
  assert.equal(
    cmd.audioStreamStart(U, 'wss://a.example.com/s', 8000),
    `uuid_audio_stream ${U} start wss://a.example.com/s mono 8k`,
  );
  assert.equal(
    cmd.subscribe(['CHANNEL_PARK', 'DTMF'], ['mod_audio_stream::connect']),
    'event json CHANNEL_PARK DTMF CUSTOM mod_audio_stream::connect',
  );
  const msg = cmd.playFile(U, '/tmp/x.r8', '9a81a841-9d3e-4c1f-8d2e-0123456789ab');
  assert.deepEqual(msg.headers, {
    'call-command': 'execute',
    'execute-app-name': 'playback',
    'execute-app-arg': '/tmp/x.r8',
    'event-lock': 'true',
    'event-uuid': '9a81a841-9d3e-4c1f-8d2e-0123456789ab',
  });
});

test('every value that could rewrite a command line is refused', () => {
  for (const bad of HOSTILE) {
    assert.throws(() => cmd.answer(bad), cmd.UnsafeEslValueError, `uuid ${JSON.stringify(bad)}`);
    assert.throws(() => cmd.kill(U, `NORMAL${bad}`), cmd.UnsafeEslValueError);
    assert.throws(() => cmd.broadcast(U, `/tmp/${bad}.r8`), cmd.UnsafeEslValueError);
    assert.throws(() => cmd.playFile(U, `/tmp/${bad}`, U), cmd.UnsafeEslValueError);
    assert.throws(() => cmd.setVariables(U, { [`A${bad}`]: '1' }), cmd.UnsafeEslValueError);
    assert.throws(() => cmd.setVariables(U, { A: bad }), cmd.UnsafeEslValueError);
    assert.throws(() => cmd.setVariables(U, { text_b64: `QUJD${bad}` }), cmd.UnsafeEslValueError);
    assert.throws(() => cmd.audioStreamStart(U, `ws://host/${bad}`, 8000), cmd.UnsafeEslValueError);
    assert.throws(() => cmd.audioStreamStart(U, 'ws://host/x', 8000, { k: bad }), cmd.UnsafeEslValueError);
  }
  // uuids with a command appended, paths escaping upwards, hosts mod_audio_stream rejects
  assert.throws(() => cmd.answer(`${U} all`), cmd.UnsafeEslValueError);
  assert.throws(() => cmd.broadcast(U, '/var/lib/../../etc/passwd'), cmd.UnsafeEslValueError);
  assert.throws(() => cmd.audioStreamStart(U, 'ws://my_service:8080/x', 8000), cmd.UnsafeEslValueError);
  assert.throws(() => cmd.audioStreamStart(U, 'ws://[::1]:8080/x', 8000), cmd.UnsafeEslValueError);
  assert.throws(() => cmd.audioStreamStart(U, 'http://host/x', 8000), cmd.UnsafeEslValueError);
  assert.throws(() => cmd.audioStreamStart(U, 'ws://host/x', 24000 as 8000), cmd.UnsafeEslValueError);
  assert.throws(() => cmd.playFile(U, '/tmp/x.r8', 'not-a-uuid'), cmd.UnsafeEslValueError);
});

test('the error names the field and the rule', () => {
  const err = (() => {
    try {
      cmd.kill(U, 'NORMAL_CLEARING\nexit');
    } catch (e) {
      return e as Error;
    }
  })();
  assert.ok(err instanceof cmd.UnsafeEslValueError);
  assert.match(err.message, /hangup cause/);
  assert.match(err.message, /upper-case/);
});

test('base64url free text (*_b64 variables) may be as long as the API allows, and nothing but base64url', () => {
  const long = Buffer.from('Be brief, warm; ask {one} question & wait.\n'.repeat(500)).toString('base64url');
  assert.ok(long.length > 20_000);
  const line = cmd.originate({
    uuid: U,
    gateway: 'trunk',
    number: '+15551234567',
    timeoutSeconds: 30,
    variables: { callbridge: '1', callbridge_instructions_b64: long },
  });
  assert.ok(line.includes(`,callbridge_instructions_b64=${long}}`));
  assert.throws(
    () => cmd.setVariables(U, { callbridge_instructions_b64: 'QUJD=' }),
    cmd.UnsafeEslValueError,
    'padding "=" is not base64url',
  );
  assert.throws(() => cmd.setVariables(U, { callbridge_instructions_b64: 'A'.repeat(80_001) }), /at most 80000/);
  assert.throws(
    () => cmd.setVariables(U, { callbridge_voice: 'A'.repeat(600) }),
    cmd.UnsafeEslValueError,
    'other values stay short',
  );
});

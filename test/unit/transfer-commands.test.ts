import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UnsafeEslValueError, bridge, bridgeLeg, deflect, sendDtmf } from '../../src/freeswitch/commands.ts';

const A = '8c692053-f6a7-4992-a3b9-677768f9d115';
const B = 'd6fb8b78-c3d6-43d7-8f9f-4f3d3adeaf07';
const HOSTILE = [' ', ',', '{', '}', "'", '"', '&', '\n', '\r', ';', '|', '<', '>', '[', ']', '\0'];

test('bridgeLeg: a parked B leg through a gateway or a sofia profile, without the callbridge marker', () => {
  assert.equal(
    bridgeLeg({ uuid: B, target: { kind: 'number', gateway: 'trunk', number: '+15550001234' }, timeoutSeconds: 30 }),
    `originate {origination_uuid=${B},ignore_early_media=true,originate_timeout=30}sofia/gateway/trunk/+15550001234 &park()`,
  );
  assert.equal(
    bridgeLeg({
      uuid: B,
      target: { kind: 'sip', profile: 'callbridge', uri: 'sip:2000@127.0.0.1:5090' },
      timeoutSeconds: 5,
      callerIdNumber: '15550002222',
    }),
    `originate {origination_uuid=${B},ignore_early_media=true,originate_timeout=5,origination_caller_id_number=15550002222}sofia/callbridge/sip:2000@127.0.0.1:5090 &park()`,
  );
});

test('bridge, deflect and send_dtmf lines', () => {
  assert.equal(bridge(A, B), `uuid_bridge ${A} ${B}`);
  assert.equal(deflect(A, 'sip:+15550001234@sip.example.com'), `uuid_deflect ${A} sip:+15550001234@sip.example.com`);
  assert.equal(sendDtmf(A, '1234#'), `uuid_send_dtmf ${A} 1234#`);
  assert.equal(sendDtmf(A, 'w0W*ABCD'), `uuid_send_dtmf ${A} w0W*ABCD`);
  assert.equal(sendDtmf(A, '9'.repeat(64)).length, `uuid_send_dtmf ${A} `.length + 64);
});

test('hostile numbers, URIs, digits and uuids are refused', () => {
  const leg = (number: string) =>
    bridgeLeg({ uuid: B, target: { kind: 'number', gateway: 'trunk', number }, timeoutSeconds: 30 });
  const sipLeg = (uri: string) =>
    bridgeLeg({ uuid: B, target: { kind: 'sip', profile: 'callbridge', uri }, timeoutSeconds: 30 });
  for (const c of HOSTILE) {
    assert.throws(() => leg(`+1555${c}0001234`), UnsafeEslValueError);
    assert.throws(() => sipLeg(`sip:2000@host${c}x`), UnsafeEslValueError);
    assert.throws(() => sipLeg(`sip:20${c}00@host`), UnsafeEslValueError);
    assert.throws(() => deflect(A, `sip:2000@ho${c}st`), UnsafeEslValueError);
    assert.throws(() => sendDtmf(A, `1${c}2`), UnsafeEslValueError);
  }
  for (const uri of ['2000@host', 'sips:2000@host', 'sip:@host', 'sip:2000@', 'sip:2000@host:123456', 'tel:+1555']) {
    assert.throws(() => deflect(A, uri), UnsafeEslValueError, uri);
  }
  for (const digits of ['', 'E', 'a', '1@400', '9'.repeat(65)]) {
    assert.throws(() => sendDtmf(A, digits), UnsafeEslValueError, digits);
  }
  assert.throws(() => bridge(A, 'not-a-uuid'), UnsafeEslValueError);
  assert.throws(() => bridge(`${A} x`, B), UnsafeEslValueError);
  assert.throws(
    () => bridgeLeg({ uuid: B, target: { kind: 'number', gateway: 'tr unk', number: '1' }, timeoutSeconds: 30 }),
    UnsafeEslValueError,
  );
  assert.throws(
    () => bridgeLeg({ uuid: B, target: { kind: 'sip', profile: 'a/b', uri: 'sip:1@h' }, timeoutSeconds: 30 }),
    UnsafeEslValueError,
  );
  assert.throws(
    () => bridgeLeg({ uuid: B, target: { kind: 'number', gateway: 'trunk', number: '1' }, timeoutSeconds: 0 }),
    UnsafeEslValueError,
  );
});

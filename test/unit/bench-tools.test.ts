import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blameLate, TurnClock, utterances } from '../../bench/callers.ts';
import { parseWholeStackArgs } from '../../bench/whole-stack.ts';

test("a late caller frame is the load generator's when one of its processes stalled during the gap", () => {
  const stalls: [number, number][] = [
    [1000, 1030],
    [5000, 5100],
  ];
  const late: [number, number][] = [
    [990, 1120], // overlaps the first stall
    [2000, 2130], // nothing stalled: callbridge's
    [5050, 5180], // overlaps the second
  ];
  assert.deepEqual(blameLate(late, stalls), { loadgen: 2, callbridge: 1 });
  assert.deepEqual(blameLate(late, []), { loadgen: 0, callbridge: 3 });
});

test("the callers' speech is resampled once per stream rate and shared by every call", () => {
  const narrow = utterances(8000);
  const wide = utterances(16000);
  assert.equal(wide.speech.length, narrow.speech.length * 2);
  assert.equal(wide.short.length, narrow.short.length * 2);
  assert.equal(utterances(16000), wide, 'the same buffers for the next call');
});

test('the turn clock runs each caller action once, in the order they fall due', async () => {
  const clock = new TurnClock();
  try {
    const ran: string[] = [];
    await new Promise<void>((resolve) => {
      clock.after(60, () => {
        ran.push('second');
        resolve();
      });
      clock.after(0, () => ran.push('first'));
    });
    assert.deepEqual(ran, ['first', 'second']);
  } finally {
    clock.stop();
  }
});

test('--whole-stack options: the called number and --compare settings are checked before anything runs', () => {
  const o = parseWholeStackArgs([
    '--whole-stack',
    '--compare',
    '',
    '--compare',
    'PLAYBACK_FORMAT=wav,STREAM_FRAME_MS=60',
  ]);
  assert.notEqual(o, 'help');
  if (o === 'help') return;
  assert.deepEqual(o.compare, [{}, { PLAYBACK_FORMAT: 'wav', STREAM_FRAME_MS: '60' }]);
  assert.equal(o.number, 'callbridge');
  assert.throws(() => parseWholeStackArgs(['--number', '5000;evil']), /SIP user part/);
  assert.throws(() => parseWholeStackArgs(['--sip', 'freeswitch']), /host:port/);
  assert.throws(() => parseWholeStackArgs(['--compare', 'lower=1']), /K=V/);
  assert.equal(parseWholeStackArgs(['--help']), 'help');
});

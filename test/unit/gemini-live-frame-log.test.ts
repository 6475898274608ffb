import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameLog, SLAB_BYTES, pooledSlabs } from '../../src/agents/gemini-live/frame-log.ts';
import { audioMessage } from '../../src/agents/gemini-live/live-audio.ts';
import { ReplayRing } from '../../src/agents/gemini-live/resumption.ts';

/** 60 ms of 16 kHz L16 whose bytes say which frame it is. */
const frame = (k: number, bytes = 1920) => Buffer.alloc(bytes, k % 251);

test('replayed caller audio is each kept frame as its realtimeInput message, in order with the texts', () => {
  const ring = new ReplayRing(8);
  const reused = Buffer.alloc(1920);
  for (let k = 1; k <= 5; k++) {
    frame(k).copy(reused); // the caller reuses its buffer: the ring must have copied
    ring.pushAudio(reused);
    if (k === 3) ring.push('{"realtimeInput":{"text":"hi"}}');
  }
  const out: string[] = [];
  assert.deepEqual(
    ring.replayAfter(2, (m) => out.push(m)),
    { replayed: 4, missing: 0, base: 2 },
  );
  assert.deepEqual(out, [
    audioMessage(frame(3)),
    '{"realtimeInput":{"text":"hi"}}',
    audioMessage(frame(4)),
    audioMessage(frame(5)),
  ]);
});

test('slabs go back to the pool as handles cover frames and are reused: a long call holds a bounded set', () => {
  const ring = new ReplayRing(1500);
  const before = pooledSlabs();
  for (let k = 1; k <= 20_000; k++) {
    ring.pushAudio(frame(k));
    if (k % 50 === 0) ring.trimThrough(k - 10); // a handle every 3 s covering all but the last 10 frames
  }
  // 10 frames of 1,920 bytes stay kept: one or two slabs in use, the rest back in the pool
  const out: string[] = [];
  ring.replayAfter(0, (m) => out.push(m));
  assert.equal(out.length, 10);
  assert.equal(out[9], audioMessage(frame(20_000)));
  ring.clear();
  assert.ok(pooledSlabs() - before <= 3, `slabs created for 20,000 frames: ${pooledSlabs() - before}`);
  assert.ok(pooledSlabs() >= 1, 'clear gives the slabs back');
});

test('a full ring drops its oldest frame and releases the slab only when no kept frame is in it', () => {
  const ring = new ReplayRing(40);
  for (let k = 1; k <= 100; k++) ring.pushAudio(frame(k));
  assert.equal(ring.overflowed, 60);
  const out: string[] = [];
  assert.deepEqual(
    ring.replayAfter(0, (m) => out.push(m)),
    { replayed: 40, missing: 60, base: 60 },
  );
  assert.deepEqual(
    out,
    Array.from({ length: 40 }, (_, i) => audioMessage(frame(61 + i))),
  );
});

test('an oversized frame gets a slab of its own and the frames after it stay intact', () => {
  const log = new FrameLog();
  const big = Buffer.alloc(SLAB_BYTES + 100, 7);
  const a = log.append(frame(1));
  const b = log.append(big);
  const c = log.append(frame(2));
  assert.ok(log.view(a, 1920).equals(frame(1)));
  assert.ok(log.view(b, big.length).equals(big));
  assert.ok(log.view(c, 1920).equals(frame(2)));
  log.releaseBefore(c);
  assert.ok(log.view(c, 1920).equals(frame(2)), 'the frame at the release point is kept');
});

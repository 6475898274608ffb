import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { PlayoutQueue } from '../../src/playout/playout-queue.ts';
import { type FakeFreeswitch, fakeClockQueue } from './playout-fake-freeswitch.ts';

function setup(t: TestContext) {
  const bed = fakeClockQueue(t, { chunkMs: 500, maxAheadMs: 1000 });
  return bed;
}

/** A model streaming in real time: 40 ms pieces on a 40 ms schedule, some of them late (by up to 45 ms, never cumulative). */
async function realtimeReply(
  fs: FakeFreeswitch,
  q: PlayoutQueue,
  advance: (ms: number) => Promise<void>,
  ms: number,
): Promise<void> {
  const late = [0, 5, 0, 30, 10, 0, 45, 0, 5, 20];
  const pieces = ms / 40;
  const start = fs.now;
  for (let k = 0; k < pieces; k++) {
    const due = start + k * 40 + late[k % late.length]!;
    if (due > fs.now) await advance(due - fs.now);
    q.push(Buffer.alloc(640, k % 2 ? 0x11 : 0x22), 8000);
  }
  q.endReply();
}

test('replies streamed in real time play gapless from few files once the arrival pace is known', async (t) => {
  const { fs, q, advance } = setup(t);
  const replies: Array<typeof fs.played> = [];
  for (let r = 0; r < 3; r++) {
    const from = fs.played.length;
    await realtimeReply(fs, q, advance, 3000);
    await advance(1500); // played out, then the caller talks
    replies.push(fs.played.slice(from));
  }
  for (const [i, files] of replies.entries()) {
    const heard = files.reduce((a, f) => a + f.ms, 0);
    assert.equal(heard, 3000, `reply ${i + 1}: all of it played`);
  }
  // From the second reply on the queue knows the pace: a lead covers the late pieces, files are not tiny.
  for (const [i, files] of replies.entries()) {
    if (i === 0) continue;
    assert.ok(files.length <= 30, `reply ${i + 1}: ${files.length} files for 3 s (at most one per 100 ms)`);
    const gaps = files.slice(1).map((f, k) => f.start - files[k]!.end);
    assert.deepEqual(
      gaps.filter((g) => g > 0),
      [],
      `reply ${i + 1}: silence inserted between its files`,
    );
  }
  await q.close();
});

test('a reply arriving in a burst still starts at once with a first file of firstChunkMs, after real-time replies too', async (t) => {
  const { fs, q, advance } = setup(t);
  const burst = async () => {
    const from = fs.commanded.length;
    const at = fs.now;
    q.push(Buffer.alloc(300 * 16), 8000); // 300 ms at once
    q.endReply();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(fs.commanded[from], { ms: 100, at }, 'first file of 100 ms commanded without waiting');
    await advance(1500);
  };
  await burst();
  await realtimeReply(fs, q, advance, 2000);
  await advance(1500);
  await burst();
  await q.close();
});

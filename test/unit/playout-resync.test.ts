import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type FakeFreeswitch, fakeClockQueue } from './playout-fake-freeswitch.ts';

function setup(t: TestContext) {
  const bed = fakeClockQueue(t, { chunkMs: 200, maxAheadMs: 600 });
  bed.fs.onDrop = () => bed.q.forgetCommanded(); // what the session does on the ESL client's `disconnected`
  return bed;
}

/** `ms` of 8 kHz audio whose 20 ms frames are numbered 1, 2, 3, ... (each sample holds its frame's number). */
function frames(ms: number): Buffer {
  const b = Buffer.alloc(ms * 16);
  for (let i = 0; i < ms * 8; i++) b.writeInt16LE(1 + Math.floor(i / 160), i * 2);
  return b;
}

/** The frame numbers the caller heard, in order, from the files FreeSWITCH played. */
function heardFrames(fs: FakeFreeswitch, audio: Map<string, Buffer>): number[] {
  const out: number[] = [];
  for (const p of fs.played) {
    const file = audio.get(p.path)!;
    for (let off = 0; off < file.length; off += 320) out.push(file.readInt16LE(off));
  }
  return out;
}

for (const received of [false, true]) {
  test(`ESL drops with a playback command in flight that FreeSWITCH ${received ? 'got' : 'never got'}, and the outage outlasts its queue: ${received ? 'nothing is lost (that one chunk may repeat: no event can tell)' : 'every frame is heard once, in order'}`, async (t) => {
    const { fs, q, advance } = setup(t);
    const audio = new Map<string, Buffer>();
    const put = fs.put.bind(fs);
    fs.put = async (c) => {
      const data = c.data!;
      const path = await put(c);
      audio.set(path, data);
      return path;
    };
    // A 2 s reply arriving over 500 ms; the link dies with the 4th command in flight.
    let sent = 0;
    const play = fs.play.bind(fs);
    fs.play = (path) => {
      if (++sent === 4) fs.dropNext = { received };
      return play(path);
    };
    const reply = frames(2000);
    for (let off = 0; off < reply.length; off += 640 * 4) {
      q.push(reply.subarray(off, off + 640 * 4), 8000);
      await advance(20);
    }
    q.endReply();
    await until(() => !fs.linkUp, advance);
    await advance(1500); // FreeSWITCH plays out everything it has while callbridge cannot see it
    fs.linkUp = true;
    await until(() => q.idle, advance, 5000);
    const expected = Array.from({ length: 100 }, (_, i) => i + 1);
    const heard = heardFrames(fs, audio);
    if (!received) assert.deepEqual(heard, expected);
    else {
      // FreeSWITCH played it unseen and went idle: the chunk in flight is sent again rather than risk losing it.
      const resent = fs.played.filter((p, i) => fs.played.findIndex((o) => o.path === p.path) !== i);
      assert.ok(resent.length <= 1, 'at most the one chunk in flight is heard twice');
      assert.deepEqual([...new Set(heard)], expected, 'nothing lost, in order');
    }
    assert.equal(fs.files.size, 0, 'every chunk file deleted');
    await q.close();
  });
}

test('ESL drops while FreeSWITCH still has audio queued: the command in flight is resolved by the events after the reconnect', async (t) => {
  const { fs, q, advance } = setup(t);
  const audio = new Map<string, Buffer>();
  const put = fs.put.bind(fs);
  fs.put = async (c) => {
    const data = c.data!;
    const path = await put(c);
    audio.set(path, data);
    return path;
  };
  let sent = 0;
  const play = fs.play.bind(fs);
  fs.play = (path) => {
    if (++sent === 4) fs.dropNext = { received: true };
    return play(path);
  };
  const reply = frames(3000);
  q.push(reply, 8000); // a burst: FreeSWITCH gets up to 600 ms ahead
  q.endReply();
  await until(() => !fs.linkUp, advance);
  await advance(200);
  fs.linkUp = true;
  await until(() => q.idle, advance, 8000);
  assert.deepEqual(
    heardFrames(fs, audio),
    Array.from({ length: 150 }, (_, i) => i + 1),
  );
  const gaps = fs.played.slice(1).map((f, k) => f.start - fs.played[k]!.end);
  assert.deepEqual(
    gaps.filter((g) => g > 0),
    [],
    'FreeSWITCH never ran dry: the reply continued without a gap',
  );
  await q.close();
});

async function until(check: () => boolean, advance: (ms: number) => Promise<void>, maxMs = 2000): Promise<void> {
  for (let i = 0; i < maxMs && !check(); i += 5) await advance(5);
  assert.ok(check(), 'condition not reached');
}

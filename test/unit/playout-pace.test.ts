import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ResamplerPools } from '../../src/media/resampler-pools.ts';
import { InlineResampling } from '../../src/media/resampling.ts';
import { PaceMemory } from '../../src/playout/arrival-pace.ts';
import { PlayoutQueue, type PlaybackControl } from '../../src/playout/playout-queue.ts';
import type { ChunkTransport, OutgoingChunk } from '../../src/playout/transport.ts';

/**
 * A FreeSWITCH stand-in on a fake clock: queued files play back to back in order; a file commanded while the
 * channel is idle starts 25 ms later (measured 21–40 ms). Records when each file played.
 */
class FakeFreeswitch implements PlaybackControl, ChunkTransport {
  now = 0;
  queue: PlayoutQueue | undefined;
  readonly files = new Map<string, number>();
  readonly played: Array<{ path: string; ms: number; start: number; end: number }> = [];
  /** Every playback command: file length and when it came. */
  readonly commanded: Array<{ ms: number; at: number }> = [];
  #pending: Array<{ path: string; ms: number }> = [];
  #current: { path: string; ms: number; start: number; end: number; started: boolean } | undefined;

  async put(c: OutgoingChunk): Promise<string> {
    const path = `/pb/${c.reply}-${c.seq}`;
    this.files.set(path, c.data!.length / 16); // .r8: 16 bytes per ms
    return path;
  }
  remove(c: OutgoingChunk): void {
    this.files.delete(`/pb/${c.reply}-${c.seq}`);
  }
  async close(): Promise<void> {}
  async play(path: string): Promise<void> {
    this.#pending.push({ path, ms: this.files.get(path) ?? 0 });
    this.commanded.push({ ms: this.files.get(path) ?? 0, at: this.now });
    if (!this.#current) this.#next(this.now + 25);
  }
  stopAll(): void {
    this.#pending = [];
  }
  #next(at: number): void {
    const item = this.#pending.shift();
    this.#current = item && { ...item, start: at, end: at + item.ms, started: false };
  }
  /** Deliver the PLAYBACK_START / EXECUTE_COMPLETE events due by now. */
  run(): void {
    for (let c = this.#current; c; c = this.#current) {
      if (!c.started && c.start <= this.now) {
        c.started = true;
        this.queue!.started(c.path);
      }
      if (!c.started || c.end > this.now) return;
      this.played.push({ path: c.path, ms: c.ms, start: c.start, end: c.end });
      this.#next(c.end);
      this.queue!.finished(c.path, 'FILE PLAYED');
    }
  }
}

const resampling = new InlineResampling(new ResamplerPools({ converter: 'SINC_FASTEST' }));

function setup(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const fs = new FakeFreeswitch();
  const q = new PlayoutQueue({
    format: { kind: 'r8', sampleRate: 8000 },
    transport: fs,
    control: fs,
    resampling,
    firstChunkMs: 100,
    chunkMs: 500,
    lowWaterMs: 100,
    maxAheadMs: 1000,
    now: () => fs.now,
    pace: new PaceMemory(),
  });
  fs.queue = q;
  /** Advance the fake clock 1 ms at a time, firing the queue's timers and FreeSWITCH's events on the way. */
  const advance = async (ms: number) => {
    for (let i = 0; i < ms; i++) {
      fs.now++;
      t.mock.timers.tick(1);
      fs.run();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { fs, q, advance };
}

/** A model streaming in real time: 40 ms pieces on a 40 ms schedule, some of them late (by up to 45 ms, never cumulative). */
async function realtimeReply(fs: FakeFreeswitch, q: PlayoutQueue, advance: (ms: number) => Promise<void>, ms: number): Promise<void> {
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
    assert.deepEqual(gaps.filter((g) => g > 0), [], `reply ${i + 1}: silence inserted between its files`);
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

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ResamplerPools } from '../../src/media/resampling/converter-pool.ts';
import { InlineResampling } from '../../src/media/resampling/inline-resampling.ts';
import { PaceMemory } from '../../src/playout/arrival-pace.ts';
import { PlayoutQueue, type PlaybackControl } from '../../src/playout/playout-queue.ts';
import { StreamAudioTransport, type ChunkTransport, type OutgoingChunk } from '../../src/playout/transport.ts';
import type { FileFormat } from '../../src/playout/formats.ts';

/** Transport that keeps files in memory and can delay writes. */
class MemoryTransport implements ChunkTransport {
  files = new Map<string, Buffer>();
  /** Size of every file ever written, by path (files are deleted once played). */
  played = new Map<string, number>();
  removed: string[] = [];
  writeDelayMs = 0;
  async put(c: OutgoingChunk): Promise<string> {
    if (this.writeDelayMs) await sleep(this.writeDelayMs);
    const path = `/pb/${c.reply}-${c.seq}`;
    this.files.set(path, c.data!);
    this.played.set(path, c.data!.length);
    return path;
  }
  remove(c: OutgoingChunk): void {
    const path = `/pb/${c.reply}-${c.seq}`;
    this.files.delete(path);
    this.removed.push(path);
  }
  async close(): Promise<void> {
    this.files.clear();
  }
}

class FakeControl implements PlaybackControl {
  played: Array<{ path: string; at: number }> = [];
  breaks = 0;
  async play(path: string): Promise<void> {
    this.played.push({ path, at: performance.now() });
  }
  stopAll(): void {
    this.breaks++;
  }
}

const pools = new ResamplerPools({ converter: 'SINC_FASTEST' });
const resampling = new InlineResampling(pools);
const R8: FileFormat = { kind: 'r8', sampleRate: 8000 };
/** One memory of reply pace for every queue of the file, as one callbridge instance has. */
const pace = new PaceMemory();

function queue(opts: Partial<ConstructorParameters<typeof PlayoutQueue>[0]> = {}) {
  const transport = new MemoryTransport();
  const control = new FakeControl();
  const q = new PlayoutQueue({
    format: R8,
    transport,
    control,
    resampling,
    pace,
    firstChunkMs: 100,
    chunkMs: 400,
    lowWaterMs: 200,
    maxAheadMs: 1000,
    ...opts,
  });
  return { q, transport, control };
}

/** `ms` of 8 kHz PCM whose samples count up from `start` (to check order and carry-over). */
function ramp(ms: number, start = 0): Buffer {
  const n = ms * 8;
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE((start + i) % 30000, i * 2);
  return b;
}

test('chunks are whole 20 ms frames, the remainder carries over, only the last piece is padded', async () => {
  const { q, transport, control } = queue();
  q.push(ramp(130), 8000); // 130 ms: first chunk 100 ms goes at once, 30 ms waits
  q.push(ramp(45, 130 * 8), 8000); // +45 ms → 75 ms buffered
  q.endReply();
  await sleep(20);
  const sizes = control.played.map((p) => transport.files.get(p.path)!.length);
  for (const s of sizes) assert.equal(s % 320, 0, `chunk of ${s} bytes is not whole 20 ms frames`);
  assert.equal(
    sizes.reduce((a, b) => a + b, 0),
    180 * 16,
    '175 ms of audio padded to 180 ms in total',
  );
  // order and continuity: concatenated samples count up without a gap until the padding
  const all = Buffer.concat(control.played.map((p) => transport.files.get(p.path)!));
  for (let i = 0; i < 175 * 8; i++) assert.equal(all.readInt16LE(i * 2), i);
  for (let i = 175 * 8; i < 180 * 8; i++) assert.equal(all.readInt16LE(i * 2), 0);
  await q.close();
});

test("a reply's end goes out as one file: its whole frames and the padded remainder together", async () => {
  const { q, transport, control } = queue({ lowWaterMs: 0 });
  q.push(ramp(130), 8000); // the first 100 ms go at once; with no low-water mark the other 30 ms wait
  q.push(ramp(45, 130 * 8), 8000); // 75 ms buffered: 3 whole frames and 15 ms
  q.endReply();
  await sleep(20);
  const sizes = control.played.map((p) => transport.files.get(p.path)!.length / 16);
  assert.deepEqual(sizes, [100, 80], 'ms per file (before: 100, 60, then a padded 20 of its own)');
  const all = Buffer.concat(control.played.map((p) => transport.files.get(p.path)!));
  for (let i = 0; i < 175 * 8; i++) assert.equal(all.readInt16LE(i * 2), i);
  for (let i = 175 * 8; i < 180 * 8; i++) assert.equal(all.readInt16LE(i * 2), 0);
  await q.close();
});

test('the first file goes out at once and never more than maxAhead is queued in FreeSWITCH', async () => {
  const { q, control, transport } = queue({ maxAheadMs: 600, chunkMs: 200, lowWaterMs: 100 });
  q.push(ramp(3000), 8000); // a 3 s reply arriving at once
  await sleep(10);
  assert.ok(control.played.length >= 1, 'the first file went out without waiting for the end of the reply');
  const queuedMs = control.played.reduce((a, p) => a + transport.files.get(p.path)!.length / 16, 0);
  assert.ok(queuedMs <= 600, `queued ${queuedMs} ms ahead, cap is 600`);
  // FreeSWITCH plays: report start/finish of the first file; the queue tops up but stays under the cap.
  q.started(control.played[0]!.path);
  await sleep(120);
  q.finished(control.played[0]!.path, 'FILE PLAYED');
  await sleep(150);
  assert.ok(control.played.length > 3, 'more chunks follow as audio plays');
  await q.close();
});

test('barge-in breaks once, drops queued and in-flight audio, and ignores late writes', async () => {
  const { q, control, transport } = queue();
  transport.writeDelayMs = 30;
  const seen: Array<[boolean, number]> = [];
  const q2 = new PlayoutQueue({
    format: R8,
    transport,
    control,
    resampling,
    firstChunkMs: 100,
    chunkMs: 400,
    lowWaterMs: 200,
    maxAheadMs: 1000,
    pace,
    observer: { interrupted: (broke, ms) => seen.push([broke, ms]) },
  });
  q2.push(ramp(1000), 8000); // chunks being written (30 ms each)
  q2.interrupt();
  assert.equal(control.breaks, 1, 'one uuid_break all');
  assert.equal(seen[0]![0], true);
  // The break went out within interrupt() itself (asserted above); how fast is the bench's question.
  assert.ok(seen[0]![1] >= 0, 'the interrupt reports how long it took');
  await sleep(80);
  assert.equal(control.played.length, 0, 'nothing of the interrupted reply is commanded after the break');
  assert.equal(transport.files.size, 0, 'its files are deleted');
  // the next reply plays normally
  q2.push(ramp(100), 8000);
  q2.endReply();
  await sleep(60);
  assert.equal(control.played.length, 1);
  assert.ok(control.played[0]!.path.startsWith('/pb/1-'), 'new reply generation');
  // a late PLAYBACK_START / EXECUTE_COMPLETE for an old file changes nothing
  q2.started('/pb/0-0');
  q2.finished('/pb/0-0', 'FILE PLAYED');
  await q2.close();
  await q.close();
});

test('an interrupt with nothing queued sends no break', async () => {
  const { q, control } = queue();
  q.interrupt();
  assert.equal(control.breaks, 0);
  await q.close();
});

test('files are removed when played and when the call ends', async () => {
  const { q, control, transport } = queue();
  q.push(ramp(300), 8000);
  q.endReply();
  await sleep(20);
  const first = control.played[0]!.path;
  q.finished(first, 'FILE PLAYED');
  assert.ok(!transport.files.has(first), 'played file deleted');
  assert.ok(transport.files.size > 0);
  await q.close();
  assert.equal(transport.files.size, 0, 'everything deleted at close');
});

test('24 kHz agent audio is resampled to the file rate with one stateful converter per reply', async () => {
  await pools.warm([[24000, 8000, 2]]);
  const { q, control, transport } = queue();
  // 1 s of a 440 Hz tone at 24 kHz, pushed in 40 ms pieces as a model would send it
  const tone = Buffer.alloc(24000 * 2);
  for (let i = 0; i < 24000; i++)
    tone.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / 24000) * 12000), i * 2);
  for (let off = 0; off < tone.length; off += 1920) q.push(tone.subarray(off, off + 1920), 24000);
  q.endReply();
  await sleep(30);
  while (control.played.length < 1) await sleep(5);
  // Drain: report each file as played so the queue sends everything.
  for (let k = 0; k < 20 && !q.idle; k++) {
    for (const p of [...control.played]) if (transport.files.has(p.path)) q.finished(p.path, 'FILE PLAYED');
    await sleep(50);
  }
  const bytes = control.played.reduce((a, p) => a + (transport.played.get(p.path) ?? 0), 0);
  // 1 s at 8 kHz plus the converter's flushed tail (< one 20 ms frame), padded to whole frames
  assert.ok(bytes >= 16000 && bytes <= 16000 + 2 * 320, `got ${bytes} bytes`);
  assert.equal(pools.get(24000, 8000).stats.leased, 0, 'converter returned at the end of the reply');
  assert.equal(resampling.active, 0);
  await q.close();
});

test('no free converter: the reply goes out as WAV at the agent rate instead of waiting', async () => {
  const empty = new InlineResampling(new ResamplerPools({ converter: 'SINC_FASTEST', minSpare: 0 }));
  const transport = new MemoryTransport();
  const control = new FakeControl();
  let fallbacks = 0;
  const q = new PlayoutQueue({
    format: R8,
    transport,
    control,
    resampling: empty,
    firstChunkMs: 100,
    chunkMs: 400,
    lowWaterMs: 200,
    maxAheadMs: 1000,
    pace,
    observer: { resamplerFallback: () => fallbacks++ },
  });
  q.push(Buffer.alloc(24000 * 2 * 0.1), 24000); // 100 ms at 24 kHz
  q.endReply();
  await sleep(20);
  assert.equal(fallbacks, 1);
  const file = transport.files.get(control.played[0]!.path)!;
  assert.equal(file.toString('ascii', 0, 4), 'RIFF');
  assert.equal(file.readUInt32LE(24), 24000, 'WAV at 24 kHz: FreeSWITCH resamples it');
  assert.equal(file.length, 44 + 2400 * 2);
  await q.close();
});

test('the converter pool is capped: at the cap a reply falls back to WAV, converters are reused, not churned', async () => {
  const capped = new ResamplerPools({ converter: 'SINC_FASTEST', minSpare: 0, max: 2 });
  await capped.warm([[24000, 8000, 2]]);
  const r = new InlineResampling(capped);
  const outs: Array<ReturnType<typeof r.open>> = [r.open(24000, 8000, () => {}), r.open(24000, 8000, () => {})];
  assert.ok(outs.every(Boolean), 'two streams within the cap');
  assert.equal(
    r.open(24000, 8000, () => {}),
    undefined,
    'the third is refused (the caller falls back to WAV)',
  );
  outs[0]!.drop();
  assert.ok(
    r.open(24000, 8000, () => {}),
    'a returned converter is reused',
  );
  assert.deepEqual(capped.stats, { leased: 2, free: 0 }, 'still two converters in all');
  capped.destroy();
});

test('close does not wait for chunks still waiting for their ::play (stream transport)', async () => {
  const sent: string[] = [];
  // The ::play timeout is far beyond anything this test waits: if close waited for the ::play (or for that
  // timeout), it would not resolve at all.
  const transport = new StreamAudioTransport({ send: (text) => sent.push(text) > 0, timeoutMs: 600_000 });
  const control = new FakeControl();
  let failed = 0;
  const q = new PlayoutQueue({
    format: R8,
    transport,
    control,
    resampling,
    firstChunkMs: 100,
    chunkMs: 400,
    lowWaterMs: 200,
    maxAheadMs: 1000,
    pace,
    observer: { chunkFailed: () => failed++ },
  });
  q.push(ramp(300), 8000);
  q.endReply();
  for (let i = 0; i < 1000 && sent.length === 0; i++) await sleep(10);
  assert.ok(sent.length > 0, 'chunks sent, mod_audio_stream never answers');
  let closed = false;
  const closing = q.close().then(() => (closed = true));
  // A generous bound that only fails when close really waits for mod_audio_stream (which never answers here).
  const bound = new AbortController();
  await Promise.race([closing, sleep(30_000, undefined, { signal: bound.signal }).catch(() => {})]);
  bound.abort();
  assert.ok(closed, 'close resolved without a ::play answer and before the ::play timeout');
  await sleep(20);
  assert.equal(control.played.length, 0, 'nothing commanded after the call ended');
  assert.equal(failed, 0, 'chunks given up at the end of the call are no failures');
});

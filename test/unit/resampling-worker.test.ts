import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { WorkerResampling } from '../../src/media/resampling/worker-resampling.ts';
import { silentLogger } from '../../src/log.ts';
import { PaceMemory } from '../../src/playout/arrival-pace.ts';
import { PlayoutQueue, type PlaybackControl } from '../../src/playout/playout-queue.ts';
import type { ChunkTransport, OutgoingChunk } from '../../src/playout/transport.ts';

/**
 * The worker is private to WorkerResampling: catch it as it posts its first batch, and optionally swallow
 * batches (a worker that stopped answering) until it is terminated.
 */
function spyWorker() {
  const original = Worker.prototype.postMessage;
  const spy = { worker: undefined as Worker | undefined, swallow: false };
  mock.method(Worker.prototype, 'postMessage', function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
    spy.worker ??= this;
    if (spy.swallow) return;
    return original.apply(this, args);
  });
  return spy;
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error('timed out');
    await sleep(5);
  }
}

function resampling(max = 8) {
  return new WorkerResampling({ converter: 'SINC_FASTEST', warm: [[24000, 8000, 1]], max, logger: silentLogger() });
}

/** `ms` of a 440 Hz tone at 24 kHz. */
function tone(ms: number): Buffer {
  const n = ms * 24;
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / 24000) * 12000), i * 2);
  return b;
}

test('a worker that dies completes every open stream once, empty and last; new streams then fall back', async (t) => {
  const spy = spyWorker();
  t.after(() => mock.restoreAll());
  const r = resampling();
  await r.ready();
  const outs: Array<Array<[number, boolean]>> = [[], []];
  const a = r.open(24000, 8000, (s, last) => outs[0]!.push([s.length, last]))!;
  const b = r.open(24000, 8000, (s, last) => outs[1]!.push([s.length, last]))!;
  a.push(new Int16Array(480));
  await until(() => outs[0]!.length === 1);
  spy.swallow = true; // b's ops and a's end never reach the worker
  b.push(new Int16Array(480));
  a.end();
  await Promise.resolve();
  await spy.worker!.terminate();
  await until(() => r.active === 0);
  assert.deepEqual(outs[0]!.at(-1), [0, true], 'a: its tail never came, the stream is completed empty');
  assert.deepEqual(outs[1], [[0, true]], 'b: completed once, although it never ended');
  assert.equal(
    r.open(24000, 8000, () => {}),
    undefined,
    'a dead worker gives no stream: the caller falls back to WAV',
  );
  b.push(new Int16Array(480)); // ops on a stream of a dead worker are ignored
  b.drop();
  await r.close();
});

test('a stream the worker cannot serve ends at once, and the worker goes on serving the next ones', async () => {
  const r = resampling();
  await r.ready();
  const bad: Array<[number, boolean]> = [];
  const s = r.open(0, 8000, (x, last) => bad.push([x.length, last]))!; // no converter can be made for 0 Hz
  s.push(new Int16Array(480));
  s.end();
  await until(() => bad.length > 0);
  assert.deepEqual(bad, [[0, true]], 'completed empty, once');
  assert.equal(r.active, 0);
  const good: Array<[number, boolean]> = [];
  const g = r.open(24000, 8000, (x, last) => good.push([x.length, last]))!;
  g.push(new Int16Array(480));
  g.end();
  await until(() => good.at(-1)?.[1] === true);
  assert.ok(good.reduce((n, [len]) => n + len, 0) > 100, 'the next stream is resampled by the same worker');
  await r.close();
});

class MemoryTransport implements ChunkTransport {
  files = new Map<string, Buffer>();
  async put(c: OutgoingChunk): Promise<string> {
    const path = `/pb/${c.reply}-${c.seq}`;
    this.files.set(path, c.data!);
    return path;
  }
  remove(c: OutgoingChunk): void {
    this.files.delete(`/pb/${c.reply}-${c.seq}`);
  }
  async close(): Promise<void> {
    this.files.clear();
  }
}

class FakeControl implements PlaybackControl {
  played: string[] = [];
  async play(path: string): Promise<void> {
    this.played.push(path);
  }
  stopAll(): void {}
}

test('the DSP worker dies while a reply is ending: the reply completes, the next one plays (as WAV) and the queue goes idle', async (t) => {
  const spy = spyWorker();
  t.after(() => mock.restoreAll());
  const r = resampling();
  await r.ready();
  const transport = new MemoryTransport();
  const control = new FakeControl();
  let idle = 0;
  let fallbacks = 0;
  const q = new PlayoutQueue({
    format: { kind: 'r8', sampleRate: 8000 },
    transport,
    control,
    resampling: r,
    firstChunkMs: 100,
    chunkMs: 400,
    lowWaterMs: 200,
    maxAheadMs: 1000,
    pace: new PaceMemory(),
    observer: { idle: () => idle++, resamplerFallback: () => fallbacks++ },
  });
  q.push(tone(200), 24000);
  await until(() => control.played.length > 0); // resampled by the worker and playing
  spy.swallow = true; // the worker stops answering: the reply's tail never comes back
  q.push(tone(30), 24000);
  q.endReply();
  // The next reply arrives, whole, while this one waits for its tail: it is held back.
  q.push(tone(100), 24000);
  q.endReply();
  await sleep(20);
  const before = control.played.length;
  await spy.worker!.terminate();
  await until(() => control.played.length > before);
  assert.equal(fallbacks, 1, 'the held-back reply went out as WAV at 24 kHz');
  const wav = control.played.map((p) => transport.files.get(p)).find((f) => f?.toString('ascii', 0, 4) === 'RIFF');
  assert.ok(wav, 'a WAV chunk was commanded');
  assert.equal(wav.length, 44 + 100 * 24 * 2, 'the whole 100 ms of the held-back reply');
  // FreeSWITCH plays everything: the queue goes idle.
  for (let k = 0; k < 20 && !q.idle; k++) {
    for (const p of [...control.played]) if (transport.files.has(p)) q.finished(p, 'FILE PLAYED');
    await sleep(10);
  }
  assert.ok(q.idle, 'nothing left open, buffered or queued');
  assert.equal(idle, 1, 'idle reported');
  assert.equal(r.active, 0);
  await q.close();
  await r.close();
});

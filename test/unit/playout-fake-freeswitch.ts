import { EslNotConnectedError } from '../../src/freeswitch/esl.ts';
import type { TestContext } from 'node:test';
import { ResamplerPools } from '../../src/media/resampling/converter-pool.ts';
import { InlineResampling } from '../../src/media/resampling/inline-resampling.ts';
import { PaceMemory } from '../../src/playout/arrival-pace.ts';
import { type PlaybackControl, PlayoutQueue } from '../../src/playout/playout-queue.ts';
import type { ChunkTransport, OutgoingChunk } from '../../src/playout/transport.ts';

/**
 * A FreeSWITCH stand-in on a fake clock: queued files play back to back in order; a file commanded while the
 * channel is idle starts 25 ms later (measured 21–40 ms). Records when each file played.
 */
export class FakeFreeswitch implements PlaybackControl, ChunkTransport {
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
  /** ESL link: while down, commands fail and events are lost (FreeSWITCH keeps playing). */
  linkUp = true;
  /** The next playback command dies in flight: `received` says whether FreeSWITCH got it before the socket died. */
  dropNext: { received: boolean } | undefined;
  /** The session's ESL-disconnected signal. */
  onDrop: (() => void) | undefined;

  async play(path: string): Promise<void> {
    if (!this.linkUp) throw new EslNotConnectedError('ESL not connected (sendmsg)');
    const drop = this.dropNext;
    if (drop) {
      this.dropNext = undefined;
      this.linkUp = false;
      if (drop.received) this.#queueFile(path);
      this.onDrop?.();
      throw new EslNotConnectedError('ESL connection closed (sendmsg pending)');
    }
    this.#queueFile(path);
  }
  #queueFile(path: string): void {
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
        if (this.linkUp && c.ms > 0) this.queue!.started(c.path);
      }
      if (!c.started || c.end > this.now) return;
      if (c.ms > 0) this.played.push({ path: c.path, ms: c.ms, start: c.start, end: c.end });
      this.#next(c.end);
      if (this.linkUp) this.queue!.finished(c.path, this.files.has(c.path) ? 'FILE PLAYED' : 'FILE NOT FOUND');
    }
  }
}

const resampling = new InlineResampling(new ResamplerPools({ converter: 'SINC_FASTEST' }));

/**
 * A PlayoutQueue writing r8 files to a FakeFreeswitch on a fake clock. `advance(ms)` moves the clock 1 ms at
 * a time, firing the queue's timers and FreeSWITCH's events on the way.
 */
export function fakeClockQueue(t: TestContext, sizes: { chunkMs: number; maxAheadMs: number }) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const fs = new FakeFreeswitch();
  const q = new PlayoutQueue({
    format: { kind: 'r8', sampleRate: 8000 },
    transport: fs,
    control: fs,
    resampling,
    firstChunkMs: 100,
    chunkMs: sizes.chunkMs,
    lowWaterMs: 100,
    maxAheadMs: sizes.maxAheadMs,
    now: () => fs.now,
    pace: new PaceMemory(),
  });
  fs.queue = q;
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

import { randomUUID } from 'node:crypto';
import { int16View } from '../media/pcm.ts';
import type { ResampleStream, Resampling } from '../media/resampling/resampling.ts';
import { ArrivalPace, processPace, type PaceMemory } from './arrival-pace.ts';
import { EslLink, refused } from './esl-link.ts';
import { encodeChunk, type FileFormat } from './formats.ts';
import type { ChunkTransport, OutgoingChunk } from './transport.ts';

/** In PlayoutQueue's early buffer: the end of the reply whose audio precedes it. */
const END = Symbol('end of reply');
/**
 * Most audio held before it is cut into files (ms): while FreeSWITCH is unreachable nothing is cut, and a model
 * streaming on would otherwise fill memory.
 */
const MAX_HELD_MS = 120_000;

/** What the queue needs from FreeSWITCH (the call session provides it over ESL). */
export interface PlaybackControl {
  /** Queue a fully written file behind what is already playing. Rejects if FreeSWITCH refused it. */
  play(path: string, chunkId: string): Promise<void>;
  /** Stop the current file and drop everything queued (`uuid_break <uuid> all`). Fire and forget. */
  stopAll(): void;
}

/** Timings the session logs and exports as metrics. */
export interface PlayoutObserver {
  /** First playback command of a reply, `ms` after its first audio reached the queue. */
  firstCommand?(ms: number): void;
  /** PLAYBACK_START of a reply's first chunk: the caller starts hearing it (`ms` after its first audio). */
  firstPlayback?(ms: number): void;
  /** A barge-in was handled; `broke` says a uuid_break was needed, `ms` how long handling took. */
  interrupted?(broke: boolean, ms: number): void;
  /** Everything queued has been played (or dropped) and no reply is arriving. */
  idle?(): void;
  /** FreeSWITCH could not play a chunk (FILE NOT FOUND, command refused, write failed). */
  chunkFailed?(reason: string): void;
  /** No converter was free: this reply goes out as WAV at the agent's rate and FreeSWITCH resamples it. */
  resamplerFallback?(): void;
  /** A chunk's file was in place `ms` after it was cut (a slow PLAYBACK_DIR shows here first). */
  written?(ms: number): void;
}

export interface PlayoutOptions {
  /** The file format for this call (see formats.ts `chooseFormat`). */
  format: FileFormat;
  transport: ChunkTransport;
  control: PlaybackControl;
  /** Resampling of agent audio at a rate other than the file's (one stream per reply). */
  resampling: Resampling;
  /** Largest first file of a reply: it starts playing as soon as it is written. */
  firstChunkMs: number;
  /** Size of later files once FreeSWITCH has `lowWaterMs` queued. */
  chunkMs: number;
  /** With less than this queued ahead, whatever whole frames are buffered are sent at once. */
  lowWaterMs: number;
  /** Never queue more than this ahead of what has played: queued files keep playing if we die. */
  maxAheadMs: number;
  /** Time from a command to the start of its audio when FreeSWITCH was idle (measured 21–40 ms). */
  startLatencyMs?: number;
  observer?: PlayoutObserver;
  now?: () => number;
  /** How earlier replies arrived (see arrival-pace.ts); default: shared by the process. */
  pace?: PaceMemory;
}

/**
 * Turns a stream of agent audio into a queue of small files that FreeSWITCH plays back to back.
 *
 * Audio is cut at 20 ms multiples (FreeSWITCH pads any other length with silence); the remainder waits for
 * the next chunk and only a reply's last piece is padded. The first file of a reply goes out at once; later
 * ones grow to `chunkMs` while enough is queued, but never more than `maxAheadMs` sits in FreeSWITCH. The
 * queue tracks what FreeSWITCH has started (PLAYBACK_START) and finished (CHANNEL_EXECUTE_COMPLETE) to know
 * how much is ahead, and deletes each file when it is done.
 *
 * Agent audio at another rate than the file's is converted as it arrives, by one converter leased for the
 * reply (see media/resampling.ts). Converting only when chunks are cut was tried: it smooths the CPU, but a
 * converter then stays leased for the whole playback instead of the (several times shorter) arrival, and
 * each one is ~1.6 MB: measured 1.2 MB per call instead of 0.7.
 *
 * Barge-in bumps the reply generation: queued audio is dropped, one `uuid_break all` clears FreeSWITCH, and
 * anything of the old generation still being converted, written or reported late is recognised and ignored.
 */
export class PlayoutQueue {
  readonly format: FileFormat;
  readonly #o: Required<Omit<PlayoutOptions, 'observer' | 'pace'>> & { observer: PlayoutObserver };
  readonly #pace: ArrivalPace;
  readonly #link: EslLink;
  #reply = 0;
  #replyOpen = false;
  /** endReply() was called; the reply closes when the converter's tail comes back. */
  #ending = false;
  /** Audio of the next reply that arrived while the previous one was still closing (END: that reply's end too). */
  #early: Array<[Buffer, number] | typeof END> = [];
  #replyFirstAudioAt = 0;
  #replyCommanded = false;
  #replyStarted = false;
  /** The current reply's file format (the call's, or WAV at the agent's rate when no converter was free). */
  #replyFormat: FileFormat;
  #frame: number;
  /** The reply's resampling stream (its output comes back through #resampled). */
  #stream: ResampleStream | undefined;
  /** Audio handed to the converter whose output has not come back yet (DSP worker), in ms. */
  #inFlightMs = 0;
  #inFlight: number[] = [];
  #srcRate = 0;
  /** Converted audio at the reply's file rate, not yet cut into a chunk. */
  #acc: Int16Array;
  #accLen = 0;
  #pumping = false;
  #reportedIdle = true;
  #seq = 0;
  /** Chunks written or commanded and not yet finished, in play order. */
  #queue: OutgoingChunk[] = [];
  #aheadEndsAt = 0;
  /** Of the current reply: ms played out by finished chunks, and the chunk playing now and since when. */
  #heardMs = 0;
  #playingChunk: OutgoingChunk | undefined;
  #playingSince = 0;
  /** Writes not settled yet (close waits for them). */
  #writes = new Set<Promise<unknown>>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: PlayoutOptions) {
    this.#o = { startLatencyMs: 30, now: () => performance.now(), observer: {}, ...opts };
    this.format = opts.format;
    this.#replyFormat = opts.format;
    this.#frame = opts.format.sampleRate / 50;
    this.#acc = new Int16Array(this.#frame * 50);
    this.#pace = new ArrivalPace(opts.pace ?? processPace);
    this.#link = new EslLink({
      chunks: () => this.#queue,
      play: (path, id) => this.#o.control.play(path, id),
      done: (chunk) => this.#done(chunk, true),
      resumed: () => {
        // Nothing known to be playing (the marker completed: FreeSWITCH is idle): what is queued starts afresh.
        if (!this.#playingChunk) {
          let ms = 0;
          for (const c of this.#queue) ms += c.ms;
          this.#aheadEndsAt = this.#o.now() + this.#o.startLatencyMs + ms;
        }
        this.#flush();
        this.#pump();
      },
    });
  }

  /** Audio not yet cut into files (converted, or still in the converter), in ms. */
  get #bufferedMs(): number {
    return (this.#accLen / this.#frame) * 20 + this.#inFlightMs;
  }

  get idle(): boolean {
    return !this.#replyOpen && this.#accLen === 0 && this.#queue.length === 0;
  }

  /** How much of the current reply the caller has heard (ms), from PLAYBACK_START/_COMPLETE events. */
  get heardMs(): number {
    const current = this.#playingChunk ? Math.min(this.#playingChunk.ms, this.#o.now() - this.#playingSince) : 0;
    return this.#heardMs + current;
  }

  /** Agent audio: 16-bit LE mono PCM at `rate`. */
  push(pcm: Buffer, rate: number): void {
    if (this.#closed || pcm.length < 2) return;
    if (this.#ending) {
      this.#early.push([Buffer.from(pcm), rate]); // the next reply began while this one is still closing
      return;
    }
    if (!this.#replyOpen) this.#openReply(rate);
    const samples = int16View(pcm);
    this.#pace.arrived((samples.length * 1000) / rate, this.#o.now());
    if (this.#stream) {
      const ms = (samples.length * 1000) / this.#srcRate;
      this.#inFlight.push(ms);
      this.#inFlightMs += ms;
      return this.#stream.push(samples); // output comes back through #resampled (at once when inline)
    }
    this.#append(samples);
    this.#pump();
  }

  /** The agent finished producing this reply: send what is left, the last frame padded. */
  endReply(): void {
    if (this.#closed || !this.#replyOpen) return;
    if (!this.#ending) this.#pace.ended();
    if (this.#ending) {
      // The next reply already began arriving and now ends too: replay its end after its audio.
      if (this.#early.length > 0 && this.#early.at(-1) !== END) this.#early.push(END);
      return;
    }
    if (!this.#stream) {
      this.#closeReply();
      return this.#pump();
    }
    this.#ending = true; // the reply closes when the converter's tail comes back
    this.#stream.end();
  }

  /** Barge-in. Synchronous: the break command is on the ESL socket before this returns. */
  interrupt(): void {
    if (this.#closed) return;
    const t0 = this.#o.now();
    const broke = this.#queue.length > 0;
    this.#pace.ended();
    this.#reply++;
    this.#resetReply();
    clearTimeout(this.#timer);
    if (broke) this.#o.control.stopAll();
    for (const c of this.#queue) this.#o.transport.remove(c);
    this.#queue = [];
    this.#link.cleared();
    this.#aheadEndsAt = 0;
    this.#playingChunk = undefined;
    this.#o.observer.interrupted?.(broke, this.#o.now() - t0);
    this.#checkIdle();
  }

  /** PLAYBACK_START for `path`: re-anchor the estimate of how much is queued ahead. */
  started(path: string): void {
    let i = this.#queue.findIndex((c) => c.path === path);
    if (i < 0) return; // an older generation's file, or not ours
    this.#link.named(this.#queue[i]!);
    // FreeSWITCH plays in order: chunks before this one have played (their events fell into an ESL outage).
    if (i > 0) for (const c of this.#queue.slice(0, i)) this.#done(c, true);
    i = 0;
    let ms = 0;
    for (let k = i; k < this.#queue.length; k++) ms += this.#queue[k]!.ms;
    const now = this.#o.now();
    this.#aheadEndsAt = now + ms;
    this.#playingChunk = this.#queue[i];
    this.#playingSince = now;
    if (!this.#replyStarted) {
      this.#replyStarted = true;
      this.#o.observer.firstPlayback?.(now - this.#replyFirstAudioAt);
    }
  }

  /** CHANNEL_EXECUTE_COMPLETE for `path`. */
  finished(path: string, response: string): void {
    const i = this.#queue.findIndex((c) => c.path === path);
    if (i < 0) {
      if (this.#link.markerDone(path)) this.#checkIdle();
      return;
    }
    const chunk = this.#queue[i]!;
    this.#link.named(chunk);
    for (const c of this.#queue.slice(0, i)) this.#done(c, true); // played during an ESL outage
    this.#done(chunk, response === 'FILE PLAYED');
    if (response !== 'FILE PLAYED') this.#o.observer.chunkFailed?.(`FreeSWITCH: ${response}`);
    this.#pump();
    this.#checkIdle();
  }

  /**
   * The ESL connection dropped. FreeSWITCH keeps playing what it has; commands in flight may or may not have
   * reached it. Nothing is dropped: the link finds out after the reconnect (see esl-link.ts).
   */
  forgetCommanded(): void {
    this.#link.failed();
  }

  /** The call ended: drop everything and delete every file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#link.close();
    this.#pace.ended();
    this.#resetReply();
    this.#queue = [];
    // The transport first: it gives up on chunks still being put (StreamAudioTransport: a `::play` that may take
    // up to its 2 s timeout), so the writes settle at once; being closed, it only calls `remove`.
    await this.#o.transport.close();
    await Promise.allSettled([...this.#writes]);
  }

  #openReply(sourceRate: number): void {
    this.#replyOpen = true;
    this.#replyFirstAudioAt = this.#o.now();
    this.#replyCommanded = false;
    // A reply that follows one still playing continues it (same turn of speech); else start counting afresh.
    if (this.#queue.length === 0) {
      this.#replyStarted = false;
      this.#heardMs = 0;
      this.#playingChunk = undefined;
    }
    let format = this.format;
    if (sourceRate !== format.sampleRate) {
      const reply = this.#reply;
      this.#stream = this.#o.resampling.open(sourceRate, format.sampleRate, (samples, last) => this.#resampled(reply, samples, last));
      this.#srcRate = this.#stream ? sourceRate : 0;
      if (!this.#stream) {
        format = { kind: 'wav', sampleRate: sourceRate };
        this.#o.observer.resamplerFallback?.();
      }
    }
    if (format.kind !== this.#replyFormat.kind || format.sampleRate !== this.#replyFormat.sampleRate) {
      // What is left of the previous reply (held back by maxAhead) is in the old format: send it first.
      if (this.#accLen > 0) this.#cut(Math.ceil(this.#accLen / this.#frame) * 20, this.#o.now());
      this.#replyFormat = format;
      this.#frame = format.sampleRate / 50;
    }
  }

  #closeReply(): void {
    this.#replyOpen = false;
    this.#ending = false;
    this.#stream = undefined;
    this.#srcRate = 0;
    this.#inFlight = [];
    this.#inFlightMs = 0;
  }

  #resetReply(): void {
    this.#stream?.drop();
    this.#closeReply();
    this.#early = [];
    this.#accLen = 0;
  }

  /** Converter output for reply `reply` (ignored if a barge-in or the end of the call overtook it). */
  #resampled(reply: number, samples: Int16Array, last: boolean): void {
    if (this.#closed || reply !== this.#reply) return;
    if (!last) this.#inFlightMs -= this.#inFlight.shift() ?? 0;
    this.#append(samples);
    if (last) this.#closeReply();
    this.#pump();
  }

  #append(samples: Int16Array): void {
    if (this.#accLen + samples.length > (MAX_HELD_MS / 20) * this.#frame) {
      this.#o.observer.chunkFailed?.('playout buffer full (audio arrives while FreeSWITCH is unreachable)');
      return;
    }
    if (this.#accLen + samples.length > this.#acc.length) {
      const bigger = new Int16Array(Math.max(this.#acc.length * 2, this.#accLen + samples.length));
      bigger.set(this.#acc.subarray(0, this.#accLen));
      this.#acc = bigger;
    }
    this.#acc.set(samples, this.#accLen);
    this.#accLen += samples.length;
  }

  /** Decide what to send now, and when to look again. */
  #pump(): void {
    if (this.#closed || this.#pumping) return;
    this.#pumping = true;
    try {
      this.#pumpLoop();
    } finally {
      this.#pumping = false;
    }
    if (!this.#replyOpen && this.#early.length > 0) {
      const early = this.#early;
      this.#early = [];
      for (const e of early) {
        if (e === END) this.endReply();
        else this.push(e[0], e[1]);
      }
    }
    this.#checkIdle();
  }

  #pumpLoop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#link.up) return; // nothing is cut while FreeSWITCH's state is unknown: the audio waits in #acc
    for (;;) {
      const frame = this.#frame;
      const buffered = this.#bufferedMs;
      const closing = !this.#replyOpen;
      if (buffered < 20 && !(closing && this.#accLen > 0)) break;
      const now = this.#o.now();
      const ahead = Math.max(0, this.#aheadEndsAt - now);
      const wholeMs = Math.floor(buffered / 20) * 20;
      const availMs = wholeMs > 0 ? wholeMs : 20; // only a reply's padded remainder is under a frame
      const starting = this.#queue.length === 0;
      const last = closing || this.#ending;
      // A reply arriving in real time starts once its lead is here (none for bursts: the first audio goes at once).
      if (starting && !last && buffered < this.#pace.leadMs()) break;
      const guard = this.#pace.guardMs(this.#o.lowWaterMs);
      let take: number;
      if (starting) take = Math.min(availMs, this.#o.firstChunkMs);
      else if (availMs >= this.#o.chunkMs) take = this.#o.chunkMs;
      else if (ahead <= guard || last) take = availMs;
      else return this.#wake(ahead - guard);
      if (!starting && ahead + take > this.#o.maxAheadMs) return this.#wake(ahead + take - this.#o.maxAheadMs);

      const want = (take / 20) * frame;
      if (this.#accLen < want) {
        if (this.#inFlightMs > 0 && this.#accLen < frame) break; // the worker's output is on its way
        if (this.#accLen >= frame) take = Math.floor(this.#accLen / frame) * 20;
        else if (!closing) break;
      }
      this.#cut(take, now);
    }
  }

  #wake(inMs: number): void {
    this.#timer = setTimeout(() => this.#pump(), Math.max(5, Math.ceil(inMs)));
  }

  /** Cut `ms` of converted audio into a chunk, write it and queue its playback command in order. */
  #cut(ms: number, now: number): void {
    const want = (ms / 20) * this.#frame;
    const n = Math.min(want, this.#accLen);
    let samples = this.#acc.subarray(0, n);
    if (n < want) {
      samples = new Int16Array(want); // the reply's last piece, padded with silence
      samples.set(this.#acc.subarray(0, n));
    }
    const format = this.#replyFormat;
    const chunk: OutgoingChunk = { id: randomUUID(), reply: this.#reply, seq: this.#seq++, ms, format, data: encodeChunk(format, samples), state: 'writing' };
    this.#acc.copyWithin(0, n, this.#accLen);
    this.#accLen -= n;
    this.#queue.push(chunk);
    this.#aheadEndsAt = Math.max(this.#aheadEndsAt, now + this.#o.startLatencyMs) + ms;

    const written = this.#o.transport.put(chunk);
    const observer = this.#o.observer;
    const settled = written.then(
      (path) => {
        if (observer.written) observer.written(this.#o.now() - now);
        if (this.#closed || chunk.reply !== this.#reply || !this.#queue.includes(chunk)) return this.#o.transport.remove(chunk); // stale: a barge-in or the end of the call overtook it
        chunk.path = path;
        chunk.state = 'ready';
        this.#flush();
      },
      (err: Error) => this.#drop(chunk, `write failed: ${err.message}`),
    );
    this.#writes.add(settled);
    void settled.finally(() => this.#writes.delete(settled));
  }

  /** Command every chunk whose file is in place, in play order (a chunk still being written holds back the rest). */
  #flush(): void {
    if (this.#closed || !this.#link.up) return;
    for (const chunk of this.#queue) {
      if (chunk.state === 'writing') return;
      if (chunk.state === 'ready') this.#command(chunk);
    }
  }

  #command(chunk: OutgoingChunk): void {
    const path = chunk.path!;
    chunk.state = 'commanded';
    this.#link.commanded(path);
    if (!this.#replyCommanded) {
      this.#replyCommanded = true;
      this.#o.observer.firstCommand?.(this.#o.now() - this.#replyFirstAudioAt);
    }
    this.#o.control.play(path, chunk.id).then(
      () => {
        if (chunk.state === 'commanded') chunk.state = 'accepted';
      },
      (err: Error) => {
        if (this.#closed || !this.#queue.includes(chunk)) return;
        if (refused(err)) return this.#drop(chunk, `playback refused: ${err.message}`);
        // No reply: the ESL link failed with the command in flight. Keep the chunk; the link finds out.
        chunk.state = 'unknown';
        this.#link.failed();
      },
    );
  }

  /** FreeSWITCH is done with `chunk`: forget it and delete its file (`played`: it was heard). */
  #done(chunk: OutgoingChunk, played: boolean): void {
    const i = this.#queue.indexOf(chunk);
    if (i < 0) return;
    this.#queue.splice(i, 1);
    this.#o.transport.remove(chunk);
    if (chunk === this.#playingChunk) this.#playingChunk = undefined;
    if (played) this.#heardMs += chunk.ms;
    this.#checkIdle();
  }

  #drop(chunk: OutgoingChunk, reason: string): void {
    const i = this.#queue.indexOf(chunk);
    if (i >= 0) this.#queue.splice(i, 1);
    this.#o.transport.remove(chunk);
    if (!this.#closed && chunk.reply === this.#reply) this.#o.observer.chunkFailed?.(reason);
    this.#checkIdle();
  }

  /** Report becoming idle once per transition (the pump checks on every pass). */
  #checkIdle(): void {
    const idle = !this.#closed && this.idle;
    if (idle && !this.#reportedIdle) this.#o.observer.idle?.();
    this.#reportedIdle = idle;
  }
}

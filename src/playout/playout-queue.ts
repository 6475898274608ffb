import { int16View } from '../media/pcm.ts';
import type { ResampleStream, Resampling } from '../media/resampling/resampling.ts';
import { ArrivalPace, type PaceMemory } from './arrival-pace.ts';
import { ChunkLedger } from './chunk-ledger.ts';
import { CutPolicy, HOLD, type CutSizes } from './cut-policy.ts';
import type { FileFormat } from './formats.ts';
import { PcmBuffer } from './pcm-buffer.ts';
import type { PlaybackControl, PlayoutObserver } from './playout-ports.ts';
import type { ChunkTransport } from './transport.ts';

export type { PlaybackControl, PlayoutObserver } from './playout-ports.ts';

/** In PlayoutQueue's early buffer: the end of the reply whose audio precedes it. */
const END = Symbol('end of reply');
/**
 * Most audio held before it is cut into files (ms): while FreeSWITCH is unreachable nothing is cut, and a model
 * streaming on would otherwise fill memory.
 */
const MAX_HELD_MS = 120_000;

export interface PlayoutOptions extends CutSizes {
  /** The file format for this call (see formats.ts `chooseFormat`). */
  format: FileFormat;
  transport: ChunkTransport;
  control: PlaybackControl;
  /** Resampling of agent audio at a rate other than the file's (one stream per reply). */
  resampling: Resampling;
  /** Time from a command to the start of its audio when FreeSWITCH was idle (measured: see README). */
  startLatencyMs?: number;
  observer?: PlayoutObserver;
  now?: () => number;
  /** How earlier replies arrived (see arrival-pace.ts): one memory per callbridge instance, shared by its calls. */
  pace: PaceMemory;
}

/**
 * Turns a stream of agent audio into a queue of small files that FreeSWITCH plays back to back.
 *
 * Audio is cut at 20 ms multiples (FreeSWITCH pads any other length with silence); the remainder waits for
 * the next chunk and only a reply's last piece is padded. When to cut and how much is the CutPolicy's call
 * (cut-policy.ts, with the reply's arrival pace); the chunks, from their files' writing to FreeSWITCH's events
 * and their deletion, are the ChunkLedger's (chunk-ledger.ts). This class takes the agent's audio in, reply by
 * reply.
 *
 * Agent audio at another rate than the file's is converted as it arrives, by one converter leased for the
 * reply (see media/resampling/). Converting only when chunks are cut was tried: it smooths the CPU, but a
 * converter then stays leased for the whole playback instead of the (several times shorter) arrival, and
 * converters are large: more memory per call (measured: see README Performance).
 *
 * Barge-in bumps the reply generation: queued audio is dropped, one `uuid_break all` clears FreeSWITCH, and
 * anything of the old generation still being converted, written or reported late is recognised and ignored.
 */
export class PlayoutQueue {
  readonly format: FileFormat;
  readonly #o: Required<Omit<PlayoutOptions, 'observer' | 'pace'>> & { observer: PlayoutObserver };
  readonly #pace: ArrivalPace;
  readonly #policy: CutPolicy;
  /** The chunks cut so far, from their files' writing until FreeSWITCH is done with them. */
  readonly #ledger: ChunkLedger;
  #replyOpen = false;
  /** endReply() was called; the reply closes when the converter's tail comes back. */
  #ending = false;
  /** Audio of the next reply that arrived while the previous one was still closing (END: that reply's end too). */
  #early: Array<[Buffer, number] | typeof END> = [];
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
  readonly #acc: PcmBuffer;
  #pumping = false;
  #reportedIdle = true;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: PlayoutOptions) {
    this.#o = { startLatencyMs: 30, now: () => performance.now(), observer: {}, ...opts };
    this.format = opts.format;
    this.#replyFormat = opts.format;
    this.#frame = opts.format.sampleRate / 50;
    this.#acc = new PcmBuffer(this.#frame * 50);
    this.#pace = new ArrivalPace(opts.pace);
    this.#policy = new CutPolicy(this.#o, this.#pace);
    const { transport, control, observer, startLatencyMs, now } = this.#o;
    this.#ledger = new ChunkLedger(
      { transport, control, observer, startLatencyMs, now },
      { resumed: () => this.#pump(), settled: () => this.#checkIdle() },
    );
  }

  /** Audio not yet cut into files (converted, or still in the converter), in ms. */
  get #bufferedMs(): number {
    return (this.#acc.length / this.#frame) * 20 + this.#inFlightMs;
  }

  get idle(): boolean {
    return !this.#replyOpen && this.#acc.length === 0 && this.#ledger.empty;
  }

  /** How much of the current reply the caller has heard (ms), from PLAYBACK_START/_COMPLETE events. */
  get heardMs(): number {
    return this.#ledger.heardMs;
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
    this.#pace.ended();
    this.#resetReply();
    clearTimeout(this.#timer);
    const broke = this.#ledger.clear();
    this.#o.observer.interrupted?.(broke, this.#o.now() - t0);
    this.#checkIdle();
  }

  /** PLAYBACK_START for `path`: re-anchor the estimate of how much is queued ahead. */
  started(path: string): void {
    this.#ledger.started(path);
  }

  /** CHANNEL_EXECUTE_COMPLETE for `path`. */
  finished(path: string, response: string): void {
    if (!this.#ledger.finished(path, response)) return;
    this.#pump();
    this.#checkIdle();
  }

  /**
   * The ESL connection dropped. FreeSWITCH keeps playing what it has; commands in flight may or may not have
   * reached it. Nothing is dropped: the link finds out after the reconnect (see esl-link.ts).
   */
  forgetCommanded(): void {
    this.#ledger.linkFailed();
  }

  /** The call ended: drop everything and delete every file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#pace.ended();
    this.#resetReply();
    await this.#ledger.close();
  }

  #openReply(sourceRate: number): void {
    this.#replyOpen = true;
    this.#ledger.beginReply(this.#o.now());
    let format = this.format;
    if (sourceRate !== format.sampleRate) {
      const reply = this.#ledger.reply;
      this.#stream = this.#o.resampling.open(sourceRate, format.sampleRate, (samples, last) =>
        this.#resampled(reply, samples, last),
      );
      this.#srcRate = this.#stream ? sourceRate : 0;
      if (!this.#stream) {
        format = { kind: 'wav', sampleRate: sourceRate };
        this.#o.observer.resamplerFallback?.();
      }
    }
    if (format.kind !== this.#replyFormat.kind || format.sampleRate !== this.#replyFormat.sampleRate) {
      // What is left of the previous reply (held back by maxAhead) is in the old format: send it first.
      if (this.#acc.length > 0) this.#cut(Math.ceil(this.#acc.length / this.#frame) * 20, this.#o.now());
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
    this.#acc.clear();
  }

  /** Converter output for reply `reply` (ignored if a barge-in or the end of the call overtook it). */
  #resampled(reply: number, samples: Int16Array, last: boolean): void {
    if (this.#closed || reply !== this.#ledger.reply) return;
    if (!last) this.#inFlightMs -= this.#inFlight.shift() ?? 0;
    this.#append(samples);
    if (last) this.#closeReply();
    this.#pump();
  }

  #append(samples: Int16Array): void {
    if (this.#acc.length + samples.length > (MAX_HELD_MS / 20) * this.#frame) {
      this.#o.observer.chunkFailed?.('playout buffer full (audio arrives while FreeSWITCH is unreachable)');
      return;
    }
    this.#acc.append(samples);
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
    if (!this.#ledger.up) return; // nothing is cut while FreeSWITCH's state is unknown: the audio waits in #acc
    for (;;) {
      const frame = this.#frame;
      const buffered = this.#bufferedMs;
      const closing = !this.#replyOpen;
      if (buffered < 20 && !(closing && this.#acc.length > 0)) break;
      const now = this.#o.now();
      let take = this.#policy.next(buffered, this.#ledger.aheadMs(now), this.#ledger.empty, closing || this.#ending);
      if (take === HOLD) break;
      if (take < 0) return this.#wake(-take);
      const want = (take / 20) * frame;
      // Less converted than the policy counted: the converter's output is on its way (cut the whole frames
      // there are, or wait for one), unless this is the reply's padded end (closing: nothing is in flight any
      // more), which is cut as it is.
      if (this.#acc.length < want && !closing) {
        if (this.#acc.length < frame) break;
        take = Math.floor(this.#acc.length / frame) * 20;
      }
      this.#cut(take, now);
    }
  }

  #wake(inMs: number): void {
    this.#timer = setTimeout(() => this.#pump(), Math.max(5, Math.ceil(inMs)));
  }

  /** Cut `ms` of converted audio into a chunk (the reply's last piece padded with silence) and hand it on. */
  #cut(ms: number, now: number): void {
    const want = (ms / 20) * this.#frame;
    this.#ledger.add(this.#replyFormat, this.#acc.head(want), ms, now); // encodes the file's bytes before #acc moves on
    this.#acc.shift(want);
  }

  /** Report becoming idle once per transition (the pump checks on every pass). */
  #checkIdle(): void {
    const idle = !this.#closed && this.idle;
    if (idle && !this.#reportedIdle) this.#o.observer.idle?.();
    this.#reportedIdle = idle;
  }
}

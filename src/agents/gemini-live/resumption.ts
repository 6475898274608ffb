/**
 * What a Gemini Live call needs to outlive its connections: the client messages the newest resumable handle
 * may not hold yet (ReplayRing), and the policy (ResumptionPolicy): the newest resumable handle, which client
 * messages it covers, and whether switching now would lose anything.
 *
 * Client messages (caller audio, speak-first text) are numbered from 1 across the whole call. The service's
 * `lastConsumedClientMessageIndex` counts the messages of one connection from 0 (the setup frame not
 * included); each connection records the number before its first message (`base`) to translate it.
 */
import type { LiveServerSessionResumptionUpdate } from '@google/genai';
import { FrameLog } from './frame-log.ts';
import { audioMessage } from './live-audio.ts';

/** The slot of a caller frame (its bytes are in the FrameLog): no text message is empty. */
const AUDIO = '';

/**
 * The newest client messages: texts as the JSON that was (or will be) sent, caller audio as the frame's bytes in
 * a FrameLog (no per-frame object for the garbage collector; the message is rebuilt only on a replay).
 * Bounded: when full the oldest is dropped and counted in `overflowed` (it is lost only if a resumption then
 * needs it).
 */
export class ReplayRing {
  /** A text message, or AUDIO: then the frame is at `#at` with `#len` bytes in the log. */
  readonly #slots: (string | undefined)[];
  readonly #at: Float64Array;
  readonly #len: Int32Array;
  readonly #log = new FrameLog();
  #last = 0;
  #count = 0;
  /** Messages pushed out of the ring before a handle covered them. */
  overflowed = 0;

  constructor(capacity: number) {
    const cap = Math.max(1, capacity);
    this.#slots = new Array<string | undefined>(cap).fill(undefined);
    this.#at = new Float64Array(cap);
    this.#len = new Int32Array(cap);
  }

  /** Number of the newest message (0: none yet). */
  get last(): number {
    return this.#last;
  }

  get size(): number {
    return this.#count;
  }

  /** Keep the text message `msg` as the next message; returns its number. */
  push(msg: string): number {
    return this.#add(msg);
  }

  /** Keep a caller frame (copied: the caller may reuse `frame`) as the next message. Hot path: no allocation. */
  pushAudio(frame: Buffer): number {
    const n = this.#add(AUDIO);
    const i = n % this.#slots.length;
    this.#at[i] = this.#log.append(frame);
    this.#len[i] = frame.length;
    if (this.#count === this.#slots.length) this.#release();
    return n;
  }

  #add(msg: string): number {
    const cap = this.#slots.length;
    if (this.#count === cap) this.overflowed++;
    else this.#count++;
    this.#last++;
    this.#slots[this.#last % cap] = msg;
    return this.#last;
  }

  /** Forget messages up to and including number `n` (a handle holds them). */
  trimThrough(n: number): void {
    const cap = this.#slots.length;
    let first = this.#last - this.#count + 1;
    if (this.#count === 0 || first > n) return;
    while (this.#count > 0 && first <= n) {
      this.#slots[first % cap] = undefined;
      first++;
      this.#count--;
    }
    this.#release();
  }

  /** Give the log's slabs back up to the oldest frame still kept (all of them when none is). */
  #release(): void {
    const cap = this.#slots.length;
    for (let i = this.#last - this.#count + 1; i <= this.#last; i++) {
      if (this.#slots[i % cap] === AUDIO) return this.#log.releaseBefore(this.#at[i % cap]!);
    }
    this.#log.releaseAll();
  }

  /**
   * Hand every kept message numbered above `n` to `send`, in order (caller audio as its `realtimeInput`
   * message). `missing`: messages above `n` no longer kept (overflowed); `base`: the number before the first
   * message handed over.
   */
  replayAfter(n: number, send: (msg: string) => void): { replayed: number; missing: number; base: number } {
    const cap = this.#slots.length;
    const first = Math.max(n + 1, this.#last - this.#count + 1);
    for (let i = first; i <= this.#last; i++) {
      const msg = this.#slots[i % cap]!;
      send(msg === AUDIO ? audioMessage(this.#log.view(this.#at[i % cap]!, this.#len[i % cap]!)) : msg);
    }
    return { replayed: this.#last - first + 1, missing: first - (n + 1), base: first - 1 };
  }

  /** The call is over: the log's slabs go back to the pool. */
  clear(): void {
    this.#slots.fill(undefined);
    this.#count = 0;
    this.#log.releaseAll();
  }
}

/** The newest resumable handle, what it covers, and when a switch to a new connection loses nothing. */
export class ResumptionPolicy {
  readonly ring: ReplayRing;
  #handle: string | undefined;
  #covered = 0;
  /** The newest update was resumable: nothing has started since the handle (a reply, a tool call). */
  #fresh = false;
  #base = 0;
  readonly #pendingTools = new Set<string>();
  /** Updates that carried lastConsumedClientMessageIndex (transparent resumption works on this endpoint). */
  indexedUpdates = 0;

  constructor(ringCapacity: number) {
    this.ring = new ReplayRing(ringCapacity);
  }

  get handle(): string | undefined {
    return this.#handle;
  }

  /** The newest message number the handle holds: a resumed connection needs every message after it. */
  get covered(): number {
    return this.#covered;
  }

  /** A new connection starts: its first message will be number `base + 1`. */
  connectionStarted(base: number): void {
    this.#base = base;
  }

  /**
   * A sessionResumptionUpdate. With `lastConsumedClientMessageIndex` the handle holds exactly the messages up
   * to it; without (the Developer API never sends it), it is taken to hold every message sent when it arrived:
   * at most the audio of one network round trip is missing from it. `beforeReplay`: it came on a resumed
   * connection before the messages the previous handle lacked were re-sent.
   */
  update(u: LiveServerSessionResumptionUpdate, beforeReplay = false): void {
    if (!u.resumable || !u.newHandle) {
      this.#fresh = false;
      return;
    }
    this.#handle = u.newHandle;
    if (beforeReplay) {
      // A resumed connection's first handle, before anything was re-sent: it holds what the old handle held.
      this.#fresh = true;
      return;
    }
    const idx = u.lastConsumedClientMessageIndex;
    if (idx !== undefined && idx !== '') {
      this.indexedUpdates++;
      this.#covered = Math.min(this.ring.last, this.#base + 1 + Number(idx));
    } else {
      this.#covered = this.ring.last;
    }
    this.#fresh = true;
    this.ring.trimThrough(this.#covered);
  }

  toolCall(ids: readonly (string | undefined)[]): void {
    for (const id of ids) this.#pendingTools.add(id ?? '');
  }

  toolDone(ids: readonly (string | undefined)[]): void {
    for (const id of ids) this.#pendingTools.delete(id ?? '');
  }

  /** The tool calls the current connection waits for, all of them (see LiveTools.pending). */
  pendingTools(ids: ReadonlySet<string>): void {
    this.#pendingTools.clear();
    for (const id of ids) this.#pendingTools.add(id);
  }

  /** Switching now loses nothing: a handle newer than any reply or tool call, and none of them in progress. */
  safeToSwitch(replying: boolean): boolean {
    return this.#handle !== undefined && this.#fresh && !replying && this.#pendingTools.size === 0;
  }
}

/** A protobuf Duration as JSON ("10s", "0.5s") in ms; undefined when unreadable. */
export function durationMs(d: string | undefined): number | undefined {
  if (d === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(d.trim());
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

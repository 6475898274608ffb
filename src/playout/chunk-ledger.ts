import { randomUUID } from 'node:crypto';
import { EslLink, refused } from './esl-link.ts';
import { encodeChunk, type FileFormat } from './formats.ts';
import type { PlaybackControl, PlayoutObserver } from './playout-ports.ts';
import type { ChunkTransport, OutgoingChunk } from './transport.ts';

/** What the ledger tells the queue that owns it. */
export interface LedgerHost {
  /** Commands flow again after an ESL drop: audio held back meanwhile may be cut now. */
  resumed(): void;
  /** A chunk left the ledger (played, refused, dropped): the queue may have become idle. */
  settled(): void;
}

export interface LedgerOptions {
  transport: ChunkTransport;
  control: PlaybackControl;
  observer: PlayoutObserver;
  /** Time from a command to the start of its audio when FreeSWITCH was idle. */
  startLatencyMs: number;
  now: () => number;
}

/**
 * The chunks of a call from the moment they are cut until FreeSWITCH is done with them, in play order: their
 * files are written through the transport, commanded in order once in place (a chunk still being written holds
 * back the ones behind it), acknowledged, started (PLAYBACK_START) and finished (CHANNEL_EXECUTE_COMPLETE), then
 * deleted. From those events it keeps the estimate of how much FreeSWITCH has queued ahead and how much of
 * the current reply the caller has heard. ESL drops are the EslLink's business (see esl-link.ts).
 *
 * Chunks carry their reply generation: a barge-in (`clear`) starts a new one, and a chunk of an older generation
 * whose write or command completes late is recognised and thrown away.
 */
export class ChunkLedger {
  readonly #o: LedgerOptions;
  readonly #host: LedgerHost;
  readonly #link: EslLink;
  #reply = 0;
  #seq = 0;
  /** Chunks written or commanded and not yet finished, in play order. */
  #chunks: OutgoingChunk[] = [];
  #aheadEndsAt = 0;
  /** Of the current reply: ms played out by finished chunks, and the chunk playing now and since when. */
  #heardMs = 0;
  #playing: OutgoingChunk | undefined;
  #playingSince = 0;
  /** Of the current reply: its first audio's arrival, and whether its first command and start were reported. */
  #firstAudioAt = 0;
  #commanded = false;
  #started = false;
  /** Writes not settled yet (close waits for them). */
  #writes = new Set<Promise<unknown>>();
  #closed = false;

  constructor(opts: LedgerOptions, host: LedgerHost) {
    this.#o = opts;
    this.#host = host;
    this.#link = new EslLink({
      chunks: () => this.#chunks,
      play: (path, id) => this.#o.control.play(path, id),
      done: (chunk) => this.#done(chunk, true),
      resumed: () => {
        // Nothing known to be playing (the marker completed: FreeSWITCH is idle): what is queued starts afresh.
        if (!this.#playing) {
          let ms = 0;
          for (const c of this.#chunks) ms += c.ms;
          this.#aheadEndsAt = this.#o.now() + this.#o.startLatencyMs + ms;
        }
        this.#flush();
        this.#host.resumed();
      },
    });
  }

  /** The reply generation chunks are cut for now. */
  get reply(): number {
    return this.#reply;
  }

  /** No chunk is being written, queued in FreeSWITCH or playing. */
  get empty(): boolean {
    return this.#chunks.length === 0;
  }

  /** Commands may be sent (FreeSWITCH's state is known). */
  get up(): boolean {
    return this.#link.up;
  }

  /** Audio FreeSWITCH has queued ahead of what is playing at `now` (ms, estimated). */
  aheadMs(now: number): number {
    return Math.max(0, this.#aheadEndsAt - now);
  }

  /** How much of the current reply the caller has heard (ms). */
  get heardMs(): number {
    const current = this.#playing ? Math.min(this.#playing.ms, this.#o.now() - this.#playingSince) : 0;
    return this.#heardMs + current;
  }

  /** A reply's first audio arrived at `now`. One that follows a reply still playing continues it (same turn). */
  beginReply(now: number): void {
    this.#firstAudioAt = now;
    this.#commanded = false;
    if (this.#chunks.length === 0) {
      this.#started = false;
      this.#heardMs = 0;
      this.#playing = undefined;
    }
  }

  /** Make a chunk of `samples` (`ms` of audio, encoded now), write its file and command it in order. */
  add(format: FileFormat, samples: Int16Array, ms: number, now: number): void {
    const chunk: OutgoingChunk = {
      id: randomUUID(),
      reply: this.#reply,
      seq: this.#seq++,
      ms,
      format,
      data: encodeChunk(format, samples),
      state: 'writing',
    };
    this.#chunks.push(chunk);
    this.#aheadEndsAt = Math.max(this.#aheadEndsAt, now + this.#o.startLatencyMs) + ms;

    const transport = this.#o.transport;
    const observer = this.#o.observer;
    const settled = transport.put(chunk).then(
      (path) => {
        if (observer.written) observer.written(this.#o.now() - now);
        if (this.#closed || chunk.reply !== this.#reply || !this.#chunks.includes(chunk))
          return transport.remove(chunk); // stale: a barge-in or the end of the call overtook it
        chunk.path = path;
        chunk.state = 'ready';
        this.#flush();
      },
      (err: Error) => this.#drop(chunk, `write failed: ${err.message}`),
    );
    this.#writes.add(settled);
    void settled.finally(() => this.#writes.delete(settled));
  }

  /** PLAYBACK_START for `path`: re-anchor the estimate of how much is queued ahead. */
  started(path: string): void {
    const i = this.#chunks.findIndex((c) => c.path === path);
    if (i < 0) return; // an older generation's file, or not ours
    this.#link.named(this.#chunks[i]!);
    // FreeSWITCH plays in order: chunks before this one have played (their events fell into an ESL outage).
    if (i > 0) for (const c of this.#chunks.slice(0, i)) this.#done(c, true);
    let ms = 0;
    for (const c of this.#chunks) ms += c.ms;
    const now = this.#o.now();
    this.#aheadEndsAt = now + ms;
    this.#playing = this.#chunks[0];
    this.#playingSince = now;
    if (!this.#started) {
      this.#started = true;
      this.#o.observer.firstPlayback?.(now - this.#firstAudioAt);
    }
  }

  /**
   * CHANNEL_EXECUTE_COMPLETE for `path`. True if it finished one of the chunks (the queue may cut more);
   * false for anything else (the resync marker is handled here).
   */
  finished(path: string, response: string): boolean {
    const i = this.#chunks.findIndex((c) => c.path === path);
    if (i < 0) {
      if (this.#link.markerDone(path)) this.#host.settled();
      return false;
    }
    const chunk = this.#chunks[i]!;
    this.#link.named(chunk);
    for (const c of this.#chunks.slice(0, i)) this.#done(c, true); // played during an ESL outage
    this.#done(chunk, response === 'FILE PLAYED');
    if (response !== 'FILE PLAYED') this.#o.observer.chunkFailed?.(`FreeSWITCH: ${response}`);
    return true;
  }

  /** The ESL connection dropped: nothing is dropped, the link finds out what FreeSWITCH has (esl-link.ts). */
  linkFailed(): void {
    this.#link.failed();
  }

  /**
   * Barge-in: a new reply generation; one `uuid_break all` if FreeSWITCH has anything, every chunk forgotten and
   * its file deleted. Says whether a break was sent.
   */
  clear(): boolean {
    const broke = this.#chunks.length > 0;
    this.#reply++;
    if (broke) this.#o.control.stopAll();
    for (const c of this.#chunks) this.#o.transport.remove(c);
    this.#chunks = [];
    this.#link.cleared();
    this.#aheadEndsAt = 0;
    this.#playing = undefined;
    return broke;
  }

  /** The call ended: forget every chunk, delete every file, and wait for the writes still in progress. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#link.close();
    this.#chunks = [];
    // The transport first: it gives up on chunks still being put (StreamAudioTransport: a `::play` that may take
    // up to its timeout), so the writes settle at once; being closed, it only calls `remove`.
    await this.#o.transport.close();
    await Promise.allSettled([...this.#writes]);
  }

  /** Command every chunk whose file is in place, in play order (a chunk still being written holds back the rest). */
  #flush(): void {
    if (this.#closed || !this.#link.up) return;
    for (const chunk of this.#chunks) {
      if (chunk.state === 'writing') return;
      if (chunk.state === 'ready') this.#command(chunk);
    }
  }

  #command(chunk: OutgoingChunk): void {
    const path = chunk.path!;
    chunk.state = 'commanded';
    this.#link.commanded(path);
    if (!this.#commanded) {
      this.#commanded = true;
      this.#o.observer.firstCommand?.(this.#o.now() - this.#firstAudioAt);
    }
    this.#o.control.play(path, chunk.id).then(
      () => {
        if (chunk.state === 'commanded') chunk.state = 'accepted';
      },
      (err: Error) => {
        if (this.#closed || !this.#chunks.includes(chunk)) return;
        if (refused(err)) return this.#drop(chunk, `playback refused: ${err.message}`);
        // No reply: the ESL link failed with the command in flight. Keep the chunk; the link finds out.
        chunk.state = 'unknown';
        this.#link.failed();
      },
    );
  }

  /** FreeSWITCH is done with `chunk`: forget it and delete its file (`played`: it was heard). */
  #done(chunk: OutgoingChunk, played: boolean): void {
    const i = this.#chunks.indexOf(chunk);
    if (i < 0) return;
    this.#chunks.splice(i, 1);
    this.#o.transport.remove(chunk);
    if (chunk === this.#playing) this.#playing = undefined;
    if (played) this.#heardMs += chunk.ms;
    this.#host.settled();
  }

  #drop(chunk: OutgoingChunk, reason: string): void {
    const i = this.#chunks.indexOf(chunk);
    if (i >= 0) this.#chunks.splice(i, 1);
    this.#o.transport.remove(chunk);
    if (!this.#closed && chunk.reply === this.#reply) this.#o.observer.chunkFailed?.(reason);
    this.#host.settled();
  }
}

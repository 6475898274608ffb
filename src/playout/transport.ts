import { statfsSync, unlink as unlinkCb, unlinkSync, writeFile as writeFileCb, writeFileSync } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { streamAudioType, type FileFormat } from './formats.ts';

/** One piece of a reply on its way to FreeSWITCH. */
export interface OutgoingChunk {
  /** Also the `event-uuid` of its playback command. */
  readonly id: string;
  /** Reply generation: a barge-in starts a new one and everything older is stale. */
  readonly reply: number;
  readonly seq: number;
  readonly ms: number;
  /**
   * The file's bytes, until the transport has put them in place (then dropped: a chunk lives ~1 s until it
   * has played, long enough to be promoted to the old generation, and thousands of them a second made major GCs).
   */
  data: Buffer | undefined;
  /** Format of `data` (usually the call's; WAV at the agent's rate when no resampler was free). */
  readonly format: FileFormat;
  /** The path FreeSWITCH plays, once the transport has put the file in place. */
  path?: string;
  /**
   * `writing` → `ready` (file in place, not commanded yet) → `commanded` (playback command sent) → `accepted`
   * (its +OK arrived, or an event named it: FreeSWITCH has it). `unknown`: the ESL connection failed while its
   * command was in flight; the EslLink finds out after the reconnect (see esl-link.ts).
   */
  state: 'writing' | 'ready' | 'commanded' | 'accepted' | 'unknown';
}

/** Gets a chunk's bytes into a file FreeSWITCH can open, and removes it again. */
export interface ChunkTransport {
  /** Resolves with the path FreeSWITCH should play once the file is completely written. */
  put(chunk: OutgoingChunk): Promise<string>;
  /** The chunk is done with (played, dropped by a break, or the call ended). Never throws. */
  remove(chunk: OutgoingChunk): void;
  /** Remove everything this call still has. */
  close(): Promise<void>;
}

// The callback API costs less CPU per file than fs/promises (no FileHandle objects). Files are per chunk,
// not per frame, but a busy box writes hundreds a second.
const writeFile = promisify(writeFileCb);
const DONE: Promise<void> = Promise.resolve();
const unlinkFile = promisify(unlinkCb);

/** statfs magic of tmpfs (linux/magic.h). */
const TMPFS_MAGIC = 0x01021994;

const CHUNK_FILE = /^[0-9a-f-]{36}-\d+-\d+\.(r8|r16|wav|PCMU|PCMA)$/;

/**
 * callbridge writes each chunk into a directory FreeSWITCH also sees (a compose volume). Saves the base64
 * hop through mod_audio_stream and its ::play round trip, and lets callbridge delete every file
 * as soon as it has played.
 */
export class SharedDirTransport implements ChunkTransport {
  readonly #localDir: string;
  readonly #fsDir: string;
  readonly #prefix: string;
  readonly #sync: boolean;
  /** Files on disk or being written: name → write promise. */
  #files = new Map<string, Promise<void>>();

  /**
   * `sync`: the directory is tmpfs (see `prepare`). Writing there is a memory copy, cheaper done at once than
   * fs.writeFile's three threadpool round trips with an event-loop turn between each, which delayed replies'
   * first commands under load (measured: see README "How playback works").
   * Chunks are written a few times a second per speaking call, never per frame. Anywhere else: async.
   */
  constructor(opts: { localDir: string; freeswitchDir: string; callUuid: string; sync?: boolean }) {
    this.#localDir = opts.localDir;
    this.#fsDir = opts.freeswitchDir;
    this.#prefix = opts.callUuid;
    this.#sync = opts.sync ?? false;
  }

  #name(chunk: OutgoingChunk): string {
    return `${this.#prefix}-${chunk.reply}-${chunk.seq}.${chunk.format.kind}`;
  }

  async put(chunk: OutgoingChunk): Promise<string> {
    const name = this.#name(chunk);
    const data = chunk.data!;
    chunk.data = undefined;
    if (this.#sync) {
      writeFileSync(join(this.#localDir, name), data);
      this.#files.set(name, DONE);
      return join(this.#fsDir, name);
    }
    const written = writeFile(join(this.#localDir, name), data);
    this.#files.set(
      name,
      written.catch(() => {}),
    );
    await written;
    return join(this.#fsDir, name);
  }

  remove(chunk: OutgoingChunk): void {
    const name = this.#name(chunk);
    const written = this.#files.get(name);
    if (!written) return;
    this.#files.delete(name);
    if (written === DONE && this.#sync) {
      try {
        unlinkSync(join(this.#localDir, name));
      } catch {
        /* already gone */
      }
      return;
    }
    void written.then(() => unlinkFile(join(this.#localDir, name))).catch(() => {});
  }

  async close(): Promise<void> {
    const names = [...this.#files.keys()];
    const writes = [...this.#files.values()];
    this.#files.clear();
    await Promise.all(writes);
    await Promise.all(names.map((n) => unlinkFile(join(this.#localDir, n)).catch(() => {})));
  }

  /**
   * Create the directory and delete chunk files a previous run left behind (a crash, a kill -9). Says
   * whether it is tmpfs (then chunks are written synchronously, see the constructor).
   */
  static async prepare(dir: string): Promise<{ removed: number; tmpfs: boolean }> {
    await mkdir(dir, { recursive: true });
    const stale = (await readdir(dir)).filter((f) => CHUNK_FILE.test(f));
    await Promise.all(stale.map((f) => unlink(join(dir, f)).catch(() => {})));
    let tmpfs = false;
    try {
      tmpfs = Number(statfsSync(dir).type) === TMPFS_MAGIC;
    } catch {
      /* not Linux: stay async */
    }
    return { removed: stale.length, tmpfs };
  }
}

/**
 * FreeSWITCH writes the file itself from a `streamAudio` message on the media socket (works when
 * FreeSWITCH runs on another host). mod_audio_stream answers with a `::play` event naming the file; it
 * deletes its files when the stream stops or the call ends, not before.
 */
export class StreamAudioTransport implements ChunkTransport {
  readonly #send: (text: string) => boolean;
  readonly #timeoutMs: number;
  #waiting = new Map<string, { resolve(path: string): void; reject(err: Error): void; timer: NodeJS.Timeout }>();

  constructor(opts: { send: (text: string) => boolean; timeoutMs?: number }) {
    this.#send = opts.send;
    this.#timeoutMs = opts.timeoutMs ?? 2000;
  }

  put(chunk: OutgoingChunk): Promise<string> {
    return new Promise((resolve, reject) => {
      const { audioDataType, sampleRate } = streamAudioType(chunk.format);
      const text = `{"type":"streamAudio","data":{"audioDataType":"${audioDataType}","sampleRate":${sampleRate},"chunk":"${chunk.id}","audioData":"${chunk.data!.toString('base64')}"}}`;
      chunk.data = undefined;
      if (!this.#send(text)) return reject(new Error('media socket is not open'));
      const timer = setTimeout(() => {
        this.#waiting.delete(chunk.id);
        reject(new Error(`no mod_audio_stream::play for chunk within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#waiting.set(chunk.id, { resolve, reject, timer });
    });
  }

  /** Called by the session for every `mod_audio_stream::play` event of this call. */
  played(data: Record<string, unknown>, file: string): void {
    const id = typeof data.chunk === 'string' ? data.chunk : '';
    const w = this.#waiting.get(id);
    if (!w) return;
    this.#waiting.delete(id);
    clearTimeout(w.timer);
    w.resolve(file);
  }

  remove(): void {
    // The module owns these files and deletes them at stop/hangup.
  }

  async close(): Promise<void> {
    for (const w of this.#waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error('call ended'));
    }
    this.#waiting.clear();
  }
}

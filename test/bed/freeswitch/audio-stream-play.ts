/**
 * What mod_audio_stream does with the server's `streamAudio` messages: the audio goes to a temp file in the
 * emulator's temp dir, and `mod_audio_stream::play` names it a little later. The files live until the stream
 * stops (captures: reference/captured, stream/modes/json/play).
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TimerSet } from './async-tools.ts';
import { isObject } from './audio-stream-types.ts';

/** The part of the stream's host (StreamHost) the play path uses. */
export interface StreamPlayHost {
  readonly uuid: string;
  readonly tmpDir: string;
  readonly timers: TimerSet;
  readonly playDelayMs: number;
  fireCustom(subclass: string, body: string): void;
}

const RAW_EXTENSIONS: Record<number, string> = {
  8000: 'r8',
  16000: 'r16',
  24000: 'r24',
  32000: 'r32',
  48000: 'r48',
  64000: 'r64',
};
const TYPE_EXTENSIONS: Record<string, string> = { wav: 'wav', mp3: 'mp3', ogg: 'ogg', pcmu: 'pcmu', pcma: 'pcma' };

export class StreamPlays {
  /** Temp files written, oldest first. */
  readonly files: string[] = [];
  /** Per accepted `streamAudio` message: when it arrived and the modelled delay before its `::play` event. */
  readonly plays: { receivedAt: number; delayMs: number }[] = [];
  readonly #host: StreamPlayHost;
  #fileCount = 0;
  #playTimers = new Set<NodeJS.Timeout>();

  constructor(host: StreamPlayHost) {
    this.#host = host;
  }

  /** A valid `streamAudio` message: writes the file, fires `::play` a little later; returns false otherwise. */
  accept(text: string): boolean {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return false;
    }
    if (!isObject(msg) || msg['type'] !== 'streamAudio' || !isObject(msg['data'])) return false;
    const { audioData, ...rest } = msg['data'];
    if (typeof audioData !== 'string') return false;
    const type = rest['audioDataType'];
    const ext =
      type === 'raw'
        ? typeof rest['sampleRate'] === 'number'
          ? RAW_EXTENSIONS[rest['sampleRate']]
          : undefined
        : typeof type === 'string'
          ? TYPE_EXTENSIONS[type]
          : undefined;
    if (!ext) return false;
    const file = join(this.#host.tmpDir, `${this.#host.uuid}_${this.#fileCount++}.tmp.${ext}`);
    writeFileSync(file, Buffer.from(audioData, 'base64'));
    this.files.push(file);
    const body = JSON.stringify({ ...rest, file });
    this.plays.push({ receivedAt: performance.now(), delayMs: this.#host.playDelayMs });
    const t = this.#host.timers.after(this.#host.playDelayMs, () => {
      this.#playTimers.delete(t);
      this.#host.fireCustom('mod_audio_stream::play', body);
    });
    this.#playTimers.add(t);
    return true;
  }

  /** The stream ended: no `::play` fires any more and the temp files are deleted. */
  clear(): void {
    for (const t of this.#playTimers) this.#host.timers.cancel(t);
    this.#playTimers.clear();
    for (const f of this.files) {
      try {
        unlinkSync(f);
      } catch {
        // already gone
      }
    }
  }
}

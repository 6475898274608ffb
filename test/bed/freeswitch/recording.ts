/**
 * `uuid_record` on an emulated channel, as captured in captured/record (README "Recording"): `start <path>` →
 * `+OK Success`, RECORD_START then MEDIA_BUG_START (Media-Bug-Function session_record, Media-Bug-Target the
 * path); `stop <path>|all` → RECORD_STOP (Record-File-Path, Record-Completion-Cause, record_samples/_seconds/_ms
 * set on the channel first) then MEDIA_BUG_STOP; a hangup stops every recording after the park completes. A
 * directory that cannot be created → `-ERR Cannot record session!` and no event.
 *
 * The file is a real WAV at the call's codec rate, 16-bit: with RECORD_STEREO=true, left = what the caller sent
 * (the Microphone frames), right = what FreeSWITCH played to the caller (the Timeline); otherwise both mixed.
 * Alignment follows RECORD_PRE_BUFFER_FRAMES (unset = 25 frames): as captured, the right channel then starts
 * with what was played 500 ms after RECORD_START while the left one starts at RECORD_START, and the file is
 * 500 ms shorter than the recording lasted (the caller lags the played audio by the pre-buffer); with 0 both
 * channels are aligned. Not captured, modelled: the completion cause of `stop` is always `success-maxtime`
 * and of a hangup `success-silence` (the values seen), and the header order within the events.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodeWav } from '../wav.ts';
import { resample } from './audio-files.ts';
import type { Header } from './event-templates.ts';
import type { HeardSegment } from './timeline.ts';

export interface RecordingHost {
  fire(name: string, parts: { pre?: Header[]; post?: Header[]; calling?: [string, string, string] }): void;
  setVar(name: string, value: string | undefined): void;
  variable(name: string): string | undefined;
  /** The call's codec rate: the file's rate. */
  rate(): number;
  /** What was played to the caller: the Timeline's segments and their 8 kHz audio. */
  played(): readonly HeardSegment[];
  slice8k(segment: HeardSegment, fromMs: number, ms: number): Int16Array;
}

const DEFAULT_PRE_BUFFER_FRAMES = 25; // switch_ivr_async.c:3325
export const RECORD_USAGE = '-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n';

interface Active {
  path: string;
  stereo: boolean;
  preBufferFrames: number;
  /** performance.now() at the start: the right channel is cut from the Timeline from here. */
  startedAt: number;
  left: Int16Array[];
}

export class ChannelRecordings {
  readonly #host: RecordingHost;
  readonly #active: Active[] = [];
  /** Paths of finished recordings, in order (tests read the files). */
  readonly done: string[] = [];

  constructor(host: RecordingHost) {
    this.#host = host;
  }

  get recording(): boolean {
    return this.#active.length > 0;
  }

  /** `uuid_record <uuid> start <path>`: the reply body. */
  start(path: string): string {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch {
      return '-ERR Cannot record session!\n';
    }
    const frames = Number(this.#host.variable('RECORD_PRE_BUFFER_FRAMES'));
    this.#active.push({
      path,
      stereo: this.#host.variable('RECORD_STEREO') === 'true',
      preBufferFrames: Number.isInteger(frames) && frames >= 0 ? frames : DEFAULT_PRE_BUFFER_FRAMES,
      startedAt: performance.now(),
      left: [],
    });
    this.#host.fire('RECORD_START', {
      post: [['Record-File-Path', path]],
      calling: ['switch_ivr_async.c', 'record_callback', '1481'],
    });
    this.#host.fire('MEDIA_BUG_START', {
      pre: bug(path),
      calling: ['switch_core_media_bug.c', 'switch_core_media_bug_add', '1014'],
    });
    return '+OK Success\n';
  }

  /** `uuid_record <uuid> stop <path|all>`: the reply body. */
  stop(path: string): string {
    const which = this.#active.filter((a) => path === 'all' || a.path === path);
    if (!which.length) return path === 'all' ? '+OK Success\n' : '-ERR Cannot stop record session!\n';
    for (const a of which) this.#finish(a, 'success-maxtime');
    return '+OK Success\n';
  }

  /** The hangup: every recording ends. */
  hangup(): void {
    for (const a of [...this.#active]) this.#finish(a, 'success-silence');
  }

  /** One 20 ms media frame of what the caller sent. */
  frame(read: Int16Array): void {
    for (const a of this.#active) a.left.push(read);
  }

  /** What was played from `fromAt` (performance.now()) for `samples` at 8 kHz, exact to the Timeline's sample. */
  #played(fromAt: number, samples: number): Int16Array {
    const out = new Int16Array(samples);
    const toAt = fromAt + samples / 8;
    for (const seg of this.#host.played()) {
      const from = Math.max(seg.startedAt, fromAt);
      const to = Math.min(seg.endedAt, toAt);
      if (to <= from) continue;
      const audio = this.#host.slice8k(seg, from - seg.startedAt, to - from);
      const offset = Math.round((from - fromAt) * 8);
      out.set(audio.subarray(0, Math.max(0, samples - offset)), offset);
    }
    return out;
  }

  #finish(a: Active, cause: string): void {
    this.#active.splice(this.#active.indexOf(a), 1);
    const lag = Math.min(a.preBufferFrames, a.left.length);
    const left = join(a.left.slice(0, a.left.length - lag));
    const rate = this.#host.rate();
    const played8k = this.#played(a.startedAt + lag * 20, Math.round((left.length * 8000) / rate));
    const right = rate === 8000 ? played8k : resample(played8k, 8000, rate);
    const channels = a.stereo ? [left, right] : [mix(left, right)];
    writeFileSync(a.path, encodeWav(channels, rate));
    this.done.push(a.path);
    const ms = Math.round((left.length * 1000) / rate);
    this.#host.setVar('record_samples', String(left.length));
    this.#host.setVar('record_seconds', String(Math.floor(ms / 1000)));
    this.#host.setVar('record_ms', String(ms));
    this.#host.fire('RECORD_STOP', {
      post: [
        ['Record-File-Path', a.path],
        ['Record-Completion-Cause', cause],
      ],
      calling: ['switch_ivr_async.c', 'send_record_stop_event', '1240'],
    });
    this.#host.fire('MEDIA_BUG_STOP', {
      pre: bug(a.path),
      calling: ['switch_core_media_bug.c', 'switch_core_media_bug_destroy', '84'],
    });
  }
}

const bug = (path: string): Header[] => [
  ['Media-Bug-Function', 'session_record'],
  ['Media-Bug-Target', path],
];

function join(frames: Int16Array[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

function mix(a: Int16Array, b: Int16Array): Int16Array {
  const out = new Int16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.max(-32768, Math.min(32767, a[i]! + (b[i] ?? 0)));
  return out;
}

/**
 * What the caller heard: one segment per played file, with times on one logical clock (performance.now()
 * ms). Consecutive gapless files share the exact boundary time, so a 0 ms gap is exactly 0.
 */
import { resample } from './audio-files.ts';

export interface HeardSegment {
  path: string;
  /** Application-UUID of the playback (the sendmsg event-uuid, or a generated one). */
  appUuid: string;
  via: 'sendmsg' | 'broadcast';
  /** When its command (sendmsg / uuid_broadcast) arrived: the modelled start delays count from here. */
  queuedAt: number;
  /** When the `uuid_break` that stopped it arrived (the modelled stop is `breakDelayMs` later). */
  breakAt?: number;
  startedAt: number;
  /** When it stopped; while playing, when it will end if not interrupted. */
  endedAt: number;
  /** File duration padded to whole 20 ms frames (FreeSWITCH pads the last frame with silence). */
  plannedMs: number;
  playedMs: number;
  /** Silence FreeSWITCH appended to complete the last frame. */
  paddingMs: number;
  status: 'playing' | 'done' | 'break' | 'hangup';
  /** Sample rate of the file. */
  sampleRate: number;
  noise?: boolean;
  mismatch?: boolean;
}

interface Played {
  segment: HeardSegment;
  /** The whole file (with frame padding) at 8 kHz. */
  audio8k: Int16Array;
}

export class Timeline {
  readonly segments: HeardSegment[] = [];
  #played: Played[] = [];
  readonly #keepAudio: boolean;

  /** `keepAudio` false: only the segments are recorded (pcm() then gives silence), for long benchmarks. */
  constructor(keepAudio = true) {
    this.#keepAudio = keepAudio;
  }

  begin(segment: HeardSegment, pcm: Int16Array, sampleRate: number): HeardSegment {
    const padded = new Int16Array(this.#keepAudio ? Math.round(segment.plannedMs * 8) : 0);
    if (this.#keepAudio) padded.set(resample(pcm, sampleRate, 8000).subarray(0, padded.length));
    this.segments.push(segment);
    this.#played.push({ segment, audio8k: padded });
    return segment;
  }

  finish(segment: HeardSegment, endedAt: number, status: HeardSegment['status']): void {
    const plannedEnd = segment.startedAt + segment.plannedMs;
    segment.endedAt = Math.min(endedAt, plannedEnd);
    // Exact for files played to the end (floating-point (a + b) - a is not always b).
    segment.playedMs = segment.endedAt === plannedEnd ? segment.plannedMs : segment.endedAt - segment.startedAt;
    segment.status = status;
  }

  /** `ms` of a segment's audio from `fromMs` into it, 8 kHz (what plays during one frame). */
  slice8k(segment: HeardSegment, fromMs: number, ms: number): Int16Array {
    const played = this.#played.find((p) => p.segment === segment);
    if (!played) return new Int16Array(0);
    const start = Math.max(0, Math.round(fromMs * 8));
    return played.audio8k.subarray(start, start + Math.round(ms * 8));
  }

  /** Milliseconds of audio heard so far (the current file counts up to now). */
  heardMs(now = performance.now()): number {
    let total = 0;
    for (const s of this.segments)
      total += s.status === 'playing' ? Math.max(0, Math.min(now, s.endedAt) - s.startedAt) : s.playedMs;
    return total;
  }

  /** Gaps (ms) between consecutive segments `from..to` (indexes into `segments`). */
  gaps(from = 0, to = this.segments.length - 1): number[] {
    const out: number[] = [];
    for (let i = Math.max(from, 0); i < Math.min(to, this.segments.length - 1); i++) {
      out.push(this.segments[i + 1]!.startedAt - this.segments[i]!.endedAt);
    }
    return out;
  }

  /**
   * The caller's audio as 8 kHz PCM from the start of the first segment to the end of the last one, with real
   * silence for the gaps in between (frame padding included, it is silence FreeSWITCH sent).
   */
  pcm(from = 0, to = this.segments.length - 1): Int16Array {
    const parts = this.#played.slice(from, to + 1);
    if (!parts.length) return new Int16Array(0);
    const start = parts[0]!.segment.startedAt;
    const end = parts[parts.length - 1]!.segment.endedAt;
    const out = new Int16Array(Math.round((end - start) * 8));
    for (const { segment, audio8k } of parts) {
      const offset = Math.round((segment.startedAt - start) * 8);
      const length = Math.min(
        Math.round((segment.endedAt - segment.startedAt) * 8),
        audio8k.length,
        out.length - offset,
      );
      if (length > 0) out.set(audio8k.subarray(0, length), offset);
    }
    return out;
  }
}

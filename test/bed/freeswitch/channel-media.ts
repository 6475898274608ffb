/**
 * A channel's media path once media is up: on every media clock tick, 20 ms of the caller's microphone go to
 * the attached mod_audio_stream bug (with what the caller hears, for mixed and stereo streams) and to the
 * running recordings. Also the bugs themselves: `uuid_audio_stream` start/stop/send_text/pause.
 */
import type { TimerSet } from './async-tools.ts';
import { resample } from './audio-files.ts';
import { AudioStream, STREAM_VAR_NAMES, type StreamHost, type StreamStart, type StreamVars } from './audio-stream.ts';
import type { ChannelEvents } from './channel-events.ts';
import type { ChannelHost } from './channel-types.ts';
import type { Header } from './event-templates.ts';
import type { FrameListener } from './media-clock.ts';
import { Microphone } from './microphone.ts';
import type { PlaybackQueue } from './playback.ts';
import type { ChannelRecordings } from './recording.ts';
import type { Timeline } from './timeline.ts';

const MEDIA_BUG: Header[] = [
  ['Media-Bug-Function', 'audio_stream'],
  ['Media-Bug-Target', 'N/A'],
];

export interface MediaParts {
  host: ChannelHost;
  uuid: string;
  /** The call's codec rate: frames go to recordings at this rate. */
  codecRate: number;
  events: ChannelEvents;
  timers: TimerSet;
  playback: PlaybackQueue;
  timeline: Timeline;
  recordings: ChannelRecordings;
}

export class ChannelMedia implements FrameListener {
  /** Each `uuid_audio_stream start` that attached a bug, oldest first. */
  readonly streams: AudioStream[] = [];
  readonly #host: ChannelHost;
  readonly #uuid: string;
  readonly #codecRate: number;
  readonly #events: ChannelEvents;
  readonly #timers: TimerSet;
  readonly #playback: PlaybackQueue;
  readonly #timeline: Timeline;
  readonly #recordings: ChannelRecordings;
  readonly #mic = new Microphone();
  #wasTalking = false;
  #framesPlayed = 0;

  constructor(parts: MediaParts) {
    this.#host = parts.host;
    this.#uuid = parts.uuid;
    this.#codecRate = parts.codecRate;
    this.#events = parts.events;
    this.#timers = parts.timers;
    this.#playback = parts.playback;
    this.#timeline = parts.timeline;
    this.#recordings = parts.recordings;
  }

  /** The most recent bug (also after it stopped), or undefined if none was started. */
  get stream(): AudioStream | undefined {
    return this.streams[this.streams.length - 1];
  }

  /** True while caller audio queued by say() remains. */
  get talking(): boolean {
    return this.#mic.talking;
  }

  get queuedMs(): number {
    return this.#mic.queuedMs;
  }

  /** Frames during which a file played to the caller (the RTP packets FreeSWITCH sent, for the CDR). */
  get framesPlayed(): number {
    return this.#framesPlayed;
  }

  say(pcm: Int16Array, sampleRate: number): void {
    this.#mic.say(pcm, sampleRate);
    this.#wasTalking = this.#mic.talking;
  }

  /** Media clock tick: 20 ms of caller audio, to the stream if one is attached. */
  onFrame(): void {
    this.#frame(true);
    const talking = this.#mic.talking;
    // Tests wait for the caller's audio to drain: tell them when it did.
    if (this.#wasTalking && !talking) this.#host.changed();
    this.#wasTalking = talking;
    if (this.#playback.playing) this.#framesPlayed++;
  }

  /** `uuid_audio_stream start` once the channel checks passed; the bug reads the STREAM_* variables as they are now. */
  start(start: Omit<StreamStart, 'vars'>): void {
    const vars: StreamVars = {};
    for (const n of STREAM_VAR_NAMES) {
      const v = this.#events.variable(n);
      if (v !== undefined) vars[n] = v;
    }
    const stream = new AudioStream(this.#streamHost(), { ...start, vars });
    this.streams.push(stream);
    this.#events.fire('MEDIA_BUG_START', { pre: MEDIA_BUG });
  }

  /** `stop [text]` (and the hangup): text, close 1000, MEDIA_BUG_STOP (no disconnect event). */
  stop(text?: string): boolean {
    const s = this.stream;
    if (!s?.attached) return false;
    s.stop(text);
    this.#events.fire('MEDIA_BUG_STOP', { pre: MEDIA_BUG });
    return true;
  }

  sendText(text: string): boolean {
    const s = this.stream;
    if (!s?.attached) return false;
    s.sendText(text);
    return true;
  }

  /** pause/resume: frames stop/resume, no events. */
  pause(pause: boolean): boolean {
    const s = this.stream;
    if (!s?.attached) return false;
    s.paused = pause;
    return true;
  }

  /** Emulator stop/restart: resolves when every stream socket is closed. */
  destroy(): Promise<unknown> {
    return Promise.all(this.streams.map((s) => s.destroy()));
  }

  /** `record` false: the connect burst, frames beyond real time that a recording (wall clock) does not hold. */
  #frame(record: boolean): void {
    const s = this.stream;
    const active = s && (s.state === 'connecting' || s.state === 'connected');
    const rate = active ? s.rate : this.#codecRate;
    const samples = rate / 50;
    // A view of the queued audio or shared silence: read only, copied before it is kept.
    const read = this.#mic.take(samples, rate);
    // What the caller hears only goes into mixed and stereo streams.
    if (active) s.pushFrame(read, s.mix === 'mono' ? undefined : this.#writtenFrame(rate, samples));
    if (record && this.#recordings.recording) {
      const r = this.#codecRate;
      this.#recordings.frame(rate === r ? read.slice() : resample(read, rate, r));
    }
  }

  /** What the caller hears during this frame (for mixed/stereo streams), at `rate`. */
  #writtenFrame(rate: number, samples: number): Int16Array | undefined {
    const seg = this.#playback.playing;
    if (!seg) return undefined;
    const audio = this.#timeline.slice8k(seg, performance.now() - seg.startedAt, 20);
    const out = resample(audio, 8000, rate);
    if (out.length === samples) return out;
    const fixed = new Int16Array(samples);
    fixed.set(out.subarray(0, samples));
    return fixed;
  }

  #streamHost(): StreamHost {
    const settings = this.#host.settings;
    return {
      uuid: this.#uuid,
      tmpDir: this.#host.tmpDir,
      timers: this.#timers,
      handshakeTimeoutMs: settings.wsHandshakeTimeoutMs,
      playDelayMs: settings.streamAudioPlayDelayMs,
      metadataAfterFrames: settings.metadataAfterFrames,
      connectBurstFrames: settings.connectBurstFrames,
      fireCustom: (subclass, body) => this.#events.fire('CUSTOM', { subclass, body, callingKey: 'CUSTOM' }),
      bugClosed: () => this.#events.fire('MEDIA_BUG_STOP', { pre: MEDIA_BUG }),
      burst: (n) => {
        for (let i = 0; i < n; i++) this.#frame(false);
      },
      changed: () => this.#host.changed(),
    };
  }
}

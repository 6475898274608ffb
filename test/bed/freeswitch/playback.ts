/**
 * A channel's queue of applications sent by `sendmsg ... execute` and `uuid_broadcast` (FreeSWITCH's private
 * event queue), with the playback timing measured on a real FreeSWITCH 1.10.12 (reference/freeswitch.md):
 *
 * - sendmsg with `event-lock: true`: FIFO; starts `playbackStartDelayMs` after its command when the channel is
 *   idle, or exactly when the previous file ends (gapless) when it was queued behind it;
 * - sendmsg without event-lock: they nest in FreeSWITCH and come out in reverse order; emulated as LIFO;
 * - uuid_broadcast: same queue, but each item first waits its lead frames (`broadcastLeadMs`);
 * - `uuid_break`: the current file stops `breakDelayMs` later (PLAYBACK_STOP `break`); with `all` every queued
 *   item is dropped without events; the next item then starts one frame after the stop at the earliest.
 *
 * Events per item: CHANNEL_EXECUTE → PLAYBACK_START → PLAYBACK_STOP → CHANNEL_EXECUTE_COMPLETE → PRIVATE_COMMAND
 * (a file that cannot be opened: CHANNEL_EXECUTE → CHANNEL_EXECUTE_COMPLETE `FILE NOT FOUND` → PRIVATE_COMMAND).
 */
import { randomUUID } from 'node:crypto';
import type { TimerSet } from './async-tools.ts';
import { FileNotFound, decodeForPlayback, type DecodedFile } from './audio-files.ts';
import type { Header } from './event-templates.ts';
import type { HeardSegment, Timeline } from './timeline.ts';

const FRAME_MS = 20;

export interface QueuedApp {
  app: string;
  arg: string;
  appUuid: string;
  via: 'sendmsg' | 'broadcast';
  eventLock: boolean;
  /** performance.now() of the command. */
  queuedAt: number;
  /** The message as queued, repeated in PRIVATE_COMMAND once it ran. */
  commandHeaders: Header[];
}

export interface PlaybackHost {
  readonly timers: TimerSet;
  readonly timeline: Timeline;
  readonly playbackStartDelayMs: number;
  readonly breakDelayMs: number;
  broadcastLeadMs(): number;
  codecName(): string;
  alive(): boolean;
  /** playback needs media: an unanswered inbound leg is pre-answered (switch_ivr_play_file). */
  ensureMedia(): void;
  fire(name: string, parts: { pre?: Header[]; post?: Header[] }): void;
  setVar(name: string, value: string | undefined): void;
  /** Applications other than playback/sleep (set, answer, hangup, ...): run at once. */
  runApp(app: string, arg: string): void;
  changed(): void;
}

interface Current {
  item: QueuedApp;
  phase: 'waiting' | 'opening' | 'running';
  startAt: number;
  timer?: NodeJS.Timeout | undefined;
  segment?: HeardSegment;
  /** Set by a break: when the break arrived, and when the item stops. */
  breakAt?: number;
  stopAt?: number;
}

export function newAppUuid(): string {
  return randomUUID();
}

export class PlaybackQueue {
  readonly #host: PlaybackHost;
  #queue: QueuedApp[] = [];
  #current: Current | undefined;
  /** When the channel last became free, and why. */
  #freeAt = Number.NEGATIVE_INFINITY;
  #freedBy: 'done' | 'break' = 'done';

  constructor(host: PlaybackHost) {
    this.#host = host;
  }

  get idle(): boolean {
    return !this.#current && !this.#queue.length;
  }

  /** Items queued and not started yet (the one waiting for its start time included). */
  get pending(): number {
    return this.#queue.length + (this.#current?.phase === 'waiting' ? 1 : 0);
  }

  /** The file playing right now. */
  get playing(): HeardSegment | undefined {
    return this.#current?.phase === 'running' ? this.#current.segment : undefined;
  }

  enqueue(item: QueuedApp): void {
    if (item.via === 'sendmsg' && !item.eventLock) this.#queue.unshift(item);
    else this.#queue.push(item);
    this.#pump();
  }

  break(all: boolean): void {
    const cur = this.#current;
    if (all) {
      this.#queue = [];
      if (cur?.phase === 'waiting') {
        this.#host.timers.cancel(cur.timer);
        this.#current = undefined;
        this.#host.changed();
        return;
      }
    }
    if (!cur || cur.phase === 'waiting' || cur.stopAt !== undefined) return;
    cur.breakAt = performance.now();
    cur.stopAt = cur.breakAt + this.#host.breakDelayMs;
    if (cur.segment) cur.segment.breakAt = cur.breakAt;
    if (cur.phase === 'running') this.#scheduleEnd(cur);
  }

  /**
   * A caller digit in the channel's `playback_terminators` (default `*`): the current file stops in the same ms
   * (PLAYBACK_STOP `done`, FILE PLAYED, as captured); queued items go on. False when nothing was playing.
   */
  terminate(): boolean {
    const cur = this.#current;
    if (cur?.phase !== 'running' || !cur.segment) return false;
    this.#host.timers.cancel(cur.timer);
    this.#stopped(cur, performance.now(), 'done');
    return true;
  }

  /** The channel hangs up: the current file ends (PLAYBACK_STOP `done`, as FreeSWITCH reports it), the rest is dropped. */
  hangup(at: number): void {
    this.#queue = [];
    const cur = this.#current;
    this.#current = undefined;
    if (!cur) return;
    this.#host.timers.cancel(cur.timer);
    if (cur.phase === 'running' && cur.segment) this.#stopped(cur, at, 'hangup');
  }

  #pump(): void {
    if (this.#current || !this.#queue.length || !this.#host.alive()) return;
    const item = this.#queue.shift()!;
    const cur: Current = { item, phase: 'waiting', startAt: this.#startTime(item) };
    this.#current = cur;
    const delay = cur.startAt - performance.now();
    if (delay <= 0) this.#begin(cur);
    else cur.timer = this.#host.timers.after(delay, () => this.#begin(cur));
  }

  #startTime(item: QueuedApp): number {
    const h = this.#host;
    if (item.via === 'broadcast') return Math.max(item.queuedAt, this.#freeAt) + h.broadcastLeadMs();
    if (this.#freedBy === 'break') return Math.max(this.#freeAt + FRAME_MS, item.queuedAt + h.playbackStartDelayMs);
    if (item.queuedAt < this.#freeAt) return this.#freeAt; // queued behind the previous one: no gap
    return item.queuedAt + h.playbackStartDelayMs;
  }

  #begin(cur: Current): void {
    cur.timer = undefined;
    if (this.#current !== cur || !this.#host.alive()) return;
    const { item } = cur;
    const h = this.#host;
    cur.phase = 'opening';
    if (item.app === 'playback') {
      h.ensureMedia();
      h.setVar('current_loop', '1');
      h.setVar('total_loops', '1');
    }
    h.setVar('current_application_data', item.arg || undefined);
    h.setVar('current_application', item.app);
    h.setVar('current_application_response', undefined);
    h.fire('CHANNEL_EXECUTE', { post: this.#appHeaders(item) });
    if (item.app === 'playback') {
      decodeForPlayback(item.arg, h.codecName()).then(
        (decoded) => this.#opened(cur, decoded),
        (err: unknown) => this.#notFound(cur, err),
      );
    } else if (item.app === 'sleep') {
      cur.phase = 'running';
      const ms = Number.parseInt(item.arg, 10) || 0;
      cur.timer = h.timers.after(ms, () => h.alive() && this.#complete(cur, '_none_', cur.startAt + ms, 'done'));
    } else {
      h.runApp(item.app, item.arg);
      if (h.alive()) this.#complete(cur, '_none_', performance.now(), 'done');
    }
  }

  #opened(cur: Current, decoded: DecodedFile): void {
    if (this.#current !== cur || !this.#host.alive()) return;
    if (!decoded.sampleRate) return this.#notFound(cur, new FileNotFound('sample rate 0'));
    const { item } = cur;
    const frameSamples = decoded.sampleRate / (1000 / FRAME_MS);
    const plannedMs = Math.ceil(decoded.pcm.length / frameSamples) * FRAME_MS;
    const exactMs = (decoded.pcm.length * 1000) / decoded.sampleRate;
    const segment: HeardSegment = {
      path: item.arg,
      appUuid: item.appUuid,
      via: item.via,
      queuedAt: item.queuedAt,
      startedAt: cur.startAt,
      endedAt: cur.startAt + plannedMs,
      plannedMs,
      playedMs: 0,
      paddingMs: plannedMs - exactMs,
      status: 'playing',
      sampleRate: decoded.sampleRate,
    };
    if (cur.breakAt !== undefined) segment.breakAt = cur.breakAt;
    if (decoded.noise) segment.noise = true;
    if (decoded.mismatch) segment.mismatch = true;
    cur.segment = this.#host.timeline.begin(segment, decoded.pcm, decoded.sampleRate);
    cur.phase = 'running';
    this.#host.fire('PLAYBACK_START', { post: [['Playback-File-Path', item.arg]] });
    this.#scheduleEnd(cur);
    this.#host.changed();
  }

  #scheduleEnd(cur: Current): void {
    const seg = cur.segment!;
    const broken = cur.stopAt !== undefined && cur.stopAt < seg.endedAt;
    const endAt = broken ? Math.max(cur.stopAt!, seg.startedAt) : seg.endedAt;
    this.#host.timers.cancel(cur.timer);
    cur.timer = this.#host.timers.after(endAt - performance.now(), () => {
      // After a hangup the channel's hangup sequence ends the file (hangup()).
      if (this.#current === cur && this.#host.alive()) this.#stopped(cur, endAt, broken ? 'break' : 'done');
    });
  }

  #stopped(cur: Current, at: number, status: 'done' | 'break' | 'hangup'): void {
    const h = this.#host;
    const seg = cur.segment!;
    h.timeline.finish(seg, at, status);
    const samples = Math.round((seg.playedMs * seg.sampleRate) / 1000);
    h.setVar('playback_last_offset_pos', String(samples));
    h.setVar('playback_seconds', String(Math.floor(seg.playedMs / 1000)));
    h.setVar('playback_ms', String(Math.round(seg.playedMs)));
    h.setVar('playback_samples', String(samples));
    h.fire('PLAYBACK_STOP', {
      post: [
        ['Playback-File-Path', cur.item.arg],
        ['Playback-Status', status === 'break' ? 'break' : 'done'],
      ],
    });
    this.#complete(cur, 'FILE PLAYED', at, status === 'break' ? 'break' : 'done', status !== 'hangup');
  }

  #notFound(cur: Current, err: unknown): void {
    if (this.#current !== cur || !this.#host.alive()) return;
    if (!(err instanceof FileNotFound)) throw err;
    this.#complete(cur, 'FILE NOT FOUND', performance.now(), 'done');
  }

  #complete(cur: Current, response: string, at: number, freedBy: 'done' | 'break', next = true): void {
    const h = this.#host;
    if (this.#current === cur) this.#current = undefined;
    h.setVar('current_application_response', response);
    h.fire('CHANNEL_EXECUTE_COMPLETE', { post: this.#appHeaders(cur.item, response) });
    h.fire('PRIVATE_COMMAND', { pre: cur.item.commandHeaders });
    this.#freeAt = at;
    this.#freedBy = freedBy;
    h.changed();
    if (next) this.#pump();
  }

  #appHeaders(item: QueuedApp, response?: string): Header[] {
    const headers: Header[] = [
      ['Application', item.app],
      ['Application-Data', item.arg],
    ];
    if (response !== undefined) headers.push(['Application-Response', response]);
    headers.push(['Application-UUID', item.appUuid]);
    return headers;
  }
}

import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChannelControl } from '../freeswitch/channel-control.ts';
import { uuid as checkUuid } from '../freeswitch/commands.ts';
import { EslCommandError } from '../freeswitch/esl.ts';
import { toCallEvent, type RawEvent } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { FINAL_STATUSES, type CallRecord, type RecordingInfo } from '../store/call-record.ts';
import { errorText } from '../errors.ts';
import type { CallBook, CallChange } from './call-book.ts';

/** RECORDING, RECORDING_DIR and its FreeSWITCH twin, RECORDING_ANNOUNCEMENT_FILE. */
export interface RecordingSettings {
  /** The default when neither callback, profile, channel variable nor POST /calls says. */
  enabled: boolean;
  /** Where callbridge reads (serves, deletes) the files. */
  dir: string;
  /** The same directory as FreeSWITCH sees it (the path in `uuid_record`). */
  freeswitchDir: string;
  /** Played (as FreeSWITCH sees it) before the agent speaks, on calls that are recorded. */
  announcementFile: string | undefined;
}

export interface CallRecorderDeps {
  settings: RecordingSettings;
  /** The commands for one channel (validated like every other ESL argument). */
  control(callId: string): Pick<ChannelControl, 'startRecording' | 'play'>;
  /** The call records (live ones, and ended ones through its saves). */
  book: CallBook;
  logger: Logger;
  metrics?: Metrics;
  /** A recording is complete on disk (RECORD_STOP seen, file read back): the latency analysis takes it. */
  onComplete?: (callId: string, path: string) => void;
  /** How long after the hangup RECORD_STOP may still come before the file is taken as it is. */
  stopWaitMs?: number;
  /** Free bytes where recordings go (statfs); replaceable to test a full disk. */
  freeBytes?: (dir: string) => Promise<number | undefined>;
}

/** Below this, a new recording is not started: a stereo 8 kHz hour is ~115 MB, and a full disk fails calls' files. */
const MIN_FREE_BYTES = 16 * 1024 * 1024;
const STOP_WAIT_MS = 10_000;

type FailReason = 'unwritable' | 'disk-full' | 'command' | 'missing';

/**
 * Call recordings: FreeSWITCH records each call itself (`uuid_record`, stereo: the caller left, what the caller
 * hears right, both aligned with RECORD_PRE_BUFFER_FRAMES=0, from answer to hangup) into a directory callbridge
 * shares. Whether a call is recorded is decided with its settings (`decide`); the recording starts once the
 * call is answered and its settings known (the `answered` status). The file only counts as complete after
 * RECORD_STOP (which FreeSWITCH sends after CHANNEL_HANGUP, so it is taken here, not by the ended session), or
 * STOP_WAIT_MS after the hangup when the event never came. A recording that cannot be made never ends the call:
 * the record says why, `callbridge_recording_failures_total` counts it.
 */
export class CallRecorder {
  readonly #d: CallRecorderDeps;
  readonly #log: Logger;
  /** Calls to be recorded, not answered yet. */
  readonly #pending = new Set<string>();
  /** Calls recording, waiting for RECORD_STOP (the timer runs once the call has ended). */
  readonly #active = new Map<string, NodeJS.Timeout | undefined>();
  /** Why RECORDING_DIR cannot be used (found at start), or undefined. */
  #unusable: string | undefined;
  readonly #onChange = (r: CallRecord, c: CallChange) => this.#changed(r, c);

  constructor(deps: CallRecorderDeps) {
    this.#d = deps;
    this.#log = deps.logger;
    deps.book.on('change', this.#onChange);
  }

  /** Check RECORDING_DIR once at start: a directory we cannot write fails recordings, never the start. */
  async prepare(): Promise<void> {
    const { dir } = this.#d.settings;
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK | constants.X_OK);
    } catch (err) {
      this.#unusable = `RECORDING_DIR ${dir} is not writable (${errorText(err)})`;
      // Only worth a warning when calls are recorded by default; a per-call recording will say it failed.
      const level = this.#d.settings.enabled ? 'warn' : 'info';
      this.#log[level]({ dir, err: errorText(err) }, 'recording directory unusable: calls go on without recordings');
    }
  }

  /** The call's settings are decided: record it or not (`wanted` undefined: RECORDING). */
  decide(callId: string, wanted: boolean | undefined): void {
    if (!(wanted ?? this.#d.settings.enabled)) return;
    this.#pending.add(callId);
    // Outbound calls (and inbound ones parked answered) are answered before their settings are known.
    if (this.#d.book.live(callId)?.status === 'answered') this.#begin(callId);
  }

  /** Where callbridge finds the call's file (the name comes from the call id only). */
  localPath(callId: string): string {
    return join(this.#d.settings.dir, `${checkUuid(callId)}.wav`);
  }

  /** The complete recording of a call, to serve; undefined while recording or when there is none. */
  async file(callId: string): Promise<{ path: string; bytes: number } | undefined> {
    const r = await this.#d.book.get(callId);
    if (r?.recording?.status !== 'complete') return undefined;
    const path = this.localPath(callId);
    try {
      return { path, bytes: (await stat(path)).size };
    } catch {
      return undefined;
    }
  }

  /** Delete a call's recording. `busy`: still recording. */
  async remove(callId: string): Promise<'deleted' | 'none' | 'busy'> {
    const r = await this.#d.book.get(callId);
    if (r?.recording?.status === 'recording') return 'busy';
    if (r?.recording?.status !== 'complete') return 'none';
    await rm(this.localPath(callId), { force: true });
    await this.#set(callId, { status: 'deleted' });
    return 'deleted';
  }

  /** Retention: the files of calls pruned from history. */
  async removeFiles(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      try {
        await rm(this.localPath(id), { force: true });
      } catch (err) {
        this.#log.warn({ call: id, err: errorText(err) }, 'could not delete a pruned recording');
      }
    }
  }

  /** Every ESL event: only RECORD_STOP of our own files counts. */
  handleEvent(raw: RawEvent): void {
    if (raw.name !== 'RECORD_STOP') return;
    const e = toCallEvent(raw);
    if (e?.type !== 'record-stop' || !this.#active.has(e.uuid)) return;
    if (e.path !== this.#freeswitchPath(e.uuid)) return; // someone else's uuid_record on our call
    void this.#complete(e.uuid, e.recordMs);
  }

  /**
   * Stop listening. Recordings still waiting for RECORD_STOP (callbridge stopping right after its calls) are
   * taken as they are on disk, so no record is left `recording` for good.
   */
  async close(): Promise<void> {
    this.#d.book.off('change', this.#onChange);
    this.#pending.clear();
    await Promise.allSettled([...this.#active.keys()].map((id) => this.#complete(id, undefined)));
  }

  #freeswitchPath(callId: string): string {
    return `${this.#d.settings.freeswitchDir.replace(/\/$/, '')}/${callId}.wav`;
  }

  #changed(r: CallRecord, c: CallChange): void {
    if (c.type !== 'status') return;
    if (c.status === 'answered' && this.#pending.has(r.id)) return this.#begin(r.id);
    if (!FINAL_STATUSES.has(c.status)) return;
    this.#pending.delete(r.id);
    if (this.#active.has(r.id) && this.#active.get(r.id) === undefined) {
      const wait = this.#d.stopWaitMs ?? STOP_WAIT_MS;
      this.#active.set(
        r.id,
        setTimeout(() => void this.#complete(r.id, undefined), wait),
      );
    }
  }

  #begin(callId: string): void {
    this.#pending.delete(callId);
    const { announcementFile } = this.#d.settings;
    const control = this.#d.control(callId);
    // Queued before the agent's first reply can be: the caller hears it first (sendmsg playbacks run in order).
    if (announcementFile) {
      control.play(announcementFile, randomUUID(), 'sendmsg').catch((err: unknown) => {
        this.#log.warn({ call: callId, err: errorText(err) }, 'recording announcement could not be played');
      });
    }
    void this.#start(callId, control);
  }

  async #start(callId: string, control: Pick<ChannelControl, 'startRecording'>): Promise<void> {
    if (this.#unusable) return this.#fail(callId, 'unwritable', this.#unusable);
    const free = await (this.#d.freeBytes ?? freeBytes)(this.#d.settings.dir);
    if (free !== undefined && free < MIN_FREE_BYTES) {
      return this.#fail(callId, 'disk-full', `only ${free} bytes free in RECORDING_DIR`);
    }
    void this.#set(callId, { status: 'recording' });
    this.#active.set(callId, undefined);
    try {
      await control.startRecording(this.#freeswitchPath(callId));
      this.#log.info({ call: callId }, 'recording');
    } catch (err) {
      clearTimeout(this.#active.get(callId));
      this.#active.delete(callId);
      const refused = err instanceof EslCommandError && /Cannot record/i.test(err.reply);
      const reason = refused ? 'FreeSWITCH cannot create the file (unwritable directory?)' : errorText(err);
      this.#fail(callId, refused ? 'unwritable' : 'command', `${reason}: ${errorText(err)}`.slice(0, 300));
    }
  }

  async #complete(callId: string, recordMs: number | undefined): Promise<void> {
    if (!this.#active.has(callId)) return;
    clearTimeout(this.#active.get(callId));
    this.#active.delete(callId);
    const path = this.localPath(callId);
    try {
      const bytes = (await stat(path)).size;
      const durationMs = (await wavDurationMs(path, bytes)) ?? recordMs;
      // Written before the analysis is queued: its result updates the same record after this.
      await this.#set(callId, { status: 'complete', bytes, ...(durationMs !== undefined && { durationMs }) });
      this.#log.info({ call: callId, bytes, durationMs }, 'recording complete');
      this.#d.onComplete?.(callId, path);
    } catch (err) {
      this.#fail(callId, 'missing', `no readable file after the recording stopped (${errorText(err)})`);
    }
  }

  #fail(callId: string, kind: FailReason, reason: string): void {
    this.#log.warn({ call: callId, kind, reason }, 'no recording for this call; the call goes on');
    this.#d.metrics?.recordingFailures.inc({ reason: kind });
    void this.#set(callId, { status: 'failed', reason });
  }

  /** Write the record's `recording`: the live record, or the ended one (saved again) once the call is over. */
  async #set(callId: string, info: RecordingInfo): Promise<void> {
    try {
      await this.#d.book.update(callId, (r) => {
        r.recording = info;
      });
    } catch (err) {
      this.#log.error({ call: callId, err: errorText(err) }, 'could not save the recording to history');
    }
  }
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** Length of a PCM WAV from its header (the data chunk; the file size when the header was not finished). */
export async function wavDurationMs(path: string, fileBytes: number): Promise<number | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(4096, fileBytes));
    await fh.read(head, 0, head.length, 0);
    if (head.length < 12 || head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') {
      return undefined;
    }
    let byteRate = 0;
    for (let at = 12; at + 8 <= head.length; ) {
      const id = head.toString('ascii', at, at + 4);
      const size = head.readUInt32LE(at + 4);
      if (id === 'fmt ' && at + 20 <= head.length) byteRate = head.readUInt32LE(at + 16);
      if (id === 'data') {
        if (!byteRate) return undefined;
        const available = fileBytes - (at + 8);
        const data = size === 0 || size > available ? available : size;
        return Math.round((data / byteRate) * 1000);
      }
      at += 8 + size + (size % 2);
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * A FreeSWITCH 1.10.12 + mod_audio_stream emulator for callbridge's tests: a real TCP ESL server
 * (mod_event_socket), real WebSocket clients for mod_audio_stream, channels whose events, replies and
 * timings follow captures of a real FreeSWITCH (see README.md for the contract and its limits).
 *
 *   const fs = await FreeSwitchEmulator.start({ frameIntervalMs: 20 });
 *   const call = fs.placeInboundCall({ variables: { callbridge: '1' } });
 *   ...
 *   await fs.stop();
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TimerSet, Waiters } from './async-tools.ts';
import { runApi, type ApiContext } from './api-commands.ts';
import { EmulatedChannel, type ChannelHost, type ChannelInit, type EventMatch } from './channel.ts';
import { EslServer, type CommandRecord } from './esl-server.ts';
import { EventFactory, type FsEvent } from './event-templates.ts';
import { inboundChannelInit, runInboundDialplan, type InboundCallOptions } from './inbound.ts';
import { MediaClock } from './media-clock.ts';
import { runOriginate, type OriginatePlan, type OriginateRequest } from './originate.ts';
import { runDeflect, type ReferPlan, type ReferRequest } from './transfer.ts';
import { resolveSettings, type EmulatorOptions, type Settings } from './settings.ts';

export { EmulatedChannel } from './channel.ts';
export type { AnswerState, CallState, CodecName, EventMatch } from './channel.ts';
export type { AudioStream, StreamMix, StreamState, StreamVars } from './audio-stream.ts';
export type { CommandKind, CommandRecord } from './esl-server.ts';
export type { FsEvent, Header } from './event-templates.ts';
export { capturedSample, eventHeader } from './event-templates.ts';
export type { HeardSegment } from './timeline.ts';
export type { InboundCallOptions } from './inbound.ts';
export type { OriginatePlan, OriginateRequest } from './originate.ts';
export type { ReferPlan, ReferRequest } from './transfer.ts';
export type { EmulatorOptions, Settings } from './settings.ts';
export { alawToLinear, parseWav, resample, ulawToLinear } from './audio-files.ts';

export interface EmulatorEvents {
  command: [CommandRecord];
  channel: [EmulatedChannel];
  event: [FsEvent];
}

export class FreeSwitchEmulator extends EventEmitter<EmulatorEvents> {
  readonly settings: Settings;
  /** Live channels by uuid (removed after CHANNEL_DESTROY). */
  readonly channels = new Map<string, EmulatedChannel>();
  /** Every channel ever created, live or gone, oldest first. */
  readonly allChannels: EmulatedChannel[] = [];
  /** Every ESL command received, in order. */
  readonly commands: CommandRecord[] = [];
  /** Every event fired (unless keepEventLog is false). */
  readonly eventLog: FsEvent[] = [];
  /** Decides each originate; default: answer after 50 ms. */
  onOriginate: (req: OriginateRequest) => OriginatePlan = () => ({ result: 'answer', afterMs: 50 });
  /** Decides how the far end answers each `uuid_deflect` (REFER); default: 202 and NOTIFY 200. */
  onRefer: (req: ReferRequest) => ReferPlan = () => ({ status: 202 });
  readonly tmpDir: string;
  /**
   * Test hook, called before each `api`/`bgapi` command runs. A returned promise holds the command until it
   * settles: its reply (and, for `api`, the connection's later replies and events) waits, as behind a slow command.
   */
  beforeApi: ((command: string, arg: string) => Promise<void> | void) | undefined;

  readonly #ownsTmpDir: boolean;
  readonly #factory = new EventFactory();
  readonly #clock: MediaClock;
  readonly #waiters = new Waiters();
  readonly #timers = new TimerSet();
  readonly #esl: EslServer;
  readonly #host: ChannelHost;
  #sessionId = 0;
  #sessionsSinceBoot = 0;
  #peakSessions = 0;
  #bootAt = performance.now();
  #stopped = false;
  /** Ends a restart's down time early (stop() during restart()). */
  #wakeRestart: (() => void) | undefined;

  static async start(options: EmulatorOptions = {}): Promise<FreeSwitchEmulator> {
    const emulator = new FreeSwitchEmulator(options);
    await emulator.#esl.listen(emulator.settings.eslPort);
    return emulator;
  }

  private constructor(options: EmulatorOptions) {
    super();
    this.settings = resolveSettings(options);
    this.#ownsTmpDir = !options.tmpDir;
    this.tmpDir = options.tmpDir ?? mkdtempSync(join(tmpdir(), 'fs-emulator-'));
    this.#clock = new MediaClock(this.settings.frameIntervalMs);
    this.#host = {
      factory: this.#factory,
      clock: this.#clock,
      waiters: this.#waiters,
      settings: this.settings,
      tmpDir: this.tmpDir,
      fire: (event) => this.#fire(event),
      observed: (name, subclass) =>
        this.settings.keepEventLog || this.listenerCount('event') > 0 || this.#esl.wants(name, subclass),
      unobserved: () => this.#waiters.poke(),
      nextSessionId: () => ++this.#sessionId,
      channelGone: (ch) => {
        if (this.channels.get(ch.uuid) === ch) this.channels.delete(ch.uuid);
      },
      changed: () => this.#waiters.poke(),
    };
    this.#esl = new EslServer({
      password: () => this.settings.password,
      record: (command) => {
        this.commands.push(command);
        this.emit('command', command);
        this.#waiters.poke();
      },
      api: (command, arg) => this.#api(command, arg),
      bgapi: (jobUuid, command, arg) =>
        void this.#api(command, arg, (result) => this.#backgroundJob(jobUuid, command, arg, result)),
      sendmsg: (uuid, headers) => {
        const ch = this.channels.get(uuid);
        return ch ? ch.sendmsg(`sendmsg ${uuid}`, headers) : `-ERR invalid session id [${uuid}]`;
      },
    });
  }

  get eslPort(): number {
    return this.#esl.port;
  }

  /** ESL connections currently open. */
  get eslConnectionCount(): number {
    return this.#esl.connectionCount;
  }

  /** A call arrives and the dialplan sets `variables`, answers (unless `answer: false`) and parks it. */
  placeInboundCall(options: InboundCallOptions = {}): EmulatedChannel {
    this.#assertRunning();
    const ch = this.#newChannel(inboundChannelInit(options));
    runInboundDialplan(ch, options);
    return ch;
  }

  /** The first command (from `fromIndex` in `commands`) matching `predicate`. */
  waitForCommand(predicate: (c: CommandRecord) => boolean, timeoutMs = 5000, fromIndex = 0): Promise<CommandRecord> {
    return this.#waiters.until(
      'an ESL command matching the predicate',
      () => this.commands.slice(fromIndex).find(predicate),
      timeoutMs,
    );
  }

  /** The first event (from `fromIndex` in `eventLog`) with this Event-Name / subclass, or matching a predicate. */
  waitForEvent(match: EventMatch, timeoutMs = 5000, fromIndex = 0): Promise<FsEvent> {
    const test = typeof match === 'function' ? match : (e: FsEvent) => e.name === match || e.subclass === match;
    return this.#waiters.until(
      `event ${typeof match === 'string' ? match : 'matching predicate'}`,
      () => this.eventLog.slice(fromIndex).find(test),
      timeoutMs,
    );
  }

  /** A channel by uuid (e.g. an origination_uuid) or predicate, once it exists (also if already gone). */
  waitForChannel(match: string | ((c: EmulatedChannel) => boolean), timeoutMs = 5000): Promise<EmulatedChannel> {
    const test = typeof match === 'string' ? (c: EmulatedChannel) => c.uuid === match : match;
    return this.#waiters.until(
      `channel ${typeof match === 'string' ? match : 'matching predicate'}`,
      () => this.allChannels.find(test),
      timeoutMs,
    );
  }

  /** A network blip: every ESL socket is destroyed; channels and streams carry on. */
  /** Lateness of the shared media clock (max ms behind, ticks more than 10 ms late); reset with `reset`. */
  clockLateness(reset = false): { maxMs: number; over10ms: number; ticks: number } {
    const l = { ...this.#clock.lateness };
    if (reset) Object.assign(this.#clock.lateness, { maxMs: 0, over10ms: 0, ticks: 0 });
    return l;
  }

  /** Where the shared media clock is (see MediaClock.position): for tests of the frame pacing. */
  clockPosition(): { origin: number; ticks: number; dropped: number; countedAt: number; intervalMs: number } {
    return this.#clock.position;
  }

  dropEslConnections(): void {
    this.#esl.dropConnections();
  }

  /**
   * ESL goes away while FreeSWITCH keeps running: every ESL socket is destroyed and connections are refused
   * until `eslUp()`. Channels, calls and streams carry on; their events reach nobody meanwhile.
   */
  async eslDown(): Promise<void> {
    this.#assertRunning();
    await this.#esl.close(false);
  }

  /** ESL listens again on the same port (after `eslDown()`). */
  async eslUp(): Promise<void> {
    this.#assertRunning();
    await this.#esl.listen(this.eslPort);
    this.#waiters.poke();
  }

  /** Writes raw bytes to every authenticated ESL connection (hostile or corrupt frames for tests). */
  injectEsl(raw: string | Buffer): void {
    this.#esl.injectRaw(raw);
  }

  /**
   * A FreeSWITCH restart: ESL connections drop, every call disappears (no events: nobody is connected; the
   * mod_audio_stream sockets die without a close frame), ESL refuses connections for `downMs`, then a new
   * instance (new Core-UUID, Event-Sequence from 1) listens on the same port.
   */
  async restart(downMs = this.settings.restartDownMs): Promise<void> {
    this.#assertRunning();
    await this.#esl.close(false);
    await Promise.all([...this.channels.values()].map((c) => c.destroy()));
    this.channels.clear();
    this.#factory.reboot();
    this.#bootAt = performance.now();
    this.#sessionsSinceBoot = 0;
    this.#peakSessions = 0;
    await new Promise<void>((resolve) => {
      this.#wakeRestart = resolve;
      this.#timers.after(downMs, resolve);
    });
    this.#wakeRestart = undefined;
    if (!this.#stopped) await this.#esl.listen(this.eslPort);
    this.#waiters.poke();
  }

  /** Releases everything: ESL server and sockets, WebSockets, timers, pending waits, the temp dir (if ours). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timers.clear();
    this.#wakeRestart?.();
    await Promise.all(this.allChannels.map((c) => c.destroy()));
    this.channels.clear();
    this.#clock.stop();
    this.#waiters.cancelAll('FreeSwitchEmulator stopped');
    await this.#esl.close(true);
    if (this.#ownsTmpDir) rmSync(this.tmpDir, { recursive: true, force: true });
  }

  #newChannel(init: ChannelInit): EmulatedChannel {
    const ch = new EmulatedChannel(this.#host, init);
    this.channels.set(ch.uuid, ch);
    this.allChannels.push(ch);
    this.#sessionsSinceBoot++;
    this.#peakSessions = Math.max(this.#peakSessions, this.channels.size);
    this.emit('channel', ch);
    this.#waiters.poke();
    return ch;
  }

  #fire(event: FsEvent): void {
    if (this.settings.keepEventLog) this.eventLog.push(event);
    this.emit('event', event);
    this.#esl.broadcast(event);
    this.#waiters.poke();
  }

  #api(command: string, arg: string, onResult?: (result: string) => void): Promise<string> {
    const ctx: ApiContext = {
      channels: this.channels,
      bootAt: this.#bootAt,
      sessionsSinceBoot: this.#sessionsSinceBoot,
      peakSessions: this.#peakSessions,
      originate: (a, done) =>
        runOriginate(
          {
            settings: this.settings,
            plan: (req) => this.onOriginate(req),
            newChannel: (init) => this.#newChannel(init),
          },
          a,
          done,
        ),
      deflect: (a, done) => runDeflect(this.channels, (req) => this.onRefer(req), a, done),
    };
    // The API event goes out with the result (FreeSWITCH fires it when the command starts but it reaches
    // the socket after the command's own events).
    const withEvent = (result: string) => {
      this.#fire(
        this.#factory.make('API', {
          pre: [
            ['API-Command', command],
            ['API-Command-Argument', arg],
          ],
        }),
      );
      onResult?.(result);
    };
    const gate = this.beforeApi?.(command, arg);
    const run = () => runApi(ctx, command, arg, withEvent);
    // A throwing test hook (onOriginate, beforeApi) becomes an -ERR reply instead of an unhandled rejection.
    return (gate ? Promise.resolve(gate).then(run) : run()).catch((err: unknown) => {
      const reply = `-ERR emulator: ${err instanceof Error ? err.message : String(err)}\n`;
      onResult?.(reply);
      return reply;
    });
  }

  #backgroundJob(jobUuid: string, command: string, arg: string, result: string): void {
    this.#fire(
      this.#factory.make('BACKGROUND_JOB', {
        pre: [
          ['Job-UUID', jobUuid],
          ['Job-Command', command],
          ['Job-Command-Arg', arg],
        ],
        body: result,
      }),
    );
  }

  #assertRunning(): void {
    if (this.#stopped) throw new Error('FreeSwitchEmulator is stopped');
  }
}

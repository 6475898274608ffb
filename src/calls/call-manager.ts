import type { Agent } from '../agents/agent.ts';
import type { Config } from '../config.ts';
import { ChannelControl } from '../freeswitch/channel-control.ts';
import type { EslClient } from '../freeswitch/esl.ts';
import { toCallEvent, type ChannelInfo, type RawEvent } from '../freeswitch/events.ts';
import { UnsafeEslValueError } from '../freeswitch/commands.ts';
import type { Logger } from '../log.ts';
import type { ResamplerPool } from '../media/resampler.ts';
import type { Metrics } from '../metrics.ts';
import { CallSession, errorText } from './call-session.ts';
import { MEDIA_CLOSE, type MediaAttachResult, type MediaConnection, type MediaRouter } from './media-port.ts';

/**
 * The channel variable that hands a parked call to callbridge. The dialplan sets it for inbound calls
 * (`<action application="set" data="callbridge=1"/>` before `park`); an outbound
 * `originate {callbridge=1}... &park()` sets it too. Parked channels without it are left alone.
 */
export const MARKER_VARIABLE = 'callbridge';

export function isMarked(channel: ChannelInfo): boolean {
  const v = channel.variable(MARKER_VARIABLE)?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== '0' && v !== 'false' && v !== 'no';
}

export interface CallManagerDeps {
  config: Config;
  esl: EslClient;
  logger: Logger;
  createAgent(channel: ChannelInfo, logger: Logger): Agent;
  resamplers(inRate: number, outRate: number): ResamplerPool;
  metrics?: Metrics;
}

/** Registry of live calls: creates a CallSession per marked parked channel and routes events and media to it. */
export class CallManager implements MediaRouter {
  readonly #d: CallManagerDeps;
  readonly #sessions = new Map<string, CallSession>();
  /** The last few ended calls, newest last (the calls API reads them until the history store exists). */
  readonly recent: CallSession[] = [];
  #accepting = true;
  #endedWaiters = new Set<() => void>();

  constructor(deps: CallManagerDeps) {
    this.#d = deps;
    deps.esl.on('event', (e) => this.handleEvent(e));
    deps.esl.on('disconnected', () => {
      for (const s of this.#sessions.values()) s.eslDisconnected();
    });
    deps.esl.on('connected', () => void this.#reconcile());
  }

  get active(): ReadonlyMap<string, CallSession> {
    return this.#sessions;
  }

  handleEvent(raw: RawEvent): void {
    const e = toCallEvent(raw);
    if (!e || e.type === 'background-job') return;
    if (e.type === 'park') return this.#onPark(e.channel);
    this.#sessions.get(e.uuid)?.onEvent(e);
  }

  #onPark(channel: ChannelInfo): void {
    if (this.#sessions.has(channel.uuid) || !isMarked(channel)) return;
    const log = this.#d.logger.child({ call: channel.uuid });
    if (!this.#accepting) {
      log.warn('shutting down: not taking this call');
      return;
    }
    let control: ChannelControl;
    try {
      control = new ChannelControl(this.#d.esl, channel.uuid);
    } catch (err) {
      if (err instanceof UnsafeEslValueError) return void log.error({ err: err.message }, 'ignoring parked channel with an unusable uuid');
      throw err;
    }
    const session = new CallSession(channel, {
      config: this.#d.config,
      control,
      logger: log,
      createAgent: (ch) => this.#d.createAgent(ch, log),
      resamplers: this.#d.resamplers,
      metrics: this.#d.metrics,
      onEnded: (s) => this.#ended(s),
    });
    this.#sessions.set(channel.uuid, session);
    this.#d.metrics?.callsActive.set(this.#sessions.size);
    void session.start();
  }

  #ended(s: CallSession): void {
    if (this.#sessions.get(s.id) === s) this.#sessions.delete(s.id);
    this.#d.metrics?.callsActive.set(this.#sessions.size);
    this.#d.metrics?.callsEnded.inc({ reason: (s.endReason ?? 'unknown').split(':')[0]!.slice(0, 40) });
    this.recent.push(s);
    if (this.recent.length > 100) this.recent.shift();
    for (const w of this.#endedWaiters) w();
  }

  attach(callId: string, token: string, conn: MediaConnection): MediaAttachResult {
    const session = this.#sessions.get(callId);
    if (!session) return { ok: false, code: MEDIA_CLOSE.unknownCall, reason: 'unknown call' };
    return session.attachMedia(token, conn);
  }

  /** After a (re)connect: calls whose channel vanished while ESL was down are ended here. */
  async #reconcile(): Promise<void> {
    for (const s of [...this.#sessions.values()]) {
      const control = new ChannelControl(this.#d.esl, s.id);
      try {
        if (!(await control.exists())) await s.end('channel gone while ESL was disconnected', { hangup: false });
      } catch (err) {
        this.#d.logger.warn({ call: s.id, err: errorText(err) }, 'could not check channel after reconnect');
      }
    }
  }

  /** Stop taking calls, let live ones finish for up to `timeoutMs`, then hang up the rest. */
  async shutdown(timeoutMs: number): Promise<void> {
    this.#accepting = false;
    if (this.#sessions.size > 0) {
      this.#d.logger.info({ calls: this.#sessions.size, timeoutMs }, 'draining calls');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeoutMs);
        const check = () => {
          if (this.#sessions.size === 0) done();
        };
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#endedWaiters.add(check);
        check();
      });
      this.#endedWaiters.clear();
    }
    await Promise.all([...this.#sessions.values()].map((s) => s.end('callbridge shutting down')));
  }
}

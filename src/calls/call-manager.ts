import { ChannelControl } from '../freeswitch/channel-control.ts';
import { UnsafeEslValueError } from '../freeswitch/commands.ts';
import { toCallEvent, type ChannelInfo, type RawEvent } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import { errorText } from '../errors.ts';
import { noResumptions, type CallRecord } from '../store/call-record.ts';
import type { TransferOutcome } from './call-actions.ts';
import { BrowserGate } from './browser-admission.ts';
import { CallControl, CallUnavailableError } from './call-control.ts';
import { CALL_VARIABLES } from './call-settings.ts';
import { CallSession, type EndedSession } from './call-session.ts';
import { ChannelResync } from './channel-resync.ts';
import { callFacts, type CallManagerDeps, type Takeover } from './manager-deps.ts';
import { OutboundDialing } from './outbound-dialing.ts';
import { isMarked } from './marker.ts';
import { MEDIA_CLOSE, type MediaAttachResult, type MediaConnection, type MediaRouter } from './media-port.ts';
import { DEFAULT_SIP_PROFILE, type OriginateRequest } from './outbound-call.ts';

export { callFacts } from './manager-deps.ts';
export type { CallManagerDeps, Takeover } from './manager-deps.ts';

/**
 * Owns the live calls: picks up every marked parked channel (one CallSession each), places outbound calls,
 * and routes ESL events and media sockets to the right call. Their records live in the CallBook.
 */
export class CallManager implements MediaRouter {
  readonly #d: CallManagerDeps;
  readonly #sessions = new Map<string, CallSession>();
  /** Outbound calls placed through the API that have not been parked (answered) yet. */
  readonly #dialing: OutboundDialing;
  readonly #resync: ChannelResync;
  readonly #browserGate = new BrowserGate();
  /** Parked calls whose claim is on its way to Redis (cluster mode). */
  readonly #claiming = new Set<string>();
  #accepting = true;
  #endedWaiters = new Set<() => void>();

  constructor(deps: CallManagerDeps) {
    this.#d = deps;
    this.#dialing = new OutboundDialing(deps);
    deps.esl.on('event', (e) => this.handleEvent(e));
    deps.esl.on('disconnected', () => {
      for (const s of this.#sessions.values()) s.eslDisconnected();
    });
    this.#resync = new ChannelResync({
      esl: deps.esl,
      logger: deps.logger,
      sessions: this.#sessions,
      accepting: () => this.#accepting,
      unconfirmed: () => this.#dialing.unconfirmed(),
      confirm: (id) => this.#dialing.confirm(id),
      failUnconfirmed: (id, why) => this.#dialing.giveUp(id, why),
      take: (channel) => this.#onPark(channel),
    });
    deps.esl.on('connected', () => this.#resync.run());
  }

  get active(): ReadonlyMap<string, CallSession> {
    return this.#sessions;
  }

  /** Calls this manager carries: live sessions and outbound calls being dialled (admission counts both). */
  get load(): number {
    return this.#sessions.size + this.#dialing.size;
  }

  handleEvent(raw: RawEvent): void {
    const e = toCallEvent(raw);
    if (!e) return;
    if (e.type === 'park') return this.#onPark(e.channel);
    const session = this.#sessions.get(e.uuid);
    if (session) return session.onEvent(e);
    this.#dialing.onEvent(e);
  }

  #onPark(channel: ChannelInfo): void {
    const { uuid } = channel;
    if (this.#sessions.has(uuid) || this.#claiming.has(uuid) || !isMarked(channel)) return;
    const ours = this.#dialing.has(uuid);
    const log = this.#d.logger.child({ call: uuid });
    if (!this.#accepting) return void log.warn('shutting down: not taking this call');
    const control = this.#control(uuid, log);
    if (!control) return;
    if (!this.#browserGate.admit(channel, control, log, this.#d)) return;
    // Our own outbound calls were admitted (and claimed) when placed.
    if (this.#d.admit && !ours && this.#d.admit(channel, control, log) !== 'take') return;
    const { claim } = this.#d;
    if (!claim || ours) return void this.#take(channel, control, log).start();
    this.#claiming.add(uuid);
    claim(uuid, channel.answered).then(
      (won) => {
        this.#claiming.delete(uuid);
        if (!won) return void log.debug('another instance took this call');
        // Taken meanwhile (a resync and the park event), or shutting down: the claim goes back.
        if (this.#sessions.has(uuid) || !this.#accepting) return void this.#d.unclaim?.(uuid);
        void this.#take(channel, control, log).start();
      },
      (err: unknown) => {
        this.#claiming.delete(uuid);
        log.warn({ err: errorText(err) }, 'could not claim the call: leaving it to the other instances');
      },
    );
  }

  #control(uuid: string, log: Logger): ChannelControl | undefined {
    try {
      return new ChannelControl(this.#d.esl, uuid);
    } catch (err) {
      if (!(err instanceof UnsafeEslValueError)) throw err;
      log.error({ err: err.message }, 'ignoring parked channel with an unusable uuid');
      return undefined;
    }
  }

  /**
   * Failover: carry on a call another instance owned (already claimed by this one) on its answered channel,
   * continuing its shared record. Resolves with the session once it is active (undefined when it is not).
   */
  async adopt(channel: ChannelInfo, takeover: Takeover): Promise<CallSession | undefined> {
    const log = this.#d.logger.child({ call: channel.uuid });
    if (this.#sessions.has(channel.uuid) || !this.#accepting) return undefined;
    const control = this.#control(channel.uuid, log);
    if (!control) return undefined;
    const { record } = takeover;
    if (!this.#d.book.live(record.id)) this.#d.book.add(record);
    const session = this.#take(channel, control, log, takeover);
    await session.start();
    return session.state === 'active' ? session : undefined;
  }

  /** A session for the call (not started yet). */
  #take(channel: ChannelInfo, control: ChannelControl, log: Logger, takeover?: Takeover): CallSession {
    this.#dialing.parked(channel.uuid);
    const { book } = this.#d;
    // Our own API call already has a record; a user's raw originate or an inbound call gets one now.
    const record =
      book.live(channel.uuid) ??
      book.add({
        id: channel.uuid,
        direction: channel.direction,
        from: channel.callerNumber,
        to: channel.destination,
        pipeline: channel.variable(CALL_VARIABLES.pipeline) ?? '',
        status: channel.answered ? 'answered' : 'ringing',
        createdAt: Date.now(),
        ...(channel.answered && { answeredAt: Date.now() }),
        turns: [],
        transcript: [],
        resumptions: noResumptions(),
        ...(this.#d.node && { node: this.#d.node }),
      });
    const facts = callFacts(channel);
    const session = new CallSession(channel, record, {
      settings: this.#d.session,
      control,
      logger: log,
      book,
      resolveSettings: () => this.#d.resolveSettings(facts, log),
      createAgent: (settings) =>
        this.#d.createAgent(
          takeover ? { ...settings, priorConversation: takeover.priorConversation } : settings,
          facts,
          log,
        ),
      takeover: takeover !== undefined,
      resampling: this.#d.resampling,
      pace: this.#d.pace,
      metrics: this.#d.metrics,
      onEnded: (s) => this.#ended(s),
      createActions: (hooks) =>
        new CallControl({
          ...hooks,
          channel: control,
          gateway: record.gateway ?? this.#d.outbound.defaultGateway,
          sipProfile: this.#d.outbound.sipProfile ?? DEFAULT_SIP_PROFILE,
          originateTimeoutSeconds: this.#d.outbound.timeoutSeconds,
          callerIdNumber: this.#d.outbound.callerId,
          logger: log,
        }),
    });
    this.#sessions.set(channel.uuid, session);
    this.#d.metrics?.callsActive.set(this.#sessions.size);
    return session;
  }

  #ended(s: EndedSession): void {
    if (this.#sessions.get(s.id) === s) this.#sessions.delete(s.id);
    this.#d.metrics?.callsActive.set(this.#sessions.size);
    this.#d.metrics?.callsEnded.inc({ reason: (s.endReason ?? 'unknown').split(':')[0]!.slice(0, 40) });
    for (const w of this.#endedWaiters) w();
  }

  /** Place a call (see OutboundDialing); the record follows the call. */
  originate(req: OriginateRequest): Promise<CallRecord> {
    return this.#dialing.originate(req);
  }

  /** Hang up a call (DELETE /calls/:id). Idempotent for calls that already ended. */
  async hangup(id: string): Promise<'hanging-up' | 'ended' | 'unknown'> {
    const session = this.#sessions.get(id);
    if (session) {
      await session.end('hung up through the API');
      return 'hanging-up';
    }
    if (await this.#dialing.cancel(id)) return 'hanging-up';
    return (await this.#d.book.get(id)) ? 'ended' : 'unknown';
  }

  /**
   * Blind transfer of a live call (POST /calls/{id}/transfer). CallUnavailableError for unknown, ended or
   * not yet answered calls; otherwise the outcome, as the agent's transfer tool gets it.
   */
  async transfer(id: string, target: string, opts: { method?: 'bridge' | 'refer' } = {}): Promise<TransferOutcome> {
    return (await this.#actionsOf(id)).transfer(target, opts);
  }

  /** Send DTMF into a live call (POST /calls/{id}/dtmf); resolves once FreeSWITCH accepted the digits. */
  async sendDtmf(id: string, digits: string): Promise<void> {
    return (await this.#actionsOf(id)).sendDtmf(digits);
  }

  async #actionsOf(id: string): Promise<CallControl> {
    const session = this.#sessions.get(id);
    if (!session) {
      if (this.#dialing.has(id)) throw new CallUnavailableError('not-ready', `call ${id} has not been answered yet`);
      if (await this.#d.book.get(id)) throw new CallUnavailableError('ended', `call ${id} has ended`);
      throw new CallUnavailableError('unknown', `no call ${id}`);
    }
    if (session.state !== 'active' || !session.actions) {
      const ended = session.state === 'ending' || session.state === 'ended';
      throw new CallUnavailableError(ended ? 'ended' : 'not-ready', `call ${id} is ${session.state}`);
    }
    return session.actions;
  }

  /** The agent of a live call says `text` (POST /calls/{id}/say). `unsupported`: its agent cannot. */
  say(id: string, text: string): 'said' | 'unsupported' | 'not-ready' | 'ended' | 'unknown' {
    const session = this.#sessions.get(id);
    if (!session || session.state === 'ending' || session.state === 'ended') {
      if (this.#dialing.has(id)) return 'not-ready';
      return this.#d.book.known(id) ? 'ended' : 'unknown';
    }
    if (session.state !== 'active') return 'not-ready';
    return session.say(text) ? 'said' : 'unsupported';
  }

  attach(callId: string, token: string, conn: MediaConnection): MediaAttachResult {
    const session = this.#sessions.get(callId);
    if (!session) return { ok: false, code: MEDIA_CLOSE.unknownCall, reason: 'unknown call' };
    return session.attachMedia(token, conn);
  }

  /** Stop taking calls, let live ones finish for up to `timeoutMs`, then hang up the rest. */
  async shutdown(timeoutMs: number): Promise<void> {
    this.#accepting = false;
    this.#resync.stop();
    this.#dialing.shutdown();
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

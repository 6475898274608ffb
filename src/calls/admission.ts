import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import { errorText } from '../errors.ts';
import type { ChannelControl } from '../freeswitch/channel-control.ts';
import type { ChannelInfo } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';

/** What happens to a parked call: taken, hung up with USER_BUSY, or left parked (unanswered) for someone else. */
export type AdmissionVerdict = 'take' | 'busy' | 'leave';

export interface AdmissionSettings {
  /** 0: no limit. */
  maxCalls: number;
  action: 'busy' | 'leave';
  /** Played (path as FreeSWITCH sees it) before the USER_BUSY hang-up. */
  messageFile: string | undefined;
}

export function admissionSettings(config: Config): AdmissionSettings {
  return {
    maxCalls: config.MAX_CALLS,
    action: config.MAX_CALLS_ACTION,
    messageFile: config.MAX_CALLS_MESSAGE_FILE,
  };
}

/** POST /calls while this instance carries MAX_CALLS calls (the API answers 503 at_capacity). */
export class AtCapacityError extends Error {}

/** The commands a refusal sends: each built and validated by commands.ts. */
export type RefusableChannel = Pick<ChannelControl, 'play' | 'hangup' | 'hangupAfterPlayback'>;

export interface AdmissionDeps {
  /** Calls this instance carries now, on every node: live sessions and outbound calls being dialled. */
  liveCalls(): number;
  logger: Logger;
  metrics?: Metrics;
}

/** Refused calls remembered so a call seen again (a resync after a reconnect) is logged and counted once. */
const REMEMBERED = 10_000;

/**
 * Admission control (MAX_CALLS): whether this instance takes one more call. Over the limit, a parked call is
 * hung up with USER_BUSY (after MAX_CALLS_MESSAGE_FILE, when set: FreeSWITCH plays it, then runs the queued
 * hang-up) or left parked, unanswered, for another instance or the dialplan's timeout; outbound requests are
 * refused (AtCapacityError). Nothing is answered or streamed for a refused call.
 */
export class Admission {
  readonly #s: AdmissionSettings;
  readonly #d: AdmissionDeps;
  readonly #refused = new Set<string>();

  constructor(settings: AdmissionSettings, deps: AdmissionDeps) {
    this.#s = settings;
    this.#d = deps;
  }

  get maxCalls(): number {
    return this.#s.maxCalls;
  }

  /** True when one more call would exceed MAX_CALLS (never without a limit). */
  get atCapacity(): boolean {
    return this.#s.maxCalls > 0 && this.#d.liveCalls() >= this.#s.maxCalls;
  }

  /** Before placing a call: AtCapacityError at the limit. */
  checkOutbound(): void {
    if (this.atCapacity) {
      throw new AtCapacityError(`at capacity: this instance carries its MAX_CALLS (${this.#s.maxCalls}) calls`);
    }
  }

  /**
   * A marked parked call that is not ours yet: 'take', or the refusal, already under way ('busy': the hang-up
   * is sent; 'leave': nothing is sent). Logged and counted once per call.
   */
  admit(channel: ChannelInfo, control: RefusableChannel, log: Logger): AdmissionVerdict {
    if (!this.atCapacity) return 'take';
    const verdict = this.#s.action;
    if (!this.#refused.has(channel.uuid)) {
      this.#remember(channel.uuid);
      this.#d.metrics?.callsRefused.inc({ reason: 'at_capacity' });
      log.warn(
        { maxCalls: this.#s.maxCalls, action: verdict, from: channel.callerNumber },
        verdict === 'busy'
          ? 'at MAX_CALLS: refusing the call (USER_BUSY)'
          : 'at MAX_CALLS: leaving the call parked, unanswered',
      );
    }
    if (verdict === 'busy') void this.#busy(control, log);
    return verdict;
  }

  async #busy(control: RefusableChannel, log: Logger): Promise<void> {
    const file = this.#s.messageFile;
    try {
      if (!file) return await control.hangup('USER_BUSY');
      // Queued behind the message: FreeSWITCH hangs up once it has been played (or could not be).
      await control.play(file, randomUUID(), 'sendmsg');
      await control.hangupAfterPlayback('USER_BUSY');
    } catch (err) {
      log.warn({ err: errorText(err) }, 'could not play the busy message: hanging up');
      await control.hangup('USER_BUSY').catch((e: unknown) => {
        log.warn({ err: errorText(e) }, 'could not hang up a refused call');
      });
    }
  }

  #remember(id: string): void {
    this.#refused.add(id);
    if (this.#refused.size > REMEMBERED) this.#refused.delete(this.#refused.values().next().value!);
  }
}

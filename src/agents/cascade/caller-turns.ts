/**
 * The caller's side of a cascade call: STT results become turns (turn-taking.ts decides), with the finalize
 * wait, a reply the caller talks on over before hearing it dropped, and a lost STT stream reconnected with the
 * caller's words so far carried into the new one. A finished turn goes to the agent (`answer`).
 */
import type { Logger } from '../../log.ts';
import { errorText } from '../../errors.ts';
import type { AudioClock } from './audio-clock.ts';
import type { CascadeCall } from './cascade-call.ts';
import type { CascadeStats } from './cascade-stats.ts';
import type { ReplyRunner } from './reply-runner.ts';
import type { StageLinks } from './stage-links.ts';
import type { SttResult, StageError, StageName } from './stages.ts';
import { TurnAssembler, type TurnDecision, type TurnPolicy } from './turn-taking.ts';

export interface CallerTurnsHost {
  /** The sink; open, or faulted. */
  readonly call: Pick<CascadeCall, 'sink' | 'isOpen' | 'faulted'>;
  readonly log: Logger;
  readonly stats: CascadeStats;
  readonly links: StageLinks;
  readonly replies: ReplyRunner;
  /** Caller audio time → wall time (when the caller stopped speaking). */
  readonly clock: AudioClock;
  readonly sampleRate: number;
  /** Wait for a from_finalize final this long before using the interim words. */
  readonly finalizeTimeoutMs: number;
  /** The caller's turn is over: answer `text`. */
  answer(text: string, marks: Record<string, number>): void;
  fault(stage: StageName, cause: string): void;
  guard(fn: () => void): void;
}

export class CallerTurns {
  readonly #host: CallerTurnsHost;
  readonly #turn: TurnAssembler;
  #finalizeTimer: NodeJS.Timeout | undefined;
  /** Words carried over a lost STT stream: the turn ends with them if the new stream hears no more. */
  #carryTimer: NodeJS.Timeout | undefined;

  constructor(host: CallerTurnsHost, policy: TurnPolicy) {
    this.#host = host;
    this.#turn = new TurnAssembler(policy);
  }

  sttResult(r: SttResult): void {
    if (r.text.trim() !== '') this.#clearCarry();
    this.#apply(this.#turn.onResult(r));
  }

  utteranceEnd(): void {
    this.#apply(this.#turn.onUtteranceEnd());
  }

  sttLost(err: StageError): void {
    const host = this.#host;
    host.links.dropStt();
    if (!host.call.isOpen || host.call.faulted) return;
    // A turn that was ending is answered with what was heard; one in progress keeps its words, and the new
    // stream's words (from the audio it is sent first) continue it.
    if (this.#turn.finalizing) this.#apply(this.#turn.forceEnd());
    else this.#turn.carryOver();
    if (!host.links.takeSttReconnect()) {
      const n = host.links.sttReconnectsInWindow;
      host.fault('stt', `${err.message} (after ${n} reconnects in a short time)`);
      return;
    }
    host.log.warn({ err: err.message }, 'cascade: STT stream lost; reconnecting');
    host.links.connectStt(false).then(
      () => host.guard(() => this.#armCarry()),
      (e) => {
        if (host.call.isOpen) host.fault('stt', errorText(e));
      },
    );
  }

  /** Stop the timers (a fault, close). */
  stop(): void {
    clearTimeout(this.#finalizeTimer);
    this.#finalizeTimer = undefined;
    this.#clearCarry();
  }

  /** After a reconnect: carried words end the turn unless the new stream hears more within the finalize wait. */
  #armCarry(): void {
    if (!this.#host.call.isOpen || !this.#turn.hasWords) return;
    this.#clearCarry();
    this.#carryTimer = setTimeout(() => {
      this.#carryTimer = undefined;
      if (this.#host.call.isOpen && !this.#host.call.faulted)
        this.#host.guard(() => this.#apply(this.#turn.forceEnd()));
    }, this.#host.finalizeTimeoutMs);
  }

  #clearCarry(): void {
    clearTimeout(this.#carryTimer);
    this.#carryTimer = undefined;
  }

  #apply(d: TurnDecision): void {
    const host = this.#host;
    const sink = host.call.sink;
    switch (d.kind) {
      case 'none':
        return;
      case 'partial': {
        sink.transcript('caller', d.text, false);
        // The caller goes on talking before our answer was heard: that answer was to half a thought.
        const r = host.replies.current;
        if (r !== undefined && !r.audible && r.fromModel && this.#turn.hasRealWords(d.text)) host.replies.abandon(r);
        return;
      }
      case 'finalize':
        host.links.stt?.finalize();
        clearTimeout(this.#finalizeTimer);
        this.#finalizeTimer = setTimeout(() => {
          this.#finalizeTimer = undefined;
          if (host.call.isOpen) host.guard(() => this.#apply(this.#turn.forceEnd()));
        }, host.finalizeTimeoutMs);
        return;
      case 'ignored':
        this.stop();
        host.stats.ignoredTurns++;
        if (d.text) sink.transcript('caller', d.text, true);
        host.log.debug({ text: d.text, reason: d.reason }, 'cascade: turn ignored');
        return;
      case 'end':
        this.stop();
        sink.transcript('caller', d.text, true);
        this.#onUserTurn(d.text, d.lastWordEnd);
        return;
    }
  }

  #onUserTurn(text: string, lastWordEnd: number): void {
    const host = this.#host;
    if (host.call.faulted) return;
    host.stats.turns++;
    const sttFinalAt = performance.now();
    const marks: Record<string, number> = { sttFinalAt };
    if (lastWordEnd >= 0) {
      const rate = host.sampleRate;
      const stoppedAt = host.clock.timeOf(host.links.sttBase + lastWordEnd * rate, rate);
      if (stoppedAt !== undefined && stoppedAt <= sttFinalAt) marks.callerStoppedAt = stoppedAt;
    }
    host.answer(text, marks);
  }
}

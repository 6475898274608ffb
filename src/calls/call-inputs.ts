import type { Agent, Speaker } from '../agents/agent.ts';
import type { Logger } from '../log.ts';
import type { TranscriptEntry } from '../store/call-record.ts';
import type { CallBook } from './call-book.ts';
import { CallLimits, DEFAULT_LIMITS, speak } from './call-limits.ts';
import type { CallSettings } from './call-settings.ts';
import { DEFAULT_DTMF, DtmfCollector, dtmfNotice } from './dtmf-collector.ts';

export interface CallInputsDeps {
  callId: string;
  /** The record's transcript: a completed collection is a caller line in it. */
  transcript: TranscriptEntry[];
  book: Pick<CallBook, 'transcript' | 'dtmf'>;
  logger: Logger;
  /** Agent audio is queued or playing. */
  playing(): boolean;
  /** Break off the reply being heard, as the caller speaking over it would (the AgentSink's `interrupted`). */
  interrupt(): void;
  end(reason: string): void;
}

/**
 * What an active call takes in besides speech: the digits its caller presses (DtmfCollector; a completed
 * collection goes to the record and to the agent) and its silence and duration limits (CallLimits), both with
 * the call's own settings. Nothing happens before `start()` (the call is not active yet) or after `close()`.
 *
 * A first digit over a reply breaks it off (when DTMF barge-in is on) and holds the rest of its audio back until
 * the collection completes, so the caller is not talked over while still pressing keys: `gate` is that hold.
 */
export class CallInputs {
  readonly #d: CallInputsDeps;
  #dtmf: DtmfCollector | undefined;
  #limits: CallLimits | undefined;
  /** A digit broke off the reply: the rest of it is not played while the caller is still pressing keys. */
  #holdAudio = false;

  constructor(deps: CallInputsDeps) {
    this.#d = deps;
  }

  /**
   * `play` behind the hold. The result is the AgentSink's `audio` itself (hot path): one flag check, then
   * `play`, exactly as when the session held the flag.
   */
  gate(play: (pcm: Buffer, rate: number) => void): (pcm: Buffer, rate: number) => void {
    return (pcm, rate) => {
      if (!this.#holdAudio) play(pcm, rate);
    };
  }

  /** The call is active: digits are collected for `agent` and the limits' clocks start. */
  start(agent: Agent, s: CallSettings): void {
    const d = this.#d;
    const log = d.logger;
    const dtmf = s.dtmf ?? DEFAULT_DTMF;
    const limits = new CallLimits({
      settings: s.limits ?? DEFAULT_LIMITS,
      playing: d.playing,
      say: (text) => speak(agent, text),
      interrupt: d.interrupt,
      end: d.end,
      logger: log,
    });
    const first = () => {
      if (!dtmf.bargeIn || !d.playing()) return;
      this.#holdAudio = true;
      d.interrupt();
    };
    const complete = (digits: string) => {
      this.#holdAudio = false;
      const entry = { speaker: 'caller' as const, text: `DTMF: ${digits}`, at: Date.now(), final: true };
      d.transcript.push(entry);
      d.book.transcript(d.callId, entry);
      d.book.dtmf(d.callId, digits);
      log.info({ digits: digits.length }, 'caller digits');
      agent.notify?.(dtmfNotice(digits), { interrupt: dtmf.bargeIn });
    };
    this.#dtmf = new DtmfCollector(dtmf, { first, digit: () => limits.activity('caller'), complete }, log);
    this.#limits = limits;
    limits.start();
  }

  /** One DTMF event's digit (ignored until the call is active). */
  digit(raw: string): void {
    this.#dtmf?.push(raw);
  }

  /** Someone spoke (a transcript) or talked over the agent: the silence limit starts again. */
  activity(who: Speaker): void {
    this.#limits?.activity(who);
  }

  /** Everything queued for the caller has been played (a goodbye the limits wait for has been heard). */
  playbackIdle(): void {
    this.#limits?.playbackIdle();
  }

  /** Drop a collection in progress and release the timers. Idempotent. */
  close(): void {
    this.#dtmf?.close();
    this.#limits?.close();
  }
}

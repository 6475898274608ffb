import type { Agent } from '../agents/agent.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';

/** When a call is ended for silence or length (env defaults, overridden per call: call-settings.ts). */
export interface LimitSettings {
  /** Seconds in which neither side speaks before the caller is prompted; 0: never. */
  silenceTimeoutS: number;
  /** Prompts before the goodbye: the call ends at the next silence after the last one. */
  silencePrompts: number;
  silencePromptText: string;
  /** Said before a call is ended for silence or length. */
  goodbyeText: string;
  /** Longest a call may last once active, seconds; 0: no limit. */
  maxDurationS: number;
}

export const DEFAULT_LIMITS: LimitSettings = {
  silenceTimeoutS: 0,
  silencePrompts: 2,
  silencePromptText: 'Are you still there?',
  goodbyeText: 'Thank you for calling. Goodbye!',
  maxDurationS: 0,
};

export function limitSettings(config: Config): LimitSettings {
  return {
    silenceTimeoutS: config.SILENCE_TIMEOUT_S,
    silencePrompts: config.SILENCE_PROMPTS,
    silencePromptText: config.SILENCE_PROMPT_TEXT,
    goodbyeText: config.GOODBYE_TEXT,
    maxDurationS: config.MAX_CALL_DURATION_S,
  };
}

/** End reasons in the call record. */
export const LIMIT_REASONS = { silence: 'silence timeout', duration: 'max duration' } as const;

/** The goodbye is heard when its playback ends; an agent that never speaks it does not hold the call longer. */
const GOODBYE_WAIT_MS = 10_000;

/** Speak `text` word for word where the agent can; else ask it to. False when the agent can do neither. */
export function speak(agent: Agent, text: string): boolean {
  if (agent.say) agent.say(text);
  else if (agent.notify) agent.notify(`[Say exactly this to the caller, nothing else: "${text}"]`);
  else return false;
  return true;
}

export interface CallLimitsDeps {
  settings: LimitSettings;
  /** Agent audio is queued or playing. */
  playing(): boolean;
  /** Speak text to the caller (see `speak`); false when it cannot be said. */
  say(text: string): boolean;
  /** Break off the reply being heard (the duration limit does not wait for it). */
  interrupt(): void;
  end(reason: string): void;
  logger: Logger;
}

/**
 * The silence and duration limits of one active call. Activity is reported (caller transcripts and digits,
 * agent transcripts and the end of its playback) by setting a timestamp: one silence timer re-arms itself
 * from it when it fires, so activity costs no timer churn. Everything is released by `close()`.
 */
export class CallLimits {
  readonly #d: CallLimitsDeps;
  #lastActivity = performance.now();
  #prompts = 0;
  #silenceTimer: NodeJS.Timeout | undefined;
  #durationTimer: NodeJS.Timeout | undefined;
  #goodbyeTimer: NodeJS.Timeout | undefined;
  /** The call is ending for this reason once the goodbye has been heard. */
  #ending: string | undefined;
  #closed = false;

  constructor(deps: CallLimitsDeps) {
    this.#d = deps;
  }

  /** The call is active: the clocks start. */
  start(): void {
    const { silenceTimeoutS, maxDurationS } = this.#d.settings;
    this.#lastActivity = performance.now();
    if (silenceTimeoutS > 0) this.#armSilence(silenceTimeoutS * 1000);
    if (maxDurationS > 0) {
      this.#durationTimer = setTimeout(() => this.#goodbye(LIMIT_REASONS.duration), maxDurationS * 1000);
    }
  }

  /** Someone spoke (or pressed a key). The caller answering resets the prompts too. */
  activity(who: 'caller' | 'agent'): void {
    this.#lastActivity = performance.now();
    if (who === 'caller') this.#prompts = 0;
  }

  /** Everything queued for the caller has been played. */
  playbackIdle(): void {
    if (this.#ending) return this.#finish();
    this.activity('agent');
  }

  /** Release the timers. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#silenceTimer);
    clearTimeout(this.#durationTimer);
    clearTimeout(this.#goodbyeTimer);
  }

  #armSilence(ms: number): void {
    this.#silenceTimer = setTimeout(() => this.#silenceCheck(), Math.max(ms, 50));
  }

  #silenceCheck(): void {
    if (this.#closed || this.#ending) return;
    const limitMs = this.#d.settings.silenceTimeoutS * 1000;
    // The agent talking is not silence, however long since the last transcript.
    if (this.#d.playing()) this.#lastActivity = performance.now();
    const quietMs = performance.now() - this.#lastActivity;
    if (quietMs < limitMs) return this.#armSilence(limitMs - quietMs);
    const { silencePrompts, silencePromptText } = this.#d.settings;
    if (this.#prompts >= silencePrompts) return this.#goodbye(LIMIT_REASONS.silence);
    this.#prompts++;
    this.#d.logger.info({ prompt: this.#prompts, of: silencePrompts }, 'caller silent: prompting');
    this.#d.say(silencePromptText);
    this.#lastActivity = performance.now();
    this.#armSilence(limitMs);
  }

  #goodbye(reason: string): void {
    if (this.#closed || this.#ending) return;
    this.#d.logger.info({ reason }, 'call limit reached: saying goodbye');
    if (this.#d.playing()) this.#d.interrupt();
    this.#ending = reason;
    clearTimeout(this.#silenceTimer);
    if (!this.#d.say(this.#d.settings.goodbyeText)) return this.#finish();
    this.#goodbyeTimer = setTimeout(() => this.#finish(), GOODBYE_WAIT_MS);
  }

  #finish(): void {
    if (this.#closed || !this.#ending) return;
    const reason = this.#ending;
    this.close();
    this.#d.end(reason);
  }
}

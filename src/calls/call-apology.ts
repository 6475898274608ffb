import { randomUUID } from 'node:crypto';
import type { ChannelControl } from '../freeswitch/channel-control.ts';
import type { CallEvent } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import { errorText } from '../errors.ts';
import type { ApologySettings } from './session-settings.ts';

/** How the prompt went: heard to the end, not playable, cut short by the caller or by our timeout. */
export type ApologyOutcome = 'played' | 'not-played' | 'caller-hung-up' | 'timed-out' | 'no-prompt';

type ApologyEvent = Extract<CallEvent, { type: 'execute-complete' | 'hangup' }>;

/**
 * The last words of a call whose agent failed for good (AgentSink `failed`): a prompt that already sits on the
 * FreeSWITCH host (APOLOGY_FILE), so the apology cannot fail the way the agent's own vendors just did. Played
 * with `sendmsg` playback like reply chunks (no lead frames), then waited for: its CHANNEL_EXECUTE_COMPLETE,
 * which follows PLAYBACK_STOP and also comes when the file cannot be opened (then no PLAYBACK_STOP comes at
 * all), the caller hanging up, or the timeout. Never rejects: the call is hung up whatever happened.
 *
 * The cascade speaks its own apology through TTS when TTS still works and then asks for a hang-up
 * (`sink.hangup`), not `failed`; it calls `failed` only when that apology could not be spoken (TTS is what
 * failed, or it errored or timed out). So a `failed` always gets this prompt and the caller never hears two.
 */
export class CallApology {
  readonly #settings: ApologySettings;
  readonly #control: Pick<ChannelControl, 'play'>;
  readonly #log: Logger;
  #done: ((outcome: ApologyOutcome) => void) | undefined;

  constructor(settings: ApologySettings, control: Pick<ChannelControl, 'play'>, logger: Logger) {
    this.#settings = settings;
    this.#control = control;
    this.#log = logger;
  }

  /** Play the prompt and wait until it is over. Call once, while the channel is up. */
  async play(): Promise<ApologyOutcome> {
    const { file, timeoutMs } = this.#settings;
    if (!file) return 'no-prompt';
    let timer: NodeJS.Timeout | undefined;
    let finish: (outcome: ApologyOutcome) => void = () => {};
    const over = new Promise<ApologyOutcome>((resolve) => {
      finish = resolve;
      timer = setTimeout(() => resolve('timed-out'), timeoutMs);
    });
    this.#done = finish;
    try {
      await this.#control.play(file, randomUUID(), 'sendmsg');
    } catch (err) {
      this.#log.warn({ err: errorText(err), file }, 'apology prompt could not be queued');
      finish('not-played');
    }
    try {
      const outcome = await over;
      this.#log[outcome === 'played' ? 'info' : 'warn']({ outcome, file }, 'apology prompt over');
      return outcome;
    } finally {
      clearTimeout(timer);
      this.#done = undefined;
    }
  }

  /** This channel's execute-complete and hangup events, while the prompt plays. */
  onEvent(e: ApologyEvent): void {
    const done = this.#done;
    if (!done) return;
    if (e.type === 'hangup') return done('caller-hung-up');
    // Reply chunks broken just before the prompt complete too: only the prompt's own completion counts.
    if (e.app !== 'playback' || e.appData !== this.#settings.file) return;
    done(e.response === 'FILE PLAYED' ? 'played' : 'not-played');
  }

  /** The ESL connection dropped: no event will come, and nobody could hang up anyway. */
  cancel(): void {
    this.#done?.('not-played');
  }
}

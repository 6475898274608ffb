import type { Logger } from '../../log.ts';
import type { CascadeCall } from './cascade-call.ts';
import type { ReplyRunner } from './reply-runner.ts';
import type { ChatMessage } from './stages.ts';

/** Something to say or answer once the reply in progress is over. */
type Queued = { kind: 'say' | 'notify'; text: string };

const DEFAULT_SPEAK_FIRST = '[The call has just been answered. Greet the caller briefly.]';
/** say/notify waiting for the reply in progress; beyond it the oldest are dropped (an API caller gone wild). */
const MAX_QUEUED = 16;

export interface SpeechQueueHost {
  readonly call: Pick<CascadeCall, 'phase' | 'faulted'>;
  readonly log: Logger;
  readonly replies: ReplyRunner;
  /** The conversation so far (what the model sees): turns to answer are added to it. */
  readonly history: ChatMessage[];
  /** Said as it is when the agent speaks first without a hint. */
  readonly greeting: string | undefined;
}

/**
 * What starts a cascade reply besides the caller's speech, and the caller's turns themselves: the opening
 * (`speakFirst`, held until the agent is open), `say` (a text spoken as it is, as an agent turn) and `notify`
 * (a caller-side event the model answers as a caller turn). say/notify wait for the reply in progress, in order.
 */
export class SpeechQueue {
  readonly #host: SpeechQueueHost;
  readonly #queue: Queued[] = [];
  #pendingSpeakFirst: { hint: string | undefined } | undefined;

  constructor(host: SpeechQueueHost) {
    this.#host = host;
  }

  /** Speak first: now when open, else once `opened()` is called. */
  speakFirst(hint: string | undefined): void {
    const { phase } = this.#host.call;
    if (phase === 'idle' || phase === 'starting') {
      this.#pendingSpeakFirst = { hint };
      return;
    }
    if (phase === 'open') this.#doSpeakFirst(hint);
  }

  /** The agent is open: the opening asked for while starting, then whatever was queued. */
  opened(): void {
    if (this.#pendingSpeakFirst !== undefined) {
      const { hint } = this.#pendingSpeakFirst;
      this.#pendingSpeakFirst = undefined;
      this.#doSpeakFirst(hint);
    }
    this.drain();
  }

  say(text: string): void {
    this.#enqueue({ kind: 'say', text });
  }

  notify(text: string, opts?: { interrupt?: boolean }): void {
    const { call, replies } = this.#host;
    if (opts?.interrupt && call.phase === 'open' && !call.faulted) {
      const r = replies.current;
      if (r !== undefined && r.faultReason === undefined) replies.endCurrent('notify');
    }
    this.#enqueue({ kind: 'notify', text });
  }

  /** A caller turn (or a caller-side event) to answer: the reply in progress is over either way. */
  answer(text: string, marks: Record<string, number>): void {
    const { history, replies } = this.#host;
    replies.endCurrent('caller turn');
    const last = history[history.length - 1];
    if (last !== undefined && last.role === 'user') last.text = `${last.text} ${text}`;
    else history.push({ role: 'user', text });
    void replies.run(marks, undefined);
  }

  /** The next say/notify, when nothing is being said. */
  drain(): void {
    const { call, replies, log } = this.#host;
    if (call.phase !== 'open' || call.faulted || replies.current !== undefined) return;
    const q = this.#queue.shift();
    if (q === undefined) return;
    log.info({ kind: q.kind, chars: q.text.length }, `cascade: ${q.kind}`);
    if (q.kind === 'say') void replies.run({}, q.text);
    else this.answer(q.text, {});
  }

  /** Drop what waits (a fault, close). */
  clear(): void {
    this.#pendingSpeakFirst = undefined;
    this.#queue.length = 0;
  }

  #enqueue(q: Queued): void {
    const { call, log } = this.#host;
    if (call.phase === 'closed' || call.faulted || q.text.trim() === '') return;
    if (this.#queue.length >= MAX_QUEUED) {
      const dropped = this.#queue.shift()!;
      log.warn({ kind: dropped.kind, chars: dropped.text.length }, 'cascade: too much queued; oldest dropped');
    }
    this.#queue.push(q);
    this.drain();
  }

  #doSpeakFirst(hint: string | undefined): void {
    const { call, replies, history, greeting } = this.#host;
    if (call.faulted || replies.current !== undefined) return;
    if (hint === undefined && greeting) {
      void replies.run({}, greeting);
      return;
    }
    history.push({ role: 'user', text: hint ?? DEFAULT_SPEAK_FIRST });
    void replies.run({}, undefined);
  }
}

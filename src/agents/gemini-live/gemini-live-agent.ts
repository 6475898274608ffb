/**
 * Gemini Live (speech-to-speech) as an Agent: caller PCM at 16 kHz goes up the Live WebSocket, the
 * model's 24 kHz PCM, transcripts and turn signals come back through the AgentSink.
 *
 * A call outlives its connections (the service retires each after about 10 minutes with `goAway`, and may
 * drop one with 1011): this class wires one LiveConnection at a time (live-connection.ts), the resumption
 * policy and replay ring (resumption.ts), the reconnect loop (live-resumer.ts) and the conversation as the
 * sink sees it (live-turns.ts), the tool calls (live-tools.ts). The setup and the model rules are
 * live-setup.ts's, the texts sent on the caller's behalf live-prompts.ts's.
 */
import type { LiveServerMessage } from '@google/genai';
import type { Logger } from 'pino';
import { errorText } from '../../errors.ts';
import type { Agent, AgentSink } from '../agent.ts';
import { LiveConnection, type LiveConnectionEvents } from './live-connection.ts';
import { connectionOptions, type GeminiLiveAgentOptions } from './live-options.ts';
import { LiveOutbox } from './live-outbox.ts';
import { notifyText, sayText, speakFirstText, textMessage } from './live-prompts.ts';
import { LiveResumer, PlannedSwitch, ResumeFailed, closeOutcome } from './live-resumer.ts';
import { liveConfig, setupProblem, type LiveSetupOptions } from './live-setup.ts';
import { LiveTools } from './live-tools.ts';
import { LiveTurns } from './live-turns.ts';
import { ResumptionPolicy, durationMs } from './resumption.ts';

export { type GeminiLiveAgentOptions, geminiLiveOptions } from './live-options.ts';

const INPUT_RATE = 16000; // what Gemini Live takes; FreeSWITCH streams at it, so no resampling here

type State = 'idle' | 'connecting' | 'open' | 'resuming' | 'failed' | 'closed';

export class GeminiLiveAgent implements Agent {
  readonly kind = 'gemini-live';
  readonly inputSampleRate = INPUT_RATE;
  /** Connections replaced without the call noticing. */
  resumptions = 0;

  /** Caller frames sent (replays not counted), and dropped because the socket was backed up. */
  get sentFrames(): number {
    return this.#out.sentFrames;
  }

  get droppedFrames(): number {
    return this.#out.droppedFrames;
  }

  readonly #opts: GeminiLiveAgentOptions;
  readonly #setup: LiveSetupOptions;
  readonly #log: Logger;
  readonly #policy: ResumptionPolicy;
  readonly #turns = new LiveTurns();
  readonly #resumer = new LiveResumer();
  readonly #switch = new PlannedSwitch();
  readonly #tools: LiveTools;
  /** Client messages, and the connection in use (undefined while connecting or resuming). */
  readonly #out: LiveOutbox;
  #state: State = 'idle';
  #sink: AgentSink | undefined;
  #starting: LiveConnection | undefined;
  #closePromise: Promise<void> | undefined;
  #sinkErrors = 0;

  constructor(opts: GeminiLiveAgentOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#setup = {
      model: opts.model,
      settings: opts.settings,
      thinkingLevel: opts.thinkingLevel,
      proactiveAudio: opts.proactiveAudio,
      compression: opts.compression ?? { triggerTokens: 64000, targetTokens: 32000 },
    };
    this.#policy = new ResumptionPolicy(opts.replayCapacity ?? 1500);
    this.#out = new LiveOutbox(this.#policy.ring, this.#log);
    this.#tools = new LiveTools(opts.settings.tools, opts.model, this.#log, {
      sink: () => this.#sink,
      send: (msg) => this.#sendText(msg),
      pendingChanged: (ids) => {
        this.#policy.pendingTools(ids);
        this.#switchIfSafe();
      },
    });
  }

  async start(sink: AgentSink): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`gemini live: start() called in state ${this.#state}`);
    this.#sink = sink;
    const { model, settings } = this.#opts;
    const problem = setupProblem(this.#setup);
    if (problem !== undefined) {
      this.#state = 'closed';
      throw new Error(`gemini live: ${problem}`);
    }
    this.#state = 'connecting';
    const t0 = performance.now();
    const conn = this.#connection(undefined);
    this.#starting = conn;
    try {
      await conn.open(this.#events(conn), this.#opts.connectTimeoutMs);
    } catch (e) {
      const wasClosed = (this.#state as State) === 'closed'; // close() may have run meanwhile
      this.#state = 'closed';
      this.#starting = undefined;
      if (!wasClosed)
        this.#log.warn({ err: errorText(e), ms: Math.round(performance.now() - t0) }, 'gemini live connect failed');
      throw e;
    }
    this.#starting = undefined;
    this.#state = 'open';
    this.#policy.connectionStarted(this.#policy.ring.last);
    this.#out.opened(conn);
    const setupMs = Math.round(performance.now() - t0);
    this.#log.info({ model, voice: settings.voice, language: settings.language, setupMs }, 'gemini live connected');
  }

  /** Hot path: 25–50 frames a second (see LiveOutbox.audio). */
  pushAudio(frame: Buffer): void {
    if (this.#state === 'open' || this.#state === 'resuming') this.#out.audio(frame);
  }

  speakFirst(hint?: string): void {
    this.#sendText(textMessage(speakFirstText(this.#opts.settings.greeting, hint), this.#opts.speakFirstVia));
  }

  /** Asked of the model as a turn of its own: it says the text when it next speaks (see live-prompts.ts). */
  say(text: string): void {
    this.#sendText(textMessage(sayText(text)));
  }

  /** `interrupt`: the current reply is dropped first, as if the caller had barged in. */
  notify(text: string, opts?: { interrupt?: boolean }): void {
    const sink = this.#sink;
    if (opts?.interrupt && sink !== undefined && (this.#state === 'open' || this.#state === 'resuming')) {
      this.#callSink((s) => this.#turns.dropReply(s));
    }
    this.#sendText(textMessage(notifyText(text)));
  }

  close(): Promise<void> {
    if (this.#closePromise === undefined) this.#closePromise = this.#doClose();
    return this.#closePromise;
  }

  // ---- internals ------------------------------------------------------------------------------

  #connection(handle: string | undefined): LiveConnection {
    return new LiveConnection(connectionOptions(this.#opts, liveConfig(this.#setup, handle)));
  }

  #events(conn: LiveConnection): LiveConnectionEvents {
    return {
      // A connection delivers nothing once closed, so whatever arrives is the current one's (or the one opening).
      message: (msg) => {
        const state = this.#state;
        if (state === 'open' || state === 'connecting' || state === 'resuming') this.#onMessage(msg);
      },
      closed: (code, reason) => {
        if (conn === this.#out.conn) this.#onClosed(code, reason);
      },
    };
  }

  #sendText(msg: string): void {
    const state = this.#state;
    if (state !== 'failed' && state !== 'closed') this.#out.text(msg);
  }

  async #doClose(): Promise<void> {
    const prev = this.#state;
    this.#state = 'closed';
    this.#switch.cancel();
    this.#tools.close();
    const conn = this.#out.conn ?? this.#starting;
    this.#out.close();
    await Promise.all([this.#resumer.stop(), conn?.close()]);
    if (prev === 'open' || prev === 'failed' || prev === 'resuming') {
      const { sentFrames, droppedFrames } = this.#out;
      const { resumptions } = this;
      this.#log.info({ sentFrames, droppedFrames, resumptions }, 'gemini live closed');
    }
  }

  #onMessage(msg: LiveServerMessage): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    try {
      if (msg.serverContent !== undefined) this.#turns.serverContent(msg.serverContent, sink);
      if (msg.sessionResumptionUpdate !== undefined) {
        this.#policy.update(msg.sessionResumptionUpdate, this.#state === 'resuming');
      }
      if (msg.toolCall !== undefined) this.#tools.toolCall(msg.toolCall.functionCalls ?? []);
      if (msg.toolCallCancellation !== undefined) this.#tools.cancelled(msg.toolCallCancellation.ids ?? []);
      if (msg.goAway !== undefined) this.#onGoAway(msg.goAway.timeLeft);
    } catch (e) {
      if (this.#sinkErrors++ === 0) {
        this.#log.error({ err: errorText(e) }, 'gemini live: sink threw while handling a server message');
      }
    }
    this.#switchIfSafe();
  }

  #switchIfSafe(): void {
    const since = this.#switch.since;
    if (since !== undefined && this.#policy.safeToSwitch(this.#turns.replying)) void this.#resume('goAway', since);
  }

  /** The service retires this connection: switch once nothing would be lost, at the latest just before it ends. */
  #onGoAway(timeLeft: string | undefined): void {
    if (this.#switch.since !== undefined || this.#state !== 'open') return;
    const leftMs = durationMs(timeLeft) ?? 10000;
    this.#log.info({ timeLeft, handle: this.#policy.handle !== undefined }, 'gemini live goAway: switching connection');
    this.#switch.plan(leftMs, (since) => void this.#resume('goAway (time ran out)', since));
  }

  #onClosed(code: number, reason: string): void {
    if (this.#state !== 'open') return;
    const { why, cause } = closeOutcome(code, reason, this.#switch.since !== undefined);
    if (why === undefined) this.#fail(cause);
    else void this.#resume(why, performance.now(), cause);
  }

  /**
   * Replace the connection: close the old one first (the service refuses a handle still in use), open one with
   * the newest resumable handle, re-send what the handle does not hold, then carry on. Caller audio meanwhile
   * waits in the ring; audio already queued for the caller keeps playing.
   */
  async #resume(reason: string, since: number, lost?: string): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'resuming';
    this.#switch.cancel();
    const old = this.#out.conn;
    this.#out.conn = undefined;
    const sink = this.#sink!;
    this.#turns.connectionEnded(sink);
    this.#tools.connectionEnded();
    const handle = this.#policy.handle;
    const prefix = lost ?? `gemini live: switching connection (${reason})`;
    await old?.close();
    let conn: LiveConnection;
    try {
      conn = await this.#resumer.resume(handle, since, this.#opts.resumeBudgetMs ?? 5000, {
        connection: (h) => this.#connection(h),
        events: (c) => this.#events(c),
        connectTimeoutMs: this.#opts.connectTimeoutMs,
      });
    } catch (e) {
      if ((this.#state as State) === 'closed') return;
      this.#fail(`${prefix}; resumption failed: ${e instanceof ResumeFailed ? e.message : errorText(e)}`);
      return;
    }
    this.#adopt(conn, reason, since);
  }

  #adopt(conn: LiveConnection, reason: string, since: number): void {
    const { replayed, missing, base } = this.#policy.ring.replayAfter(this.#policy.covered, (m) =>
      conn.sendAlways(this.#tools.forReplay(m)),
    );
    this.#policy.connectionStarted(base);
    this.#out.conn = conn;
    this.#state = 'open';
    this.resumptions++;
    const ms = Math.round(performance.now() - since);
    const { attempts } = this.#resumer;
    this.#log.info({ reason, durationMs: ms, attempts, replayed, missing }, 'gemini live session resumed');
    this.#callSink((s) => s.resumed?.({ reason, durationMs: ms }));
  }

  #fail(cause: string): void {
    this.#state = 'failed';
    this.#switch.cancel();
    this.#tools.close();
    this.#out.close();
    this.#log.warn({ cause }, 'gemini live failed');
    this.#callSink((s) => s.failed(cause));
  }

  #callSink(fn: (s: AgentSink) => void): void {
    const sink = this.#sink;
    if (sink === undefined) return;
    try {
      fn(sink);
    } catch (e) {
      this.#log.error({ err: errorText(e) }, 'gemini live: sink threw');
    }
  }
}

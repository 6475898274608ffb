/**
 * Test harness for the cascade agent (not a test file itself): the three vendor fakes, an agent wired to them
 * through the real SDKs, a sink that simulates the playout in real time, and a caller line that feeds 20 ms
 * frames (speech or silence) continuously, faster than real time.
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import type { Agent, AgentSink, Speaker } from '../../src/agents/agent.ts';
import type { ToolDeclaration } from '../../src/agents/tools/types.ts';
import { CartesiaTts } from '../../src/agents/cascade/cartesia-tts.ts';
import { CascadeAgent } from '../../src/agents/cascade/cascade-agent.ts';
import { DeepgramStt } from '../../src/agents/cascade/deepgram-stt.ts';
import { GeminiLlm } from '../../src/agents/cascade/gemini-llm.ts';
import type { TurnEndOn } from '../../src/agents/cascade/turn-taking.ts';
import { loadSileroModel } from '../../src/media/silero-model.ts';
import {
  CartesiaFake,
  type CartesiaFakeOptions,
  DeepgramFake,
  type DeepgramFakeOptions,
  GeminiTextFake,
  type GeminiTextFakeOptions,
} from '../bed/index.ts';
import { EventLog } from '../support/event-log.ts';

export const SPEECH = readFileSync(new URL('../fixtures/speech-8k.raw', import.meta.url));
export const COUGH = readFileSync(new URL('../fixtures/cough-8k.raw', import.meta.url));
/** The first 0.6 s of SPEECH ("Hello, I…"): enough for a turn where the words do not matter. */
export const SHORT = SPEECH.subarray(0, 9600);
export const KEY = { dg: 'dg-key', gem: 'gem-key', cart: 'cart-key' };
export const SYSTEM = 'You are the front desk of the Adler hotel. Be brief.';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} (${ms} ms)`);
    await sleep(3);
  }
}

/** Sockets, servers and timers still alive (stdio and the test runner's own handles excluded). */
export function openHandles(): string[] {
  return process.getActiveResourcesInfo().filter((r) => /TCP|Timeout|Immediate/.test(r));
}

// ---- fakes ------------------------------------------------------------------------------------

export interface Fakes {
  dg: DeepgramFake;
  gem: GeminiTextFake;
  cart: CartesiaFake;
  stop(): Promise<void>;
}

export async function startFakes(
  o: { dg?: DeepgramFakeOptions; gem?: GeminiTextFakeOptions; cart?: CartesiaFakeOptions } = {},
): Promise<Fakes> {
  const [dg, gem, cart] = await Promise.all([
    DeepgramFake.start({ apiKey: KEY.dg, auto: {}, ...o.dg }),
    GeminiTextFake.start({ apiKey: KEY.gem, ...o.gem }),
    CartesiaFake.start({ apiKey: KEY.cart, ...o.cart }),
  ]);
  return { dg, gem, cart, stop: async () => void (await Promise.all([dg.stop(), gem.stop(), cart.stop()])) };
}

// ---- agent ------------------------------------------------------------------------------------

export interface AgentOpts {
  turnEnd?: TurnEndOn;
  bargeInMinMs?: number;
  vadThreshold?: number;
  llmTimeoutMs?: number;
  ttsTimeoutMs?: number;
  connectTimeoutMs?: number;
  keepAliveMs?: number;
  greeting?: string;
  geminiBaseUrl?: string;
  finalizeTimeoutMs?: number;
  apology?: string;
  utteranceEndMs?: number;
  tools?: ToolDeclaration[];
  toolFiller?: { afterMs: number; text: string };
}

export const APOLOGY = 'Sorry, technical trouble. Goodbye.';

export function captureLogger(): { logger: pino.Logger; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) }).child({
    uuid: 'call-1',
  });
  return { logger, lines };
}

export function makeAgent(f: Fakes, o: AgentOpts = {}): { agent: CascadeAgent; logs: Record<string, any>[] } {
  const { logger, lines } = captureLogger();
  const connectTimeoutMs = o.connectTimeoutMs ?? 2000;
  const agent = new CascadeAgent({
    settings: {
      systemInstructions: SYSTEM,
      voice: 'unused',
      language: 'en-US',
      ...(o.greeting ? { greeting: o.greeting } : {}),
      ...(o.tools ? { tools: o.tools } : {}),
    },
    logger,
    sampleRate: 8000,
    createStt: () =>
      new DeepgramStt({
        apiKey: KEY.dg,
        baseUrl: f.dg.url,
        model: 'nova-3',
        language: 'en-US',
        sampleRate: 8000,
        endpointingMs: 300,
        utteranceEndMs: o.utteranceEndMs ?? 1000,
        connectTimeoutMs,
        keepAliveMs: o.keepAliveMs ?? 3000,
        logger,
      }),
    llm: new GeminiLlm({
      apiKey: KEY.gem,
      model: 'gemini-flash-latest',
      baseUrl: o.geminiBaseUrl ?? f.gem.baseUrl,
      timeoutMs: o.llmTimeoutMs ?? 2000,
      thinking: 'minimal',
    }),
    createTts: () =>
      new CartesiaTts({
        apiKey: KEY.cart,
        baseUrl: f.cart.baseUrl,
        model: 'sonic-3',
        voiceId: 'voice-123',
        language: 'en-US',
        sampleRate: 8000,
        connectTimeoutMs,
        timeoutMs: o.ttsTimeoutMs ?? 2000,
        logger,
      }),
    loadVad: loadSileroModel,
    turn: { endOn: o.turnEnd ?? 'speech_final' },
    bargeIn: { threshold: o.vadThreshold ?? 0.5, minSpeechMs: o.bargeInMinMs ?? 200 },
    finalizeTimeoutMs: o.finalizeTimeoutMs ?? 1000,
    apology: o.apology ?? APOLOGY,
    ...(o.toolFiller ? { toolFiller: o.toolFiller } : {}),
  });
  return { agent, logs: lines };
}

// ---- sink -------------------------------------------------------------------------------------

export type Ev = { at: number } & (
  | { t: 'audio'; bytes: number; rate: number }
  | { t: 'replyDone' }
  | { t: 'interrupted'; heardMs: number }
  | { t: 'transcript'; speaker: Speaker; text: string; final: boolean }
  | { t: 'hangup'; reason: string }
  | { t: 'failed'; cause: string }
  | { t: 'resumed'; reason: string; durationMs: number }
  | { t: 'timings'; marks: Record<string, number> }
  | { t: 'idle' }
);

/**
 * An AgentSink whose playout plays reply audio in real time (× `speed`): `playback()` reports playing/heardMs
 * like the session's playout queue, and `agent.playbackIdle()` is called once a finished reply has played out
 * (or right after an interruption).
 */
export class SimSink extends EventLog<Ev> implements AgentSink {
  agent: Agent | undefined;
  speed: number;
  private replyOpen = false;
  private queuedMs = 0;
  private playStart = -1;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(speed = 1) {
    super();
    this.speed = speed;
  }

  audio(pcm: Buffer, sampleRate: number): void {
    const now = performance.now();
    if (!this.replyOpen && this.heard(now) >= this.queuedMs) {
      // a new reply
      this.queuedMs = 0;
      this.playStart = now;
    } else if (this.heard(now) >= this.queuedMs) {
      this.playStart = now - this.queuedMs / this.speed; // a gap: playback resumes now
    }
    this.replyOpen = true;
    this.queuedMs += (pcm.length / 2 / sampleRate) * 1000;
    this.push({ t: 'audio', bytes: pcm.length, rate: sampleRate, at: now });
  }
  replyDone(): void {
    this.replyOpen = false;
    this.push({ t: 'replyDone', at: performance.now() });
    this.scheduleIdle();
  }
  interrupted(): void {
    const heardMs = this.heard(performance.now());
    this.replyOpen = false;
    this.queuedMs = 0;
    this.playStart = -1;
    clearTimeout(this.idleTimer);
    this.push({ t: 'interrupted', heardMs, at: performance.now() });
    this.idleTimer = setTimeout(() => this.idle(), 0);
  }
  transcript(speaker: Speaker, text: string, final: boolean): void {
    this.push({ t: 'transcript', speaker, text, final, at: performance.now() });
  }
  hangup(reason: string): void {
    this.push({ t: 'hangup', reason, at: performance.now() });
  }
  failed(cause: string): void {
    this.push({ t: 'failed', cause, at: performance.now() });
  }
  resumed(info: { reason: string; durationMs: number }): void {
    this.push({ t: 'resumed', ...info, at: performance.now() });
  }
  playback(): { playing: boolean; heardMs: number } {
    const now = performance.now();
    const heardMs = this.heard(now);
    return { playing: this.replyOpen || heardMs < this.queuedMs, heardMs };
  }
  replyTimings(marks: Record<string, number>): void {
    this.push({ t: 'timings', marks: { ...marks }, at: performance.now() });
  }

  finals(speaker: Speaker): string[] {
    return this.of('transcript')
      .filter((e) => e.speaker === speaker && e.final)
      .map((e) => e.text);
  }
  override waitFor(pred: (e: Ev) => boolean, timeoutMs = 4000, what = 'event'): Promise<Ev> {
    return super.waitFor(pred, timeoutMs, what);
  }
  /** Events after index `from` matching pred. */
  since<T extends Ev['t']>(from: number, t: T): Extract<Ev, { t: T }>[] {
    return this.events.slice(from).filter((e): e is Extract<Ev, { t: T }> => e.t === t);
  }
  dispose(): void {
    clearTimeout(this.idleTimer);
  }

  private heard(now: number): number {
    if (this.playStart < 0) return 0;
    return Math.min(this.queuedMs, (now - this.playStart) * this.speed);
  }
  private scheduleIdle(): void {
    clearTimeout(this.idleTimer);
    const left = (this.queuedMs - this.heard(performance.now())) / this.speed;
    this.idleTimer = setTimeout(() => {
      if (this.replyOpen) return;
      if (this.heard(performance.now()) < this.queuedMs) return this.scheduleIdle();
      this.idle();
    }, Math.max(0, left) + 1);
  }
  private idle(): void {
    this.idleTimer = undefined;
    this.push({ t: 'idle', at: performance.now() });
    this.agent?.playbackIdle?.();
  }
}

// ---- caller -----------------------------------------------------------------------------------

/**
 * The caller's side of the media stream: a 20 ms frame every `20 / speed` ms of wall time — queued speech,
 * else silence (as FreeSWITCH keeps streaming) — into `agent.pushAudio`.
 */
export class CallerLine {
  private readonly agent: Agent;
  private readonly speed: number;
  private queue: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private sent = 0;
  private drained: (() => void)[] = [];
  framesSent = 0;

  constructor(agent: Agent, speed = 5) {
    this.agent = agent;
    this.speed = speed;
  }

  start(): this {
    this.t0 = performance.now();
    this.sent = 0;
    this.timer = setInterval(() => this.tick(), 2);
    return this;
  }

  /** Queue audio (8 kHz PCM); resolves once all of it has been sent. */
  say(pcm: Buffer): Promise<void> {
    for (let off = 0; off < pcm.length; off += 320) {
      const f = Buffer.alloc(320);
      pcm.copy(f, 0, off, Math.min(off + 320, pcm.length));
      this.queue.push(f);
    }
    return new Promise((resolve) => this.drained.push(resolve));
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const d of this.drained) d();
    this.drained = [];
  }

  private tick(): void {
    const due = Math.floor(((performance.now() - this.t0) * this.speed) / 20);
    const silence = Buffer.alloc(320);
    for (let n = 0; this.sent < due && n < 20; n++, this.sent++) {
      const f = this.queue.shift();
      this.agent.pushAudio(f ?? silence);
      this.framesSent++;
      if (f !== undefined && this.queue.length === 0) {
        const ds = this.drained;
        this.drained = [];
        for (const d of ds) d();
      }
    }
  }
}

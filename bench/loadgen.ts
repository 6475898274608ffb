/**
 * The benchmark's load generator, run as its own process (so its CPU is not callbridge's): the FreeSWITCH
 * emulator (ESL server + mod_audio_stream clients sending real-time 20 ms frames) and the Gemini Live fake
 * (answers each caller turn with 24 kHz audio faster than real time, interrupts when the caller talks over it).
 * Driven by the orchestrator (bench/run.ts) over IPC.
 *
 * With `reconnectEveryMs` the Gemini fake retires every connection that long after its setup (goAway, then a
 * 1011 close after `timeLeft`), as the service does every ~10 minutes, and `reconnects` reports per reconnect:
 * goAway → the new connection's setupComplete, the caller-audio gap the fake saw, the reply-audio gap the
 * caller heard, and caller frames lost or repeated (frames sent by the emulator vs. caller audio the fake's
 * conversation holds, over the window).
 */
import {
  FreeSwitchEmulator,
  type EmulatedChannel,
  CartesiaFake,
  DeepgramFake,
  type FakeLiveSession,
  GeminiLiveFake,
  GeminiTextFake,
} from '../test/bed/index.ts';
import { converse, epochNow, type Interval, type LagSpread, LoopLag, TurnClock, utterances } from './callers.ts';
import { speechLike } from './speech.ts';

export type LoadgenRequest =
  | {
      cmd: 'init';
      /** all (default): emulator and vendor fakes in this process; or only one of them (--loadgen-procs 2). */
      role?: 'all' | 'emulator' | 'vendors';
      replyMs: number;
      bargeInShare: number;
      cascade: boolean;
      replyPace?: 'burst' | 'realtime';
      reconnectEveryMs?: number;
    }
  | { cmd: 'reconnects' }
  | { cmd: 'churn'; calls: number; concurrency: number }
  | { cmd: 'place'; calls: number; staggerMs: number; idle?: boolean }
  | { cmd: 'window'; frameMs: number }
  | { cmd: 'stats' }
  | { cmd: 'hangupAll' }
  | { cmd: 'stop' };

/** p50/p99/max. */
export interface Spread {
  p50: number;
  p99: number;
  max: number;
}

export interface ReconnectStats {
  /** Reconnects whose goAway fell in the window, and how many of them completed. */
  goAways: number;
  reconnects: number;
  /** goAway sent → the new connection's setupComplete, ms. */
  resumeMs: Spread;
  /** Last caller audio on the old connection → first on the new one, ms (what the model saw). */
  callerGapMs: Spread;
  /** Largest gap inside a reply that was playing across a reconnect, ms (what the caller heard); and how many. */
  replyGapMs: Spread;
  repliesAcross: number;
  /** Caller frames (20 ms) the emulator sent in the window minus those the model's conversation gained: > 0 lost. */
  lostFrames: number;
  extraFrames: number;
  callsChecked: number;
}

export interface LoadgenStats {
  calls: number;
  streaming: number;
  replies: number;
  interruptedReplies: number;
  /** Per reply: silence FreeSWITCH inserted between its files, as a share of the reply's audio. */
  silenceShare: { p50: number; p99: number; max: number; total: number };
  /** Files played per reply (replies not barged in). */
  filesPerReply: { p50: number; p99: number; max: number };
  lateAudioFrames: number;
  maxAudioGapMs: number;
  clock: { maxMs: number; over10ms: number; ticks: number };
  cpuMs: number;
  wallMs: number;
  /** This process's own event-loop lag over the window, ms (less the probe's resolution). */
  loopLag: LagSpread;
  /** When this process's loop stalled over 10 ms, epoch ms. */
  stalls: Interval[];
  /** Caller-audio gaps the Gemini fake counted late: [previous frame, late frame], epoch ms. */
  lateGaps: Interval[];
}

const send = (m: unknown) => process.send!(m);
let fs: FreeSwitchEmulator | undefined;
let gemini: GeminiLiveFake | undefined;
let cascade: { dg: DeepgramFake; text: GeminiTextFake; cart: CartesiaFake } | undefined;
let bargeInShare = 0.2;
/** Reconnect mode: each placed call and its Gemini session (mapped by placing calls one at a time). */
const pairs: { ch: EmulatedChannel; session: FakeLiveSession; sentAt0: number; heldAt0: number }[] = [];
let reconnectMode = false;
let windowStart = 0;
let cpuStart = process.cpuUsage();
/** Every caller's turns on one timer; this process's own loop lag, to tell its stalls from callbridge's. */
let turns: TurnClock | undefined;
const lag = new LoopLag();
/** Caller-audio gaps the Gemini fake counted as late in the window: [last frame, this frame], epoch ms. */
let lateGaps: Interval[] = [];
const watched = new WeakSet<FakeLiveSession>();
const emulator = () => fs ?? fail('this load generator process runs no FreeSWITCH emulator');
const fail = (msg: string): never => {
  throw new Error(msg);
};

/**
 * Notes when each late caller frame arrived (the fake only counts them): the gap is then checked against the
 * load generator processes' stalls (LoopLag) to say whose fault it was. A hook the session calls, not an
 * accessor put on it: redefining a property turns the session into a slow dictionary object on the fake's hot path.
 */
function watchLateAudio(s: FakeLiveSession): void {
  if (watched.has(s)) return;
  watched.add(s);
  s.onLateAudio = (previousAt) => {
    if (lateGaps.length >= 100_000) return;
    const now = epochNow();
    lateGaps.push([now - (performance.now() - previousAt), now]);
  };
}

async function handle(m: LoadgenRequest): Promise<unknown> {
  switch (m.cmd) {
    case 'init': {
      bargeInShare = m.bargeInShare;
      const role = m.role ?? 'all';
      if (role !== 'vendors') {
        fs = await FreeSwitchEmulator.start({ keepEventLog: false, recordHeardAudio: false });
        turns = new TurnClock();
        // The emulator records every ESL command for tests; nothing here reads them, so they are not kept.
        const emu = fs;
        setInterval(() => emu.commands.splice(0), 2000).unref();
      }
      reconnectMode = Boolean(m.reconnectEveryMs);
      (globalThis as { replyMs?: number }).replyMs = m.replyMs;
      if (role === 'emulator') return { eslPort: fs!.eslPort };
      // burst: 40 ms messages every 10 ms (4× real time); realtime: every 40 ms, as a model streams a long answer.
      const realtime = m.replyPace === 'realtime';
      gemini = await GeminiLiveFake.start({
        apiKey: 'bench',
        recordAudio: false,
        autoReply: {
          replyAudio: speechLike(m.replyMs, 24000, 3),
          chunkMs: 40,
          paceMs: 10,
          realtime,
          transcripts: false,
        },
        ...(m.reconnectEveryMs ? { goAwayAfterMs: m.reconnectEveryMs, goAwayTimeLeftMs: 5000 } : {}),
      });
      if (m.cascade) {
        // A reply of about replyMs: Cartesia renders 60 ms per character.
        const sentence = 'Yes, we are open until midnight tonight. ';
        const text = sentence.repeat(Math.max(1, Math.round(m.replyMs / 60 / sentence.length))).trim();
        cascade = {
          dg: await DeepgramFake.start({
            apiKey: 'bench',
            recordAudio: false,
            auto: { transcript: 'Is the restaurant still open tonight?', latencyMs: 60 },
          }),
          text: await GeminiTextFake.start({
            apiKey: 'bench',
            autoReply: text,
            autoFirstTokenDelayMs: 250,
            autoTokenDelayMs: 30,
          }),
          cart: await CartesiaFake.start({ apiKey: 'bench', recordSent: false, firstChunkDelayMs: 80, paceMs: 10 }),
        };
      }
      return {
        ...(fs && { eslPort: fs.eslPort }),
        geminiUrl: cascade ? cascade.text.baseUrl : gemini.baseUrl,
        ...(cascade && { deepgramUrl: cascade.dg.url, cartesiaUrl: cascade.cart.baseUrl }),
      };
    }
    case 'churn': {
      // Short calls, `concurrency` at a time: connect, say a few words, hear the start of the answer, hang up.
      const em = emulator();
      let started = 0;
      let done = 0;
      const one = async (): Promise<void> => {
        while (started < m.calls) {
          started++;
          const ch = em.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
          const t0 = Date.now();
          while (!ch.stream?.connected && Date.now() - t0 < 10000 && !ch.hungUp)
            await new Promise((r) => setTimeout(r, 20));
          const u = utterances(ch.stream?.rate ?? 8000);
          ch.say(u.short, u.rate);
          while (ch.heard.length === 0 && Date.now() - t0 < 4000 && !ch.hungUp)
            await new Promise((r) => setTimeout(r, 20));
          await ch.hangup().catch(() => {});
          await ch.waitDestroyed(5000).catch(() => {});
          done++;
        }
      };
      await Promise.all(Array.from({ length: m.concurrency }, one));
      return { done, left: em.channels.size };
    }
    case 'place': {
      const em = emulator();
      const replyMs = (globalThis as { replyMs?: number }).replyMs ?? 2000;
      const placed: EmulatedChannel[] = [];
      for (let i = 0; i < m.calls; i++) {
        const ch = em.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
        placed.push(ch);
        // One at a time, so that the n-th Gemini session is the n-th call's.
        if (reconnectMode) pairs.push({ ch, session: await gemini!.nextSession(10000), sentAt0: 0, heldAt0: 0 });
        if (!m.idle) converse(ch, turns!, replyMs, bargeInShare);
        await new Promise((r) => setTimeout(r, m.staggerMs));
      }
      const t0 = Date.now();
      while (placed.some((c) => !c.stream?.connected) && Date.now() - t0 < 30000)
        await new Promise((r) => setTimeout(r, 100));
      return { streaming: placed.filter((c) => c.stream?.connected).length };
    }
    case 'window': {
      windowStart = performance.now();
      cpuStart = process.cpuUsage();
      lag.reset();
      lateGaps = [];
      fs?.clockLateness(true);
      for (const s of gemini?.sessions ?? []) {
        watchLateAudio(s);
        s.lateAudio = 0;
        s.maxAudioGapMs = 0;
        // Late = more than one message interval behind (messages carry frameMs of audio each).
        s.lateAfterMs = 2 * m.frameMs + 20;
      }
      lateGaps = [];
      for (const p of pairs) {
        p.sentAt0 = p.ch.stream?.framesSent ?? 0;
        p.heldAt0 = latest(p.session).conversationAudioBytes;
      }
      return {};
    }
    case 'stats':
      return stats();
    case 'reconnects':
      return reconnects();
    case 'hangupAll': {
      turns?.clear();
      if (!fs) return { left: 0 };
      await Promise.all([...fs.channels.values()].map((c) => c.hangup().catch(() => {})));
      return { left: fs.channels.size };
    }
    case 'stop':
      turns?.stop();
      lag.stop();
      await fs?.stop();
      await gemini?.stop();
      if (cascade) await Promise.all([cascade.dg.stop(), cascade.text.stop(), cascade.cart.stop()]);
      setImmediate(() => process.exit(0));
      return {};
  }
}

/** The newest connection of a call's conversation. */
function latest(first: FakeLiveSession): FakeLiveSession {
  return gemini!.conversationSessions(first.conversation).at(-1) ?? first;
}

function spread(v: number[]): Spread {
  v.sort((a, b) => a - b);
  const q = (p: number) => (v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))]! : Number.NaN);
  return { p50: q(0.5), p99: q(0.99), max: v.at(-1) ?? Number.NaN };
}

function reconnects(): ReconnectStats {
  const resume: number[] = [];
  const callerGap: number[] = [];
  const replyGap: number[] = [];
  let goAways = 0;
  let lost = 0;
  let extra = 0;
  for (const p of pairs) {
    const sessions = gemini!.conversationSessions(p.session.conversation);
    for (let k = 1; k <= sessions.length; k++) {
      const old = sessions[k - 1]!;
      if (old.goAwayAt < windowStart) continue;
      goAways++;
      const next = sessions[k];
      if (next === undefined || next.setupCompletedAt === 0) continue;
      resume.push(next.setupCompletedAt - old.goAwayAt);
      if (old.lastAudioAt > 0 && next.firstAudioAt > 0) callerGap.push(next.firstAudioAt - old.lastAudioAt);
      // Files the caller heard around the switch; gaps under 300 ms are inside one reply.
      const from = old.goAwayAt - 500;
      const to = next.setupCompletedAt + 1000;
      const segs = p.ch.heard.filter((s) => s.endedAt >= from && s.startedAt <= to && s.status !== 'playing');
      if (!segs.some((s) => s.startedAt <= next.setupCompletedAt && s.endedAt >= old.goAwayAt)) continue;
      let worst = 0;
      for (let i = 1; i < segs.length; i++) {
        const gap = segs[i]!.startedAt - segs[i - 1]!.endedAt;
        if (gap < 300) worst = Math.max(worst, gap);
      }
      replyGap.push(worst);
    }
    // 20 ms frames of 16 kHz audio are 640 bytes.
    const sent = (p.ch.stream?.framesSent ?? 0) - p.sentAt0;
    const held = (latest(p.session).conversationAudioBytes - p.heldAt0) / 640;
    if (sent > held) lost += sent - held;
    else extra += held - sent;
  }
  return {
    goAways,
    reconnects: resume.length,
    resumeMs: spread(resume),
    callerGapMs: spread(callerGap),
    replyGapMs: spread(replyGap),
    repliesAcross: replyGap.length,
    lostFrames: lost,
    extraFrames: extra,
    callsChecked: pairs.length,
  };
}

function stats(): LoadgenStats {
  const shares: number[] = [];
  const files: number[] = [];
  let replies = 0;
  let interrupted = 0;
  const channels = [...(fs?.channels.values() ?? [])];
  for (const ch of channels) {
    // Consecutive files less than 300 ms apart belong to one reply; the gaps inside it are inserted silence.
    const segs = ch.heard.filter((s) => s.startedAt >= windowStart && s.status !== 'playing');
    let played = 0;
    let gaps = 0;
    let count = 0;
    let broken = false;
    const flush = () => {
      if (played > 0) {
        replies++;
        if (broken) interrupted++;
        else files.push(count);
        shares.push(gaps / played);
      }
      played = 0;
      gaps = 0;
      count = 0;
      broken = false;
    };
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      const prev = segs[i - 1];
      const gap = prev?.endedAt !== undefined ? s.startedAt - prev.endedAt : Infinity;
      if (gap > 300) flush();
      else gaps += Math.max(0, gap);
      played += s.playedMs;
      count++;
      if (s.status === 'break') broken = true;
    }
    flush();
  }
  shares.sort((a, b) => a - b);
  files.sort((a, b) => a - b);
  const q = (p: number, v = shares) => (v.length ? v[Math.min(v.length - 1, Math.floor(p * v.length))]! : 0);
  const cpu = process.cpuUsage(cpuStart);
  let late = 0;
  let maxGap = 0;
  for (const s of gemini?.sessions ?? []) {
    if (!s.isOpen) continue;
    late += s.lateAudio;
    maxGap = Math.max(maxGap, s.maxAudioGapMs);
  }
  // (cascade: caller audio goes to the Deepgram fake; late frames are only tracked for Gemini Live)
  return {
    calls: channels.length,
    streaming: channels.filter((c) => c.stream?.connected).length,
    replies,
    interruptedReplies: interrupted,
    silenceShare: {
      p50: q(0.5),
      p99: q(0.99),
      max: shares.at(-1) ?? 0,
      total: shares.reduce((a, b) => a + b, 0) / Math.max(1, shares.length),
    },
    filesPerReply: { p50: q(0.5, files), p99: q(0.99, files), max: files.at(-1) ?? 0 },
    lateAudioFrames: late,
    maxAudioGapMs: maxGap,
    clock: fs?.clockLateness() ?? { maxMs: 0, over10ms: 0, ticks: 0 },
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs: performance.now() - windowStart,
    loopLag: lag.spread,
    stalls: lag.stalls,
    lateGaps,
  };
}

process.on('message', (m: LoadgenRequest & { id: number }) => {
  handle(m).then(
    (result) => send({ id: m.id, result }),
    (err: Error) => send({ id: m.id, error: err.message }),
  );
});
send({ ready: true });

/**
 * GeminiLiveAgent across connections: the switch on goAway, resumption after 1011 / a drop / a dead socket,
 * the caller audio re-sent by number, the retry budget, the 3.8 setup rules; against the Gemini Live fake.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GoogleGenAI, Modality, ThinkingLevel } from '@google/genai';
import pino from 'pino';
import type { AgentSettings, AgentSink, Speaker } from '../../src/agents/agent.ts';
import { GeminiLiveAgent, type GeminiLiveAgentOptions } from '../../src/agents/gemini-live/gemini-live-agent.ts';
import { ReplayRing, ResumptionPolicy } from '../../src/agents/gemini-live/resumption.ts';
import { type FakeLiveSession, GeminiLiveFake, type GeminiLiveFakeOptions } from '../bed/index.ts';
import { liveAgentCleanup, sleep, until } from '../support/live-agent-bed.ts';
import { EventLog } from '../support/event-log.ts';

const KEY = 'test-key-123';
const SETTINGS: AgentSettings = { systemInstructions: 'Be brief.', voice: 'Kore', language: 'en-US' };

type Ev =
  | { t: 'audio'; pcm: Buffer }
  | { t: 'replyDone' }
  | { t: 'interrupted' }
  | { t: 'transcript'; speaker: Speaker; text: string; final: boolean }
  | { t: 'failed'; cause: string }
  | { t: 'resumed'; reason: string; durationMs: number };

class Sink extends EventLog<Ev> implements AgentSink {
  audio(pcm: Buffer): void {
    this.push({ t: 'audio', pcm: Buffer.from(pcm) });
  }
  replyDone(): void {
    this.push({ t: 'replyDone' });
  }
  interrupted(): void {
    this.push({ t: 'interrupted' });
  }
  transcript(speaker: Speaker, text: string, final: boolean): void {
    this.push({ t: 'transcript', speaker, text, final });
  }
  hangup(): void {}
  failed(cause: string): void {
    this.push({ t: 'failed', cause });
  }
  resumed(info: { reason: string; durationMs: number }): void {
    this.push({ t: 'resumed', ...info });
  }
  playback(): { playing: boolean; heardMs: number } {
    return { playing: false, heardMs: 0 };
  }
  replyTimings(): void {}
  audioBytes(): Buffer {
    return Buffer.concat(this.of('audio').map((e) => e.pcm));
  }
}

/** A 20 ms 16 kHz frame whose samples are unique to `n`, so loss, repeats and reordering all show. */
function frame(n: number): Buffer {
  const b = Buffer.alloc(640);
  for (let i = 0; i < 320; i++) b.writeInt16LE(((n * 320 + i) % 60000) - 30000, i * 2);
  return b;
}

function pcm24k(ms: number): Buffer {
  const b = Buffer.alloc(48 * ms);
  for (let i = 0; i < b.length / 2; i++) b.writeInt16LE(((i * 7919) % 20000) - 10000, i * 2);
  return b;
}

const { fakes, agents } = liveAgentCleanup();

async function connected(fakeOpts: GeminiLiveFakeOptions = {}, over: Partial<GeminiLiveAgentOptions> = {}) {
  const fake = await GeminiLiveFake.start({ apiKey: KEY, ...fakeOpts });
  fakes.push(fake);
  const lines: Record<string, any>[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const agent = new GeminiLiveAgent({
    apiKey: KEY,
    model: 'gemini-3.8-live',
    baseUrl: fake.baseUrl,
    connectTimeoutMs: 2000,
    settings: SETTINGS,
    logger,
    ...over,
  });
  agents.push(agent);
  const sink = new Sink();
  await agent.start(sink);
  const s = await fake.nextSession();
  return { fake, agent, sink, s, lines };
}

/** Caller frames every 10 ms (twice real time) until stopped; resolves with how many were pushed. */
function talk(agent: GeminiLiveAgent, first = 0): { stop(): Promise<number> } {
  let n = first;
  let on = true;
  const done = (async () => {
    while (on) {
      agent.pushAudio(frame(n++));
      await sleep(10);
    }
    return n;
  })();
  return {
    stop: async () => {
      on = false;
      return done;
    },
  };
}

/** The conversation's caller audio as the fake's model holds it equals frames first..last-1, each once. */
function assertEveryFrameOnce(s: FakeLiveSession, first: number, last: number): void {
  const want = Buffer.concat(Array.from({ length: last - first }, (_, i) => frame(first + i)));
  const got = Buffer.concat(s.conversationAudio);
  assert.equal(got.length / 640, want.length / 640, 'frames the model holds');
  assert.ok(got.equals(want), 'every caller frame once, in order');
}

describe('replay ring and policy', () => {
  test('the ring numbers messages, keeps the newest within its capacity, replays what follows a number', () => {
    const ring = new ReplayRing(4);
    for (const m of ['a', 'b', 'c', 'd', 'e']) ring.push(m);
    assert.equal(ring.last, 5);
    assert.equal(ring.overflowed, 1);
    const out: string[] = [];
    assert.deepEqual(
      ring.replayAfter(0, (m) => out.push(m)),
      { replayed: 4, missing: 1, base: 1 },
    );
    assert.deepEqual(out, ['b', 'c', 'd', 'e']);
    ring.trimThrough(3);
    assert.equal(ring.size, 2);
    out.length = 0;
    assert.deepEqual(
      ring.replayAfter(3, (m) => out.push(m)),
      { replayed: 2, missing: 0, base: 3 },
    );
    assert.deepEqual(out, ['d', 'e']);
  });

  test('the policy maps lastConsumedClientMessageIndex through the connection base; a reply or tool call blocks a switch', () => {
    const p = new ResumptionPolicy(100);
    for (let i = 0; i < 10; i++) p.ring.push(`m${i + 1}`);
    p.connectionStarted(4); // this connection's message 0 is number 5
    p.update({ newHandle: 'h1', resumable: true, lastConsumedClientMessageIndex: '2' });
    assert.equal(p.handle, 'h1');
    assert.equal(p.covered, 7);
    assert.equal(p.ring.size, 3);
    assert.ok(p.safeToSwitch(false));
    assert.ok(!p.safeToSwitch(true), 'not while replying');
    p.update({ resumable: false });
    assert.ok(!p.safeToSwitch(false), 'the newest update was not resumable');
    p.update({ newHandle: 'h2', resumable: true });
    assert.equal(p.covered, 10, 'without an index: everything sent when it arrived');
    p.toolCall(['t1']);
    assert.ok(!p.safeToSwitch(false));
    p.toolDone(['t1']);
    assert.ok(p.safeToSwitch(false));
    p.update({ newHandle: 'h3', resumable: true }, true);
    assert.equal(p.handle, 'h3');
    assert.equal(p.covered, 10, 'a resumed connection’s first handle covers what the old one did');
  });
});

describe('GeminiLiveAgent resumption', () => {
  test('goAway while idle: switches with the newest handle, re-sends by index, every caller frame once (transparent)', async () => {
    const { fake, agent, sink, s, lines } = await connected({}, { transparent: true });
    assert.deepEqual(s.setup?.sessionResumption, { transparent: true });
    const caller = talk(agent);
    await s.waitForAudioMs(400, 3000);
    s.goAway(3000);
    const resumed = await sink.waitFor((e) => e.t === 'resumed', 3000);
    assert.equal((resumed as { reason: string }).reason, 'goAway');
    const s2 = fake.sessions[1]!;
    assert.equal(s2.resumedFrom, s.handles.at(-1), 'resumed with the newest handle');
    assert.equal(s2.setup?.sessionResumption?.transparent, true);
    await s2.waitForAudioMs(400, 3000);
    const n = await caller.stop();
    await until(() => s2.conversationAudioBytes === n * 640, 3000, 'every frame arrived');
    assertEveryFrameOnce(s2, 0, n);
    assert.ok((await s.closed).code > 0, 'the old connection is closed');
    assert.equal(sink.of('failed').length, 0);
    assert.equal(agent.resumptions, 1);
    const log = lines.find((l) => l.msg === 'gemini live session resumed');
    assert.ok(log && log.reason === 'goAway' && log.attempts === 1);
  });

  test('without transparent (the Developer API): frames sent after the newest handle are re-sent, none twice', async () => {
    // The only handle is the one sent right after setup, before any frame: with no index to say what a handle
    // holds, a handle issued while frames are in flight is ambiguous (that race is the bench's to measure), so
    // this test keeps the exchange unambiguous and checks the re-send itself: every frame after the handle.
    const { fake, agent, sink, s } = await connected({ resumption: { updateEveryMs: 600_000 } });
    await sleep(100); // let the post-setup handle arrive before the first frame
    const caller = talk(agent);
    await s.waitForAudioMs(400, 3000);
    s.goAway(3000);
    await sink.waitFor((e) => e.t === 'resumed', 3000);
    const s2 = fake.sessions[1]!;
    await s2.waitForAudioMs(200, 3000);
    const n = await caller.stop();
    await until(() => s2.conversationAudioBytes >= (n - 1) * 640, 3000, 'the frames arrived');
    assertEveryFrameOnce(s2, 0, n);
  });

  test('goAway in the middle of a reply: the reply plays out whole, then the switch', async () => {
    const { fake, sink, s } = await connected();
    const reply = pcm24k(600);
    const sending = s.sendAudio(reply, { chunkMs: 40, paceMs: 10, transcript: 'one two three four' });
    await sink.waitFor((e) => e.t === 'audio');
    s.goAway(5000);
    await sending;
    await sleep(100);
    assert.equal(fake.sessions.length, 1, 'no switch while the reply is being generated');
    s.generationComplete();
    await sink.waitFor((e) => e.t === 'resumed', 3000);
    assert.ok(sink.audioBytes().equals(reply), 'the whole reply, once');
    const kinds = sink.events.map((e) => e.t).filter((t) => t !== 'audio' && t !== 'transcript');
    assert.deepEqual(kinds, ['replyDone', 'resumed']);
    assert.equal(sink.of('interrupted').length, 0);
  });

  test('goAway when the reply never ends: the switch happens before the deadline anyway', async () => {
    const { fake, sink, s } = await connected();
    void s.sendAudio(pcm24k(4000), { chunkMs: 40, paceMs: 40 });
    await sink.waitFor((e) => e.t === 'audio');
    s.goAway(1600); // the agent keeps 1 s for the switch: it switches after about 600 ms
    const ev = await sink.waitFor((e) => e.t === 'resumed', 3000);
    assert.equal((ev as { reason: string }).reason, 'goAway (time ran out)');
    assert.equal(fake.sessions.length, 2);
    assert.equal(s.closeInfo?.code, 1000, 'the agent closed it, not the deadline');
    assert.equal(sink.of('replyDone').length, 1, 'the cut reply is closed');
  });

  test('an abrupt 1011 and a dropped TCP connection are resumed; the conversation continues', async () => {
    const { fake, agent, sink, s } = await connected({}, { transparent: true });
    const caller = talk(agent);
    await s.waitForAudioMs(200, 3000);
    s.close(1011, 'Internal error encountered.');
    await sink.waitFor((e) => e.t === 'resumed' && e.reason === '1011', 3000);
    const s2 = fake.sessions[1]!;
    await s2.waitForAudioMs(200, 3000);
    s2.terminate();
    await sink.waitFor((e) => e.t === 'resumed' && e.reason === 'drop', 3000);
    const s3 = fake.sessions[2]!;
    assert.equal(s3.conversation, s.conversation);
    await s3.waitForAudioMs(200, 3000);
    const n = await caller.stop();
    await until(() => s3.conversationAudioBytes === n * 640, 3000, 'every frame arrived');
    assertEveryFrameOnce(s3, 0, n);
    assert.equal(sink.of('failed').length, 0);
  });

  test('refused reconnects are retried with backoff; when the budget runs out the call fails saying why', async () => {
    const { fake, sink, s } = await connected({}, { resumeBudgetMs: 1500 });
    fake.options.refuse = 'http-503';
    fake.options.refuseCount = 2;
    s.close(1011, 'Internal error encountered.');
    await sink.waitFor((e) => e.t === 'resumed', 3000);
    assert.deepEqual(
      fake.rejected.map((r) => r.status),
      [503, 503],
    );
    fake.options.refuseCount = undefined; // from now on every reconnect is refused
    fake.sessions[1]!.terminate();
    const ev = (await sink.waitFor((e) => e.t === 'failed', 5000)) as { cause: string };
    assert.match(
      ev.cause,
      /^gemini live closed: 1006; resumption failed: \d attempt\(s\) in 1500 ms failed, the last: .*503/,
    );
  });

  test('keepalive: a connection that answers neither pings nor anything else is dropped and resumed', async () => {
    const { sink, s } = await connected(
      // The fake does not read the dead socket, so it never sees it close: let it accept the handle anyway.
      { resumption: { updateEveryMs: 60_000, refuseWhileOpen: false } },
      { pingIntervalMs: 50, deadAfterMs: 300 },
    );
    await sleep(200);
    assert.equal(sink.of('resumed').length, 0, 'pongs keep a quiet connection alive');
    s.pauseReading(); // no pongs from now on
    const ev = await sink.waitFor((e) => e.t === 'resumed', 3000);
    assert.equal((ev as { reason: string }).reason, 'ping-timeout');
  });

  test('close() during a resumption releases everything and reports nothing more', async () => {
    const { fake, agent, sink, s } = await connected({ setupDelayMs: 0 });
    fake.options.neverCompleteSetup = true;
    s.close(1011, 'Internal error encountered.');
    await fake.nextSession(3000);
    await agent.close();
    await sleep(50);
    assert.equal(sink.of('failed').length + sink.of('resumed').length, 0);
    assert.equal(fake.openSessions.length, 0);
  });
});

describe('Gemini 3.8 Live setup', () => {
  test('the default setup carries no thinking level and leaves proactive audio alone; speak-first works', async () => {
    const { s, agent } = await connected();
    assert.equal(s.setup?.model, 'models/gemini-3.8-live');
    assert.equal(s.setup?.generationConfig?.thinkingConfig, undefined);
    assert.equal(s.setup?.proactivity, undefined);
    agent.speakFirst('Say hello.');
    assert.deepEqual(await s.nextMessage('realtimeInput'), { realtimeInput: { text: 'Say hello.' } });
  });

  test('a setting 3.8 refuses fails at call set-up with a clear message, before any connection', async () => {
    const fake = await GeminiLiveFake.start({ apiKey: KEY });
    fakes.push(fake);
    const base = {
      apiKey: KEY,
      baseUrl: fake.baseUrl,
      connectTimeoutMs: 2000,
      settings: SETTINGS,
      logger: pino({ level: 'silent' }),
    };
    const thinking = new GeminiLiveAgent({ ...base, model: 'gemini-3.8-live', thinkingLevel: 'low' });
    await assert.rejects(thinking.start(new Sink()), /GEMINI_THINKING_LEVEL=low is refused by gemini-3\.8-live/);
    const proactive = new GeminiLiveAgent({ ...base, model: 'gemini-3.8-live', proactiveAudio: false });
    await assert.rejects(proactive.start(new Sink()), /GEMINI_PROACTIVE_AUDIO=false is refused by gemini-3\.8-live/);
    const window = new GeminiLiveAgent({
      ...base,
      model: 'gemini-3.8-live',
      compression: { triggerTokens: 200000, targetTokens: 1000 },
    });
    await assert.rejects(window.start(new Sink()), /must be below the 131072-token window/);
    assert.equal(fake.upgrades, 0);
    const older = new GeminiLiveAgent({ ...base, model: 'gemini-3.1-flash-live-preview', thinkingLevel: 'low' });
    agents.push(older);
    await older.start(new Sink());
    const s = await fake.nextSession();
    assert.equal(s.setup?.generationConfig?.thinkingConfig?.thinkingLevel, 'LOW', 'older models still take it');
  });

  test('the fake refuses 3.8-invalid setups with 1007 and the reason, like the service', async () => {
    const fake = await GeminiLiveFake.start({ apiKey: KEY });
    fakes.push(fake);
    const ai = new GoogleGenAI({
      apiKey: KEY,
      vertexai: false,
      httpOptions: { baseUrl: fake.baseUrl, apiVersion: 'v1beta' },
    });
    const connect = (config: Record<string, unknown>) =>
      ai.live.connect({
        model: 'gemini-3.8-live',
        config: { responseModalities: [Modality.AUDIO], ...config },
        callbacks: { onmessage: () => {} },
      });
    await assert.rejects(
      connect({ thinkingConfig: { thinkingLevel: ThinkingLevel.LOW } }),
      /code 1007.*thinking_level is not supported/,
    );
    await assert.rejects(
      connect({ proactivity: { proactiveAudio: false } }),
      /code 1007.*proactive_audio cannot be disabled/,
    );
    await assert.rejects(
      connect({ sessionResumption: { handle: 'nope' } }),
      /code 1007.*handle is invalid or has expired/,
    );
  });
});

import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { GoogleGenAI, Modality } from '@google/genai';
import pino from 'pino';
import type { AgentSettings, AgentSink, Speaker } from '../../src/agents/agent.ts';
import { GeminiLiveAgent, type GeminiLiveAgentOptions } from '../../src/agents/gemini-live/gemini-live-agent.ts';
import { GeminiLiveFake, type GeminiLiveFakeOptions } from '../bed/index.ts';
import { EventLog } from '../support/event-log.ts';

const KEY = 'test-key-123';
const MODEL = 'gemini-3.1-flash-live-preview';
const SETTINGS: AgentSettings = {
  systemInstructions: 'You are the front desk of a small hotel. Be brief.',
  voice: 'Kore',
  language: 'de-DE',
  greeting: 'Hotel Adler, guten Tag!',
};

// ---- helpers ------------------------------------------------------------------------------------

type Ev =
  | { t: 'audio'; pcm: Buffer; rate: number }
  | { t: 'replyDone' }
  | { t: 'interrupted' }
  | { t: 'transcript'; speaker: Speaker; text: string; final: boolean }
  | { t: 'hangup'; reason: string }
  | { t: 'failed'; cause: string }
  | { t: 'resumed'; reason: string; durationMs: number };

class RecordingSink extends EventLog<Ev> implements AgentSink {
  audio(pcm: Buffer, sampleRate: number): void {
    this.push({ t: 'audio', pcm: Buffer.from(pcm), rate: sampleRate });
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
  hangup(reason: string): void {
    this.push({ t: 'hangup', reason });
  }
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

function captureLogger(): { logger: pino.Logger; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) }).child({
    uuid: 'call-1',
  });
  return { logger, lines };
}

/** 20 ms frames of 16 kHz PCM: a loud tone (speech) or silence. */
function frames16k(ms: number, loud: boolean, seed = 0): Buffer[] {
  const out: Buffer[] = [];
  for (let f = 0; f < ms / 20; f++) {
    const b = Buffer.alloc(640);
    for (let i = 0; i < 320; i++) {
      const v = loud ? Math.round(8000 * Math.sin((2 * Math.PI * 440 * (f * 320 + i)) / 16000)) : 0;
      b.writeInt16LE(v + (loud ? 0 : ((i + seed) % 3) - 1), i * 2);
    }
    out.push(b);
  }
  return out;
}

function pcm24k(ms: number, seed = 1): Int16Array {
  const n = (24000 * ms) / 1000;
  const a = new Int16Array(n);
  for (let i = 0; i < n; i++) a[i] = ((i * 7919 + seed * 104729) % 20000) - 10000;
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls cond every 5 ms; rejects naming what did not happen within ms. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} (${ms} ms)`);
    await sleep(5);
  }
}

/** p, or a rejection naming what did not happen within ms. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} (${ms} ms)`)), ms))),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** Sockets, servers and timers still alive (stdio pipes and the test runner's own handles excluded). */
function openHandles(): string[] {
  return process.getActiveResourcesInfo().filter((r) => /TCP|Timeout|Immediate/.test(r));
}

async function settle(): Promise<void> {
  await sleep(0);
  await new Promise((r) => setImmediate(r));
}

const fakes: GeminiLiveFake[] = [];
const agents: GeminiLiveAgent[] = [];

async function startFake(opts: GeminiLiveFakeOptions = {}): Promise<GeminiLiveFake> {
  const f = await GeminiLiveFake.start({ apiKey: KEY, ...opts });
  fakes.push(f);
  return f;
}

function makeAgent(fake: GeminiLiveFake, over: Partial<GeminiLiveAgentOptions> = {}) {
  const { logger, lines } = captureLogger();
  const agent = new GeminiLiveAgent({
    apiKey: KEY,
    model: MODEL,
    baseUrl: fake.baseUrl,
    connectTimeoutMs: 2000,
    settings: SETTINGS,
    logger,
    ...over,
  });
  agents.push(agent);
  return { agent, lines, sink: new RecordingSink() };
}

async function connected(opts: GeminiLiveFakeOptions = {}, over: Partial<GeminiLiveAgentOptions> = {}) {
  const fake = await startFake(opts);
  const a = makeAgent(fake, over);
  await a.agent.start(a.sink);
  const s = await fake.nextSession();
  return { fake, s, ...a };
}

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

after(async () => {
  await settle();
  assert.deepEqual(openHandles(), [], 'nothing may stay open after every agent and fake is closed');
});

// ---- the adapter ------------------------------------------------------------------------------

describe('GeminiLiveAgent', () => {
  test('connects with the SDK URL and a setup carrying model, voice, language, instructions, transcription, compression, resumption', async () => {
    const { agent, s, lines } = await connected();
    assert.equal(agent.kind, 'gemini-live');
    assert.equal(agent.inputSampleRate, 16000);
    assert.equal(s.path, '//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent');
    assert.equal(s.apiVersion, 'v1beta');
    assert.equal(s.key, KEY);
    assert.deepEqual(s.setup, {
      model: `models/${MODEL}`,
      generationConfig: {
        responseModalities: ['AUDIO'],
        speechConfig: { voiceConfig: { prebuiltVoiceConfig: { voiceName: 'Kore' } }, languageCode: 'de-DE' },
      },
      systemInstruction: { parts: [{ text: SETTINGS.systemInstructions }], role: 'user' },
      inputAudioTranscription: {},
      outputAudioTranscription: {},
      contextWindowCompression: { triggerTokens: '64000', slidingWindow: { targetTokens: '32000' } },
      sessionResumption: {},
    });
    assert.ok(s.setupCompleted);
    const info = lines.find((l) => l.msg === 'gemini live connected');
    assert.ok(info, 'logs the connection');
    assert.equal(info.uuid, 'call-1');
    assert.ok(!JSON.stringify(lines).includes(KEY), 'never logs the API key');
  });

  test('caller audio arrives at the service as the same 16 kHz PCM bytes, fast-path JSON', async () => {
    const fake = await startFake();
    const { agent, sink } = makeAgent(fake);
    const early = frames16k(40, true);
    for (const f of early) agent.pushAudio(f); // before start: dropped silently
    const starting = agent.start(sink);
    agent.pushAudio(early[0]!); // still connecting: dropped
    await starting;
    const s = await fake.nextSession();
    const sent = [...frames16k(200, true), ...frames16k(100, false)];
    for (const f of sent) agent.pushAudio(f);
    await s.waitForAudioMs(300, 2000);
    assert.equal(s.audioInBytes, 300 * 32);
    assert.ok(s.audioIn.equals(Buffer.concat(sent)), 'bytes arrive unchanged and in order');
    assert.deepEqual(s.audioMimeTypes, ['audio/pcm;rate=16000']);
    assert.equal(s.mediaChunksMessages, 0, 'uses realtimeInput.audio, not the deprecated mediaChunks');
    assert.equal(agent.sentFrames, sent.length);
    assert.equal(agent.droppedFrames, 0);
    await agent.close();
    agent.pushAudio(sent[0]!); // after close: dropped silently, no throw
    await s.closed;
    assert.equal(s.audioInBytes, 300 * 32);
  });

  test('model audio comes out of the sink as the same bytes at 24 kHz; turnComplete → replyDone', async () => {
    const { s, sink } = await connected();
    const reply = pcm24k(1000);
    await s.sendAudio(reply, { chunkMs: 40, paceMs: 0 });
    s.generationComplete();
    s.turnComplete();
    await sink.waitFor((e) => e.t === 'replyDone');
    const audio = sink.of('audio');
    assert.equal(audio.length, 25);
    assert.ok(audio.every((e) => e.rate === 24000));
    assert.ok(sink.audioBytes().equals(Buffer.from(reply.buffer)), 'same bytes, same order');
    assert.equal(sink.of('replyDone').length, 1);
    assert.equal(sink.events.at(-1)?.t, 'replyDone');
  });

  test('the sample rate is taken from the mimeType; non-audio parts are ignored', async () => {
    const { s, sink } = await connected();
    const pcm = Buffer.from(pcm24k(20).buffer);
    s.send({
      serverContent: {
        modelTurn: {
          parts: [
            { text: 'thinking...', thought: true },
            { inlineData: { mimeType: 'audio/pcm;rate=16000', data: pcm.toString('base64') } },
          ],
        },
      },
    });
    s.turnComplete();
    await sink.waitFor((e) => e.t === 'replyDone');
    const audio = sink.of('audio');
    assert.equal(audio.length, 1);
    assert.equal(audio[0]!.rate, 16000);
    assert.ok(audio[0]!.pcm.equals(pcm));
  });

  test('transcripts: whole utterance so far per speaker, finalized when the model answers and on turnComplete', async () => {
    const { s, sink } = await connected();
    s.sendInputTranscription(' Guten');
    s.sendInputTranscription(' Tag, ich');
    s.sendInputTranscription(' möchte buchen.');
    await s.sendAudio(pcm24k(120), { paceMs: 0, transcript: 'Gerne, für wann?' });
    s.turnComplete();
    await sink.waitFor((e) => e.t === 'replyDone');
    const tr = sink.of('transcript').map((e) => [e.speaker, e.text, e.final]);
    assert.deepEqual(tr, [
      ['caller', 'Guten', false],
      ['caller', 'Guten Tag, ich', false],
      ['caller', 'Guten Tag, ich möchte buchen.', false],
      ['caller', 'Guten Tag, ich möchte buchen.', true],
      ['agent', 'Gerne,', false],
      ['agent', 'Gerne, für', false],
      ['agent', 'Gerne, für wann?', false],
      ['agent', 'Gerne, für wann?', true],
    ]);
    // The caller's final comes before the first reply audio.
    const iFinal = sink.events.findIndex((e) => e.t === 'transcript' && e.speaker === 'caller' && e.final);
    const iAudio = sink.events.findIndex((e) => e.t === 'audio');
    assert.ok(iFinal < iAudio);
    // A new turn starts new utterances.
    s.sendInputTranscription('Morgen.');
    s.turnComplete();
    await sink.waitFor((e) => e.t === 'transcript' && e.text === 'Morgen.' && e.final);
  });

  test('interrupted → sink.interrupted, the agent utterance is closed with what was said', async () => {
    const { s, sink } = await connected();
    const sending = s.sendAudio(pcm24k(2000), {
      chunkMs: 40,
      paceMs: 5,
      transcript: 'Das Zimmer kostet hundert Euro pro Nacht',
    });
    await sink.waitFor((e) => e.t === 'audio');
    s.interrupt();
    s.turnComplete();
    await sending;
    await sink.waitFor((e) => e.t === 'transcript' && e.speaker === 'agent' && e.final);
    await sleep(20);
    assert.equal(sink.of('interrupted').length, 1);
    assert.equal(sink.of('replyDone').length, 0, 'an interrupted reply is not also reported done');
    const iInt = sink.events.findIndex((e) => e.t === 'interrupted');
    const agentFinal = sink.events.findIndex((e) => e.t === 'transcript' && e.speaker === 'agent' && e.final);
    assert.ok(agentFinal >= 0 && agentFinal < iInt, 'agent utterance finalized before interrupted');
    assert.ok(sink.audioBytes().length < 2000 * 48, 'the fake stopped the reply');
    assert.equal(sink.of('failed').length, 0);
  });

  test('usage metadata and a tool call the sink cannot run do not disturb the call (the call is answered with an error)', async () => {
    const { s, sink, lines } = await connected();
    s.usageMetadata();
    s.toolCall([{ id: 't1', name: 'lookup' }]);
    await s.sendAudio(pcm24k(40), { paceMs: 0 });
    s.turnComplete();
    await sink.waitFor((e) => e.t === 'replyDone');
    await until(() => s.toolResponses.length === 1, 2000, 'the call answered');
    assert.deepEqual(s.toolResponses[0], {
      functionResponses: [{ name: 'lookup', response: { error: 'tools are not available on this call' }, id: 't1' }],
    });
    assert.ok(lines.find((l) => l.msg === 'gemini live tool call answered' && l.tool === 'lookup'));
    assert.equal(sink.of('failed').length, 0);
  });

  test('speakFirst sends realtime text (hint, greeting, queued while connecting)', async () => {
    const fake = await startFake();
    const { agent, sink } = makeAgent(fake);
    const starting = agent.start(sink);
    agent.speakFirst(); // before setupComplete: sent once connected
    await starting;
    const s = await fake.nextSession();
    const first = await s.nextMessage('realtimeInput');
    assert.deepEqual(first, {
      realtimeInput: { text: 'The call has just been answered. Greet the caller by saying: Hotel Adler, guten Tag!' },
    });
    agent.speakFirst('Say hello to Mr. Smith.');
    const second = await s.nextMessage('realtimeInput');
    assert.equal(second.realtimeInput.text, 'Say hello to Mr. Smith.');
    assert.equal(s.clientContents.length, 0);
    assert.equal(sink.of('failed').length, 0);
  });

  test('speakFirst without a greeting uses a default; client-content on Gemini 3.1 is refused with 1007 like the real service', async () => {
    const fake = await startFake();
    const a = makeAgent(fake, { settings: { ...SETTINGS, greeting: undefined } });
    await a.agent.start(a.sink);
    const s = await fake.nextSession();
    a.agent.speakFirst();
    assert.deepEqual(await s.nextMessage('realtimeInput'), {
      realtimeInput: { text: 'The call has just been answered. Greet the caller.' },
    });
    const b = makeAgent(fake, { speakFirstVia: 'client-content' });
    await b.agent.start(b.sink);
    b.agent.speakFirst();
    const failed = await b.sink.waitFor((e) => e.t === 'failed');
    assert.match((failed as { cause: string }).cause, /1007/);
  });

  test('connect timeout: rejects within the bound naming model and timeout, and leaves nothing open', async () => {
    const fake = await startFake({ neverCompleteSetup: true });
    const { agent, sink } = makeAgent(fake, { connectTimeoutMs: 200 });
    const t0 = Date.now();
    await assert.rejects(agent.start(sink), (e: Error) => {
      assert.match(e.message, /gemini-3\.1-flash-live-preview/);
      assert.match(e.message, /200 ms/);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 190, `rejected after ${took} ms, before its 200 ms timeout`); // bench-ok: a lower bound on a timer, only larger when slow
    const s = fake.sessions[0]!;
    assert.ok(s.setup, 'the setup frame was sent');
    const closed = await within(s.closed, 500, 'the agent left the socket open');
    assert.ok(closed.code > 0);
    assert.equal(sink.events.length, 0, 'no sink calls for a failed start');
    await agent.close(); // still fine
    await fake.stop();
    await settle();
    assert.deepEqual(openHandles(), []);
  });

  test('a slow but successful setup within the timeout connects', async () => {
    const { agent, s } = await connected({ setupDelayMs: 150 }, { connectTimeoutMs: 1000 });
    assert.ok(s.setupCompleted);
    agent.pushAudio(frames16k(20, true)[0]!);
    await s.waitForAudioMs(20);
  });

  test("wrong API key: rejects with the close code and Google's reason", async () => {
    const fake = await startFake();
    const { agent, sink } = makeAgent(fake, { apiKey: 'wrong' });
    await assert.rejects(
      agent.start(sink),
      /gemini live: connecting to model gemini-3\.1-flash-live-preview failed: .*1008.*API key not valid/,
    );
    assert.equal(sink.events.length, 0);
  });

  test('empty API key: rejects at once without connecting', async () => {
    const fake = await startFake();
    const { agent, sink } = makeAgent(fake, { apiKey: '' });
    await assert.rejects(agent.start(sink), /gemini live: no API key configured/);
    assert.equal(fake.sessions.length, 0);
  });

  test('unknown model: rejects with the not-found reason', async () => {
    const fake = await startFake({ models: ['models/gemini-3.1-flash-live-preview'] });
    const { agent, sink } = makeAgent(fake, { model: 'gemini-live-2.5-flash-preview' });
    await assert.rejects(
      agent.start(sink),
      /1008.*models\/gemini-live-2\.5-flash-preview is not found for API version v1beta/,
    );
  });

  test('HTTP refusal of the upgrade: rejects with the status', async () => {
    const fake = await startFake({ refuse: 'http-403' });
    const { agent, sink } = makeAgent(fake);
    await assert.rejects(agent.start(sink), /gemini live: connecting to model .* failed: .*403/);
    assert.deepEqual(
      fake.rejected.map((r) => r.status),
      [403],
    );
  });

  test('nothing listening: rejects quickly with the socket error', async () => {
    const fake = await startFake();
    const baseUrl = fake.baseUrl;
    await fake.stop();
    const { agent, sink } = makeAgent(fake, { baseUrl });
    await assert.rejects(agent.start(sink), /gemini live: connecting to model .* failed: .*ECONNREFUSED/);
  });

  test('close() while connecting rejects start and closes the socket', async () => {
    const fake = await startFake({ neverCompleteSetup: true });
    const { agent, sink } = makeAgent(fake, { connectTimeoutMs: 5000 });
    const starting = agent.start(sink);
    const s = await fake.nextSession();
    await assert.rejects(Promise.all([starting, agent.close()]), /closed while connecting/);
    await s.closed;
  });

  test('a 1011 whose handle the service no longer knows → failed() exactly once, saying why; nothing after', async () => {
    const { agent, s, sink, fake } = await connected();
    agent.pushAudio(frames16k(20, true)[0]!);
    await s.waitForAudioMs(20);
    fake.expireHandles();
    s.close(1011, 'Internal error encountered.');
    const ev = await sink.waitFor((e) => e.t === 'failed');
    assert.deepEqual(ev, {
      t: 'failed',
      cause:
        'gemini live closed: 1011 Internal error encountered.; resumption failed: the service refused the resumption: connecting to model gemini-3.1-flash-live-preview failed: Live connection closed before setup completed (code 1007): Session resumption handle is invalid or has expired.',
    });
    assert.equal(fake.sessions.length, 2, 'one attempt: a refused handle is not retried');
    agent.pushAudio(frames16k(20, true)[0]!); // dropped silently
    agent.speakFirst(); // ignored
    await agent.close();
    await agent.close();
    await sleep(20);
    assert.equal(sink.of('failed').length, 1);
    assert.equal(sink.events.length, 1);
  });

  test('a 1007 mid-call is not resumed: failed() with the reason', async () => {
    const { s, sink, fake } = await connected();
    s.close(1007, 'Request contains an invalid argument.');
    const ev = await sink.waitFor((e) => e.t === 'failed');
    assert.deepEqual(ev, { t: 'failed', cause: 'gemini live closed: 1007 Request contains an invalid argument.' });
    await sleep(50);
    assert.equal(fake.sessions.length, 1);
  });

  test('close() is idempotent, closes the session cleanly and reports nothing', async () => {
    const { agent, s, sink } = await connected();
    const p1 = agent.close();
    const p2 = agent.close();
    assert.equal(p1, p2);
    await p1;
    const c = await s.closed;
    assert.equal(c.code, 1000);
    await agent.close();
    await sleep(20);
    assert.equal(sink.events.length, 0, 'a requested close is not a failure');
  });

  test('backpressure: frames are dropped and counted while the socket is backed up, never queued without bound', async () => {
    const { agent, s } = await connected({ recordAudio: false }, { maxBufferedBytes: 64 * 1024 });
    s.pauseReading();
    const frame = frames16k(20, true)[0]!;
    const n = 20000; // ≈ 18 MB of JSON: far beyond kernel socket buffers + 64 KiB
    for (let i = 0; i < n; i++) agent.pushAudio(frame);
    assert.ok(agent.droppedFrames > 0, 'some frames dropped');
    assert.equal(agent.sentFrames + agent.droppedFrames, n);
    s.resumeReading();
    await s.waitForAudioMs(agent.sentFrames * 20, 5000);
    assert.equal(s.audioInBytes, agent.sentFrames * 640, 'every frame that was not dropped arrived');
  });
});

// ---- the fake itself ------------------------------------------------------------------------------

describe('GeminiLiveFake', () => {
  test('wrong path → HTTP 404 on upgrade', async () => {
    const fake = await startFake();
    const ws = new WebSocket(
      `ws://127.0.0.1:${fake.port}//ws/google.ai.generativelanguage.v1beta.GenerativeService.Nope?key=${KEY}`,
    );
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        ws.terminate();
      });
      ws.on('error', () => {});
    });
    assert.equal(status, 404);
    const path = '//ws/google.ai.generativelanguage.v1beta.GenerativeService.Nope';
    assert.deepEqual(fake.rejected, [{ url: `${path}?key=${KEY}`, path, status: 404 }]);
  });

  test('missing key → 1008 like the real service; binary JSON frames parse in the SDK; mediaChunks accepted', async () => {
    const fake = await startFake();
    const ws = new WebSocket(
      `${fake.baseUrl.replace('http', 'ws')}//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent`,
    );
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ setup: { model: 'models/x' } }));
    const [code, reason] = await new Promise<[number, string]>((r) =>
      ws.once('close', (c, why) => r([c, why.toString()])),
    );
    assert.equal(code, 1008);
    assert.match(reason, /unregistered callers/);

    // The plain SDK against the fake: setupComplete arrives as a binary frame and is parsed.
    const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: fake.baseUrl, apiVersion: 'v1beta' } });
    const got: unknown[] = [];
    const session = await ai.live.connect({
      model: MODEL,
      config: { responseModalities: [Modality.AUDIO] },
      callbacks: { onmessage: (m) => void got.push(m) },
    });
    const s = fake.sessions[1]!;
    assert.equal(s.sent[0] && 'setupComplete' in s.sent[0], true);
    const pcm = frames16k(40, true);
    session.sendRealtimeInput({
      media: { data: Buffer.concat(pcm).toString('base64'), mimeType: 'audio/pcm;rate=16000' },
    });
    session.sendRealtimeInput({ audio: { data: pcm[0]!.toString('base64'), mimeType: 'audio/pcm;rate=16000' } });
    await s.waitForAudioMs(60);
    assert.equal(s.mediaChunksMessages, 1);
    assert.ok(s.audioIn.equals(Buffer.concat([...pcm, pcm[0]!])));
    session.close();
    await s.closed;
    assert.ok(got.length >= 1);
  });

  test('text frames mode works with the SDK too', async () => {
    const { s, sink } = await connected({ textFrames: true });
    await s.sendAudio(pcm24k(80), { paceMs: 0 });
    s.turnComplete();
    await sink.waitFor((e) => e.t === 'replyDone');
    assert.equal(sink.audioBytes().length, 80 * 48);
  });

  test('autoReply: speech then silence → caller transcript, reply audio with transcript, turnComplete', async () => {
    const reply = pcm24k(400, 3);
    const { agent, s, sink } = await connected({ autoReply: { replyAudio: reply, paceMs: 1 } });
    // 100 ms of speech is below minSpeechMs (200): no reply.
    for (const f of [...frames16k(100, true), ...frames16k(600, false)]) agent.pushAudio(f);
    await s.waitForAudioMs(700);
    await sleep(30);
    assert.equal(s.autoTurns, 0);
    for (const f of [...frames16k(300, true), ...frames16k(520, false)]) agent.pushAudio(f);
    await sink.waitFor((e) => e.t === 'replyDone');
    await sink.waitFor((e) => e.t === 'transcript' && e.speaker === 'agent' && e.final);
    assert.equal(s.autoTurns, 1);
    assert.ok(sink.audioBytes().equals(Buffer.from(reply.buffer)));
    const finals = sink
      .of('transcript')
      .filter((e) => e.final)
      .map((e) => [e.speaker, e.text]);
    assert.deepEqual(finals, [
      ['caller', 'caller turn 1'],
      ['agent', 'agent reply 1'],
    ]);
    assert.equal(sink.of('interrupted').length, 0);
    // speakFirst (clientContent) is answered too, without a caller transcript.
    agent.speakFirst();
    await sink.waitFor((e) => e.t === 'transcript' && e.text === 'agent reply 2' && e.final);
  });

  test('autoReply: caller speech during the reply → interrupted within ~60 ms of speech, reply stops', async () => {
    const reply = pcm24k(3000, 5); // 75 chunks × 5 ms pacing ≈ 375 ms wall clock to send
    const { agent, s, sink } = await connected({
      autoReply: { replyAudio: (turn) => (turn === 1 ? reply : pcm24k(200)), paceMs: 5 },
    });
    for (const f of [...frames16k(300, true), ...frames16k(500, false)]) agent.pushAudio(f);
    await sink.waitFor((e) => e.t === 'audio');
    const speech = frames16k(200, true);
    // 40 ms of speech: not yet an interruption.
    agent.pushAudio(speech[0]!);
    agent.pushAudio(speech[1]!);
    await s.waitForAudioMs(840);
    await sleep(15);
    assert.equal(s.interruptions, 0);
    // The third 20 ms frame reaches bargeInMs (60).
    agent.pushAudio(speech[2]!);
    await sink.waitFor((e) => e.t === 'interrupted', 1000);
    assert.equal(s.interruptions, 1);
    await sleep(20);
    assert.equal(sink.of('replyDone').length, 0, 'the interrupted reply is not reported done');
    const before = sink.audioBytes().length;
    assert.ok(before < reply.length * 2, `reply cut short (${before} of ${reply.length * 2} bytes)`);
    await sleep(40);
    assert.equal(sink.audioBytes().length, before, 'no more audio of the interrupted reply');
    // The rest of the caller's speech then silence → the next turn.
    for (const f of [...speech.slice(3), ...frames16k(520, false)]) agent.pushAudio(f);
    await sink.waitFor((e) => e.t === 'transcript' && e.text === 'agent reply 2' && e.final);
    assert.equal(s.autoTurns, 2);
  });

  test('autoReply: the reply counts as playing until its duration has passed (barge-in after generationComplete)', async () => {
    const { agent, s, sink } = await connected({ autoReply: { replyAudio: pcm24k(800), paceMs: 0 } });
    for (const f of [...frames16k(300, true), ...frames16k(500, false)]) agent.pushAudio(f);
    await until(() => s.sent.some((m) => m.serverContent?.generationComplete), 1000, 'no generationComplete');
    assert.equal(sink.audioBytes().length, 800 * 48, 'all audio sent, faster than real time');
    await sink.waitFor((e) => e.t === 'replyDone'); // at generationComplete: all audio produced
    assert.ok(!s.sent.some((m) => m.serverContent?.turnComplete), 'turnComplete waits for the presumed playback');
    for (const f of frames16k(60, true)) agent.pushAudio(f);
    await sink.waitFor((e) => e.t === 'interrupted', 1000);
  });

  test('autoReply with realtimePlayback: false sends turnComplete right after the audio', async () => {
    const { agent, s, sink } = await connected({
      autoReply: { replyAudio: pcm24k(2000), paceMs: 0, realtimePlayback: false },
    });
    for (const f of [...frames16k(300, true), ...frames16k(500, false)]) agent.pushAudio(f);
    await sink.waitFor((e) => e.t === 'replyDone');
    // Order, not milliseconds: turnComplete already went out with generationComplete (with realtime playback it waits).
    assert.ok(
      s.sent.some((m) => m.serverContent?.turnComplete),
      'did not wait for 2 s of playback',
    );
    assert.equal(sink.audioBytes().length, 2000 * 48);
  });

  test('stop() closes live sessions and clears pacing timers', async () => {
    const fake = await GeminiLiveFake.start({ apiKey: KEY });
    const { agent, sink } = makeAgent(fake);
    await agent.start(sink);
    const s = await fake.nextSession();
    const sending = s.sendAudio(pcm24k(5000), { paceMs: 50 });
    await sink.waitFor((e) => e.t === 'audio');
    await fake.stop();
    await sending;
    await sink.waitFor((e) => e.t === 'failed');
    await agent.close();
    await settle();
    assert.deepEqual(openHandles(), []);
  });
});

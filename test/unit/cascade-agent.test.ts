/**
 * The cascade agent against the three vendor fakes, through the real SDKs (Deepgram ws, Gemini SSE over
 * fetch, Cartesia ws), with the real Silero VAD. Caller audio is fed faster than real time (5×); the sink plays
 * reply audio in (simulated) real time.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  CallerLine,
  COUGH,
  type Fakes,
  makeAgent,
  openHandles,
  SHORT,
  SimSink,
  sleep,
  SPEECH,
  startFakes,
  SYSTEM,
  until,
  type AgentOpts,
} from './cascade-harness.ts';
import type { CascadeAgent } from '../../src/agents/cascade/cascade-agent.ts';
import { loadSileroModel } from '../../src/media/silero-model.ts';

const SILENCE_1S = Buffer.alloc(16000);
const REPLY1 = 'Of course, I can book that for you. For what time tonight? We have tables at seven and at nine.';

interface Call {
  agent: CascadeAgent;
  sink: SimSink;
  line: CallerLine;
  logs: Record<string, any>[];
}

const open: Call[] = [];

async function call(f: Fakes, o: AgentOpts = {}, sinkSpeed = 1, lineSpeed = 5): Promise<Call> {
  const { agent, logs } = makeAgent(f, o);
  const sink = new SimSink(sinkSpeed);
  sink.agent = agent;
  await agent.start(sink);
  const line = new CallerLine(agent, lineSpeed).start();
  const c = { agent, sink, line, logs };
  open.push(c);
  return c;
}

async function hangUp(c: Call): Promise<void> {
  c.line.stop();
  await c.agent.close();
  c.sink.dispose();
}

afterEach(async () => {
  for (const c of open.splice(0)) await hangUp(c);
});

before(async () => {
  await loadSileroModel(); // once per process, outside the timed tests
});

describe('cascade: a full turn', () => {
  let f: Fakes;
  before(async () => {
    f = await startFakes({
      dg: {
        auto: {
          transcript: (n) => (n === 1 ? 'I would like to book a table for two tonight.' : `Turn ${n} from the caller.`),
        },
      },
      gem: { autoReply: REPLY1, autoWordsPerToken: 2, autoFirstTokenDelayMs: 60, autoTokenDelayMs: 25 },
      cart: { msPerChar: 50, chunkMs: 40, firstChunkDelayMs: 30, paceMs: 2 },
    });
  });
  after(async () => f.stop());

  test('audio in → transcript → model → speech out; TTS audio starts before the model has finished', async (t) => {
    const c = await call(f);
    const dg = f.dg.sessions.at(-1)!;
    assert.equal(dg.query.get('model'), 'nova-3');
    assert.equal(dg.query.get('encoding'), 'linear16');
    assert.equal(dg.query.get('sample_rate'), '8000');
    assert.equal(dg.query.get('channels'), '1');
    assert.equal(dg.query.get('interim_results'), 'true');
    assert.equal(dg.query.get('endpointing'), '300');
    assert.equal(dg.query.get('utterance_end_ms'), '1000');
    assert.equal(dg.query.get('vad_events'), 'true');
    assert.equal(dg.query.get('smart_format'), 'true');
    assert.equal(dg.query.get('language'), 'en-US');
    assert.equal(dg.headers.authorization, 'Token dg-key');

    await c.line.say(SPEECH);
    const req = await f.gem.nextRequest(4000);
    assert.equal(req.model, 'gemini-flash-latest');
    assert.equal(req.apiVersion, 'v1beta');
    assert.equal(req.headers['x-goog-api-key'], 'gem-key');
    assert.equal(req.systemText, SYSTEM);
    assert.deepEqual(req.turns, [{ role: 'user', text: 'I would like to book a table for two tonight.' }]);
    assert.deepEqual(req.body.generationConfig?.thinkingConfig, { thinkingLevel: 'MINIMAL' });

    await c.sink.waitFor((e) => e.t === 'replyDone', 8000, 'replyDone');
    await req.done;
    const audio = c.sink.of('audio');
    assert.ok(audio.length > 10);
    assert.ok(audio.every((a) => a.rate === 8000 && a.bytes % 2 === 0));
    const firstAudioAt = audio[0]!.at;
    assert.ok(
      req.endedAt !== undefined && firstAudioAt < req.endedAt - 100,
      `first audio ${Math.round(req.endedAt! - firstAudioAt)} ms before the model finished`,
    );

    // Cartesia: one context, the reply in pieces with continue:true, then continue:false.
    const ctx = f.cart.allContexts().at(-1)!;
    assert.equal(ctx.modelId, 'sonic-3');
    assert.deepEqual(ctx.voice, { mode: 'id', id: 'voice-123' });
    assert.deepEqual(ctx.outputFormat, { container: 'raw', encoding: 'pcm_s16le', sample_rate: 8000 });
    assert.equal(ctx.language, 'en');
    assert.equal(ctx.addTimestamps, true);
    assert.equal(ctx.transcripts.at(-1), '');
    assert.ok(ctx.transcripts.length >= 4, `pieces: ${JSON.stringify(ctx.transcripts)}`);
    assert.equal(ctx.transcripts[0], 'Of course, I can book that for you. ');
    assert.equal(ctx.transcripts.join(''), REPLY1);
    const sess = f.cart.sessions.at(-1)!;
    const gens = sess.requests.filter((r) => r.context_id === ctx.id);
    assert.deepEqual(
      gens.map((r) => r.continue),
      [...gens.slice(0, -1).map(() => true), false],
    );
    assert.equal(sess.headers.authorization, 'Bearer cart-key');

    // Transcripts and timings.
    assert.deepEqual(c.sink.finals('caller'), ['I would like to book a table for two tonight.']);
    assert.deepEqual(c.sink.finals('agent'), [REPLY1]);
    const timings = c.sink.of('timings');
    assert.equal(timings.length, 1);
    const m = timings[0]!.marks;
    assert.ok(timings[0]!.at <= firstAudioAt, 'timings come before the first audio');
    for (const k of ['callerStoppedAt', 'sttFinalAt', 'llmFirstTokenAt', 'ttsFirstAudioAt'])
      assert.equal(typeof m[k], 'number', k);
    assert.ok(
      m.callerStoppedAt! <= m.sttFinalAt! &&
        m.sttFinalAt! <= m.llmFirstTokenAt! &&
        m.llmFirstTokenAt! <= m.ttsFirstAudioAt!,
      JSON.stringify(m),
    );
    assert.ok(m.llmFirstTokenAt! - m.sttFinalAt! >= 55, 'the fake model waited 60 ms for the first token');
    const rel = (k: string) => Math.round(m[k]! - m.callerStoppedAt!);
    t.diagnostic(
      `turn timings (fakes: endpointing 300 ms of audio fed at 5×, model first token 60 ms then 25 ms/token, TTS first chunk 30 ms): ` +
        `callerStopped 0 → sttFinal ${rel('sttFinalAt')} → llmFirstToken ${rel('llmFirstTokenAt')} → ttsFirstAudio ${rel('ttsFirstAudioAt')} ms; model finished ${Math.round(req.endedAt! - m.callerStoppedAt!)} ms`,
    );
  });

  test('conversation history carries over turns (what the model receives)', async () => {
    const c = await call(f, {}, 8);
    await c.line.say(SHORT);
    await c.sink.waitFor((e) => e.t === 'idle', 8000, 'first reply played');
    const first = f.gem.requests.at(-1)!;
    const mark = c.sink.events.length;
    await c.line.say(Buffer.concat([SILENCE_1S, SHORT]));
    await until(() => f.gem.requests.length > f.gem.requests.indexOf(first) + 1, 6000, 'second request');
    const second = f.gem.requests.at(-1)!;
    assert.deepEqual(second.turns, [
      { role: 'user', text: 'I would like to book a table for two tonight.' },
      { role: 'model', text: REPLY1 },
      { role: 'user', text: 'Turn 2 from the caller.' },
    ]);
    assert.equal(second.systemText, SYSTEM);
    await c.sink.waitFor((e) => e.t === 'replyDone' && c.sink.events.indexOf(e) > mark, 8000, 'second reply');
    assert.deepEqual(
      c.agent.history.map((h) => h.role),
      ['user', 'agent', 'user', 'agent'],
    );
  });

  test('speakFirst with a greeting: spoken without the model, then part of the history', async () => {
    const c = await call(f, { greeting: 'Hotel Adler, good evening!' }, 8);
    const before = f.gem.requests.length;
    c.agent.speakFirst();
    await c.sink.waitFor((e) => e.t === 'idle', 6000, 'greeting played');
    assert.equal(f.gem.requests.length, before, 'no model request for a fixed greeting');
    assert.equal(f.cart.allContexts().at(-1)!.transcripts[0], 'Hotel Adler, good evening!');
    assert.deepEqual(c.sink.finals('agent'), ['Hotel Adler, good evening!']);
    await c.line.say(SHORT);
    const req = await until(() => f.gem.requests.length > before, 6000, 'request').then(() => f.gem.requests.at(-1)!);
    assert.deepEqual(
      req.turns.map((t) => t.role),
      ['user', 'model', 'user'],
    );
    assert.equal(req.turns[1]!.text, 'Hotel Adler, good evening!');
  });

  test('speakFirst without a greeting asks the model for an opening line', async () => {
    const c = await call(f, {}, 8);
    const before = f.gem.requests.length;
    c.agent.speakFirst();
    await until(() => f.gem.requests.length > before, 4000, 'request');
    assert.match(f.gem.requests.at(-1)!.turns[0]!.text, /call has just been answered/i);
    await c.sink.waitFor((e) => e.t === 'replyDone', 6000, 'opening line');
  });
});

describe('cascade: turns that are not answered', () => {
  test('a noise-only turn (fillers) and a low-confidence one get no answer; the next real turn does', async () => {
    const f = await startFakes({
      dg: { auto: { transcript: (n) => (n === 1 ? 'Hmm.' : 'What time do you close?') } },
      gem: { autoReply: 'We close at eleven.' },
    });
    try {
      const c = await call(f, {}, 8, 10);
      await c.line.say(SHORT);
      await c.sink.waitFor((e) => e.t === 'transcript' && e.final && e.speaker === 'caller', 4000, 'noise turn');
      await sleep(300);
      assert.equal(f.gem.requests.length, 0, 'no model request for "Hmm."');
      assert.equal(c.agent.stats.ignoredTurns, 1);
      assert.deepEqual(c.agent.history, []);
      await c.line.say(SHORT);
      const req = await f.gem.nextRequest(4000);
      assert.deepEqual(req.turns, [{ role: 'user', text: 'What time do you close?' }]);
    } finally {
      for (const c of open.splice(0)) await hangUp(c);
      await f.stop();
    }
  });

  test('low word confidence (a recognizer guess at noise) is no turn either', async () => {
    const f = await startFakes({ dg: { auto: { transcript: 'door', confidence: 0.2 } } });
    try {
      const c = await call(f, {}, 8, 10);
      await c.line.say(SHORT);
      await c.sink.waitFor((e) => e.t === 'transcript' && e.final, 4000, 'turn');
      await sleep(200);
      assert.equal(f.gem.requests.length, 0);
      assert.equal(c.agent.stats.ignoredTurns, 1);
    } finally {
      for (const c of open.splice(0)) await hangUp(c);
      await f.stop();
    }
  });
});

describe('cascade: barge-in', () => {
  const LONG =
    'Let me tell you about our rooms. We have singles, doubles and a suite on the top floor. ' +
    'Every room has a view of the lake and breakfast is included.';
  let f: Fakes;
  before(async () => {
    f = await startFakes({
      // minSpeechMs 300: the recognizer does not turn a cough into words (it would be a turn of its own).
      dg: {
        auto: { transcript: (n) => (n === 1 ? 'Tell me about the rooms.' : `Stop, turn ${n}.`), minSpeechMs: 300 },
      },
      gem: { autoReply: LONG, autoWordsPerToken: 2, autoFirstTokenDelayMs: 20, autoTokenDelayMs: 80 },
      // ~4× real time (8 s of audio in ~2 s): the context is still being generated when the caller speaks.
      cart: { msPerChar: 55, chunkMs: 40, firstChunkDelayMs: 20, paceMs: 10 },
    });
  });
  after(async () => f.stop());

  test('speech over the reply: model request aborted, Cartesia context cancelled, sink.interrupted; history keeps what was heard', async () => {
    const c = await call(f);
    await c.line.say(SHORT);
    const req1 = await f.gem.nextRequest(4000);
    await c.sink.waitFor((e) => e.t === 'audio', 4000, 'reply audio');
    await sleep(400);
    const ctx = f.cart.allContexts().at(-1)!;
    assert.equal(ctx.done, false, 'still generating');
    assert.equal(req1.endedAt, undefined, 'model still streaming');
    // Only 0.6 s of speech, then silence: the barge-in must come from that much speech (audio time, not wall
    // time), and while the caller talks — before their turn ends (the recognizer's final for it).
    const from = c.sink.events.length;
    void c.line.say(SHORT);
    const ev = await c.sink.waitFor((e) => e.t === 'interrupted', 10_000, 'interrupted by 0.6 s of speech');
    const interruptedAt = c.sink.events.indexOf(ev);
    const callerFinal = await c.sink.waitFor(
      (e) => e.t === 'transcript' && e.speaker === 'caller' && e.final && c.sink.events.indexOf(e) > from,
      10_000,
      "the caller's final",
    );
    assert.ok(
      interruptedAt < c.sink.events.indexOf(callerFinal),
      'interrupted before the caller had finished their turn',
    );
    await req1.done;
    assert.equal(req1.aborted, true, 'the model request was aborted');
    await until(() => f.cart.allCancels().some((x) => x.contextId === ctx.id), 1000, 'cancel at the fake');
    assert.equal(ctx.cancelled, true);
    const heardEv = ev as Extract<typeof ev, { t: 'interrupted' }>;
    assert.ok(heardEv.heardMs > 300, `heard ${heardEv.heardMs} ms`);
    // The agent turn is kept as far as heard: a non-empty prefix, shorter than what was generated.
    const agentTurn = c.agent.history[1]!;
    assert.equal(agentTurn.role, 'agent');
    assert.ok(agentTurn.text.length > 0 && LONG.startsWith(agentTurn.text), agentTurn.text);
    const sent = ctx.transcripts.join('');
    assert.ok(
      agentTurn.text.length < sent.trim().length,
      `kept ${agentTurn.text.length} of ${sent.trim().length} chars`,
    );
    // ~55 ms of audio per char: what was heard ≈ heardMs / 55 chars (word timestamps, ±1 word).
    assert.ok(
      Math.abs(agentTurn.text.length - heardEv.heardMs / 55) < 25,
      `${agentTurn.text.length} chars for ${heardEv.heardMs} ms`,
    );
    assert.deepEqual(c.sink.finals('agent'), [agentTurn.text]);
    // Keep listening: the interrupting speech is the next turn, answered with the cut history.
    const req2 = await f.gem.nextRequest(4000);
    assert.deepEqual(
      req2.turns.map((t) => t.role),
      ['user', 'model', 'user'],
    );
    assert.equal(req2.turns[1]!.text, agentTurn.text);
    assert.equal(req2.turns[2]!.text, 'Stop, turn 2.');
    const log = c.logs.find((l) => l.msg === 'cascade: reply interrupted');
    assert.equal(log?.why, 'barge-in');
    await req2.done;
  });

  test('coughs (≤ 64 ms of speech-like sound each) during the reply do not interrupt it', async () => {
    const c = await call(f);
    const cancelsBefore = f.cart.allCancels().length;
    await c.line.say(SHORT);
    const req = await f.gem.nextRequest(4000);
    await c.sink.waitFor((e) => e.t === 'audio', 4000, 'reply audio');
    await sleep(300);
    await c.line.say(COUGH);
    await sleep(400);
    assert.equal(c.sink.of('interrupted').length, 0);
    await c.line.say(COUGH);
    await c.sink.waitFor((e) => e.t === 'replyDone', 10000, 'reply completes');
    await req.done;
    assert.equal(req.aborted, false);
    assert.equal(f.cart.allCancels().length, cancelsBefore);
    assert.deepEqual(c.sink.finals('agent'), [LONG]);
    assert.ok(c.agent.stats.bargeIns === 0);
  });

  test('with a 32 ms minimum the same coughs do interrupt (the minimum is what protects the reply)', async () => {
    const c = await call(f, { bargeInMinMs: 32 });
    await c.line.say(SHORT);
    const req = await f.gem.nextRequest(4000);
    await c.sink.waitFor((e) => e.t === 'audio', 4000, 'reply audio');
    for (let i = 0; i < 4 && c.sink.of('interrupted').length === 0; i++) {
      await sleep(100);
      await c.line.say(COUGH);
      await sleep(150);
    }
    await c.sink.waitFor((e) => e.t === 'interrupted', 1000, 'interrupted by a cough');
    assert.equal(c.agent.stats.bargeIns, 1);
    await req.done;
  });
});

/** Run `fn` with fresh fakes; close every call and the fakes afterwards. */
async function withFakes(o: Parameters<typeof startFakes>[0], fn: (f: Fakes) => Promise<void>): Promise<void> {
  const f = await startFakes(o);
  try {
    await fn(f);
  } finally {
    for (const c of open.splice(0)) await hangUp(c);
    await f.stop();
  }
}

const QUICK = {
  dg: { auto: { transcript: (n: number) => `Question number ${n}.` } },
  gem: { autoReply: 'Here is a short answer.' },
  cart: { msPerChar: 20, paceMs: 1 },
};

async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('cascade: vendor faults', () => {
  test('Deepgram refuses the connection (401): start rejects without a retry, the TTS socket is closed', () =>
    withFakes({ ...QUICK, dg: { refuse: 'http-401' } }, async (f) => {
      const { agent } = makeAgent(f);
      const err = await rejects(agent.start(new SimSink()));
      assert.match(err.message, /deepgram.*401/i);
      assert.equal(f.dg.upgrades, 1, 'a 401 is not retried');
      await until(() => f.cart.openSessions.length === 0, 1000, 'cartesia session closed');
      await agent.close();
    }));

  test('Deepgram drops the connection at connect: one retry, then start rejects', () =>
    withFakes({ ...QUICK, dg: { refuse: 'destroy' } }, async (f) => {
      const { agent } = makeAgent(f);
      const err = await rejects(agent.start(new SimSink()));
      assert.match(err.message, /deepgram/i);
      assert.equal(f.dg.upgrades, 2);
    }));

  test('Deepgram refuses once, the retry connects: the call starts', () =>
    withFakes({ ...QUICK, dg: { ...QUICK.dg, refuse: 'http-503', refuseCount: 1 } }, async (f) => {
      const c = await call(f, {}, 8, 10);
      assert.equal(f.dg.upgrades, 2);
      await c.line.say(SHORT);
      await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply');
    }));

  test('Deepgram closes mid-call: the stream is reopened and the next turn is answered', () =>
    withFakes(QUICK, async (f) => {
      const c = await call(f, {}, 8, 10);
      const first = f.dg.sessions.at(-1)!;
      first.close(1011, 'NET-0001 simulated');
      await until(
        () => f.dg.sessions.length === 2 && f.dg.sessions[1]!.isOpen && c.agent.stats.sttReconnects === 1,
        3000,
        'reconnected',
      );
      await c.line.say(SHORT);
      const req = await f.gem.nextRequest(4000);
      assert.equal(req.turns.at(-1)!.text, 'Question number 1.');
      await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply');
      assert.equal(c.sink.of('failed').length + c.sink.of('hangup').length, 0);
    }));

  test('Deepgram closes mid-call and refuses to come back: apology through TTS, then hangup', () =>
    withFakes(QUICK, async (f) => {
      const c = await call(f, {}, 8, 10);
      f.dg.options.refuse = 'http-503';
      f.dg.sessions.at(-1)!.terminate();
      const hang = await c.sink.waitFor((e) => e.t === 'hangup', 4000, 'hangup');
      assert.match((hang as { reason: string }).reason, /speech-to-text failed/);
      assert.equal(f.cart.allContexts().at(-1)!.transcripts[0], 'Sorry, technical trouble. Goodbye.');
      assert.ok(c.sink.of('audio').length > 0, 'the apology was spoken');
      assert.equal(c.sink.of('failed').length, 0);
    }));

  test('Gemini unreachable (connection refused): retried once, then apology and hangup', () =>
    withFakes(QUICK, async (f) => {
      const c = await call(f, { geminiBaseUrl: 'http://127.0.0.1:9' }, 8, 10);
      await c.line.say(SHORT);
      const hang = await c.sink.waitFor((e) => e.t === 'hangup', 5000, 'hangup');
      assert.match((hang as { reason: string }).reason, /language model failed/);
      assert.equal(c.agent.stats.llmRetries, 1);
      assert.deepEqual(c.sink.finals('agent'), ['Sorry, technical trouble. Goodbye.'], 'the call transcript shows it');
      assert.deepEqual(
        c.agent.history.map((h) => h.role),
        ['user'],
        'the model history does not',
      );
      assert.equal(f.cart.allContexts().at(-1)!.transcripts[0], 'Sorry, technical trouble. Goodbye.');
    }));

  test('Gemini error JSON (503) once: retried, the answer arrives', () =>
    withFakes(QUICK, async (f) => {
      f.gem.script({
        status: 503,
        error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' },
      });
      const c = await call(f, {}, 8, 10);
      await c.line.say(SHORT);
      await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply');
      assert.equal(f.gem.requests.length, 2);
      assert.deepEqual(c.sink.finals('agent'), ['Here is a short answer.']);
      assert.equal(c.agent.stats.llmRetries, 1);
    }));

  test('Gemini error mid-call: second turn fails twice (500, then an SSE error event) → apology, hangup', () =>
    withFakes(QUICK, async (f) => {
      const c = await call(f, {}, 8, 10);
      await c.line.say(SHORT);
      await c.sink.waitFor((e) => e.t === 'idle', 5000, 'first reply played');
      f.gem.script(
        { status: 500, error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } },
        {
          tokens: [],
          errorAfter: { tokens: 0, error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' } },
        },
      );
      await c.line.say(SHORT);
      await c.sink.waitFor((e) => e.t === 'hangup', 5000, 'hangup');
      assert.equal(f.gem.requests.length, 3);
      assert.equal(c.sink.of('failed').length, 0);
    }));

  test('Gemini 400 (bad request) is not retried: apology, hangup', () =>
    withFakes(QUICK, async (f) => {
      f.gem.script({
        status: 400,
        error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' },
      });
      const c = await call(f, {}, 8, 10);
      await c.line.say(SHORT);
      await c.sink.waitFor((e) => e.t === 'hangup', 5000, 'hangup');
      assert.equal(f.gem.requests.length, 1);
    }));

  test('Gemini slower than the timeout (no first token): both attempts aborted, apology, hangup', () =>
    withFakes(QUICK, async (f) => {
      f.gem.script({ hang: true }, { tokens: ['Too', ' late.'], firstTokenDelayMs: 2000 });
      const c = await call(f, { llmTimeoutMs: 300 }, 8, 10);
      await c.line.say(SHORT);
      const hang = await c.sink.waitFor((e) => e.t === 'hangup', 5000, 'hangup');
      assert.match((hang as { reason: string }).reason, /no first token for 300 ms/);
      await Promise.all(f.gem.requests.map((r) => r.done));
      assert.deepEqual(
        f.gem.requests.map((r) => r.aborted),
        [true, true],
      );
    }));

  test('Gemini stream breaks mid-answer: what came is spoken, no apology, the call goes on', () =>
    withFakes(QUICK, async (f) => {
      f.gem.script({ tokens: ['First sentence. ', 'Second ', 'sentence ', 'never ', 'ends'], dropAfter: 3 });
      const c = await call(f, {}, 8, 10);
      await c.line.say(SHORT);
      await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply');
      assert.deepEqual(c.sink.finals('agent'), ['First sentence. Second sentence']);
      assert.equal(c.sink.of('hangup').length + c.sink.of('failed').length, 0);
      assert.equal(c.agent.history.at(-1)!.text, 'First sentence. Second sentence');
    }));

  test('Cartesia refuses the connection: one retry, start rejects, the Deepgram stream is closed', () =>
    withFakes({ ...QUICK, cart: { refuse: 'destroy' } }, async (f) => {
      const { agent } = makeAgent(f);
      const err = await rejects(agent.start(new SimSink()));
      assert.match(err.message, /cartesia/i);
      assert.equal(f.cart.upgrades, 2);
      await until(() => f.dg.openSessions.length === 0, 1000, 'deepgram closed');
    }));

  test('Cartesia closes between turns: reconnected at once, the next turn is spoken', () =>
    withFakes(QUICK, async (f) => {
      const c = await call(f, {}, 8, 10);
      f.cart.sessions.at(-1)!.close(1011, 'server restart');
      await until(() => f.cart.openSessions.length === 1 && f.cart.sessions.length === 2, 3000, 'reconnected');
      await c.line.say(SHORT);
      await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply');
      assert.equal(f.cart.sessions[1]!.contexts.size, 1);
    }));

  test('Cartesia closes mid-reply after audio started: the reply goes on from the first word not yet heard, the next one works', () =>
    withFakes(
      {
        ...QUICK,
        gem: {
          autoReply: 'One. Two. Three. Four. Five. Six. Seven. Eight. Nine. Ten.',
          autoTokenDelayMs: 40,
          autoWordsPerToken: 1,
        },
        cart: { msPerChar: 40, paceMs: 15 },
      },
      async (f) => {
        const c = await call(f, {}, 8, 10);
        await c.line.say(SHORT);
        await c.sink.waitFor((e) => e.t === 'audio', 4000, 'audio');
        await sleep(100);
        f.cart.sessions.at(-1)!.terminate();
        await c.sink.waitFor((e) => e.t === 'replyDone', 3000, 'reply ended');
        const said = c.agent.history.at(-1)!;
        assert.equal(said.role, 'agent');
        // A long call must not lose the rest of a reply to one dropped socket: it continues on a new context.
        assert.equal(said.text, 'One. Two. Three. Four. Five. Six. Seven. Eight. Nine. Ten.');
        assert.ok(c.agent.stats.ttsResumes >= 1, 'the reply was continued, not restarted');
        await c.sink.waitFor((e) => e.t === 'idle', 4000, 'idle');
        const mark = c.sink.events.length;
        await c.line.say(SHORT);
        await until(() => c.sink.since(mark, 'replyDone').length === 1, 6000, 'second reply');
        assert.equal(c.sink.of('failed').length, 0);
      },
    ));

  test('Cartesia gone for good: the next reply cannot be spoken → failed (no apology attempt)', () =>
    withFakes(QUICK, async (f) => {
      const c = await call(f, {}, 8, 10);
      f.cart.options.refuse = 'http-503';
      f.cart.sessions.at(-1)!.terminate();
      await sleep(100);
      await c.line.say(SHORT);
      const ev = await c.sink.waitFor((e) => e.t === 'failed', 5000, 'failed');
      assert.match((ev as { cause: string }).cause, /text-to-speech failed/);
      assert.equal(c.sink.of('hangup').length, 0);
    }));

  test('Cartesia error message for a context (500): retried once on a new context, then spoken', () =>
    withFakes(
      {
        ...QUICK,
        cart: {
          ...QUICK.cart,
          failRequest: (_r, n) =>
            n === 1 ? { status_code: 500, title: 'Internal Server Error', message: 'try again' } : undefined,
        },
      },
      async (f) => {
        const c = await call(f, {}, 8, 10);
        await c.line.say(SHORT);
        await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply');
        assert.equal(c.agent.stats.ttsRetries, 1);
        assert.equal(f.cart.allContexts().length, 2);
        assert.deepEqual(c.sink.finals('agent'), ['Here is a short answer.']);
      },
    ));

  test('Cartesia error (500) and a close frame in the same read: the retry reconnects (no unhandled rejection), then spoken', () =>
    withFakes(
      {
        ...QUICK,
        cart: {
          ...QUICK.cart,
          failRequest: (_r, n) =>
            n === 1
              ? {
                  status_code: 500,
                  title: 'Internal Server Error',
                  message: 'try again',
                  thenClose: { code: 1011, reason: 'going away' },
                }
              : undefined,
        },
      },
      async (f) => {
        const rejections: unknown[] = [];
        const onRejection = (e: unknown) => rejections.push(e);
        process.on('unhandledRejection', onRejection);
        try {
          const c = await call(f, {}, 8, 10);
          await c.line.say(SHORT);
          await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply');
          assert.deepEqual(rejections, []);
          assert.equal(c.agent.stats.ttsRetries, 1);
          assert.equal(c.agent.stats.ttsReconnects, 1);
          assert.equal(f.cart.sessions.length, 2);
          assert.equal(f.cart.sessions[1]!.contexts.size, 1, 'the retry went to the new connection');
          assert.deepEqual(c.sink.finals('agent'), ['Here is a short answer.']);
          assert.equal(c.sink.of('failed').length + c.sink.of('hangup').length, 0);
        } finally {
          process.off('unhandledRejection', onRejection);
        }
      },
    ));

  test('Cartesia error 400 (bad voice) is not retried: failed', () =>
    withFakes(
      {
        ...QUICK,
        cart: { failRequest: () => ({ status_code: 400, title: 'Invalid voice', message: 'voice not found' }) },
      },
      async (f) => {
        const c = await call(f, {}, 8, 10);
        await c.line.say(SHORT);
        const ev = await c.sink.waitFor((e) => e.t === 'failed', 5000, 'failed');
        assert.match((ev as { cause: string }).cause, /Invalid voice/);
        assert.equal(f.cart.allContexts().length, 1);
      },
    ));

  test('Cartesia slower than the timeout: retried once, then failed', () =>
    withFakes({ ...QUICK, cart: { firstChunkDelayMs: 1500 } }, async (f) => {
      const c = await call(f, { ttsTimeoutMs: 250 }, 8, 10);
      await c.line.say(SHORT);
      const ev = await c.sink.waitFor((e) => e.t === 'failed', 5000, 'failed');
      assert.match((ev as { cause: string }).cause, /no audio for 250 ms/);
      assert.equal(f.cart.allContexts().length, 2);
      await until(() => f.cart.allCancels().length === 2, 1000, 'both contexts cancelled');
    }));
});

describe('cascade: Deepgram stream handling', () => {
  test('KeepAlive goes out while no audio flows, so the service does not close the idle stream', () =>
    withFakes({ dg: { idleTimeoutMs: 400 } }, async (f) => {
      const { agent } = makeAgent(f, { keepAliveMs: 100 });
      const sink = new SimSink();
      await agent.start(sink);
      try {
        await sleep(900);
        const s = f.dg.sessions.at(-1)!;
        assert.equal(s.isOpen, true, `closed: ${JSON.stringify(s.closeInfo)}`);
        assert.ok(s.controlsOf('KeepAlive').length >= 5, `${s.controlsOf('KeepAlive').length} KeepAlives`);
        // Audio flowing: no KeepAlive needed.
        const line = new CallerLine(agent, 1).start();
        await sleep(150);
        const n = s.controlsOf('KeepAlive').length;
        await sleep(400);
        line.stop();
        assert.ok(s.controlsOf('KeepAlive').length <= n + 1);
      } finally {
        await agent.close();
        sink.dispose();
      }
    }));

  test('UtteranceEnd with words still interim → Finalize; the from_finalize final ends the turn at once', () =>
    withFakes({ dg: { auto: undefined } }, async (f) => {
      // A finalize timeout far beyond the waits below: the turn can only end on the finalize result.
      const _c = await call(f, { turnEnd: 'utterance_end', finalizeTimeoutMs: 60_000 }, 8);
      const s = f.dg.sessions.at(-1)!;
      await s.waitForAudioMs(1500);
      s.sendInterim('a table for', { start: 0.5, duration: 0.6 });
      s.sendInterim('a table for two', { start: 0.5, duration: 0.9 });
      s.sendUtteranceEnd(1.4);
      const fin = await s.nextControl('Finalize', 2000);
      assert.ok(fin.at > 0);
      assert.equal(f.gem.requests.length, 0, 'no turn before the finalize result');
      s.sendFinal('A table for two.', { start: 0.5, duration: 0.9, fromFinalize: true });
      const req = await f.gem.nextRequest(20_000);
      assert.deepEqual(
        req.turns,
        [{ role: 'user', text: 'A table for two.' }],
        'the turn ended on the finalize result, not the timeout',
      );
    }));

  test('Finalize unanswered: after the timeout the interim words make the turn', () =>
    withFakes({ dg: { auto: undefined } }, async (f) => {
      const c = await call(f, { turnEnd: 'utterance_end', finalizeTimeoutMs: 300 }, 8);
      const s = f.dg.sessions.at(-1)!;
      await s.waitForAudioMs(1000);
      s.sendFinal('Yes', { start: 0.2, duration: 0.3 });
      s.sendInterim('please', { start: 0.6, duration: 0.3 });
      // Before the UtteranceEnd that starts the agent's 300 ms finalize timer: a timer never fires early (but
      // for ≤ 1 ms of rounding), so the turn cannot come sooner than this, however slow the machine.
      const t0 = performance.now();
      s.sendUtteranceEnd(0.9);
      await s.nextControl('Finalize', 2000);
      const req = await f.gem.nextRequest(10_000);
      assert.ok(req.receivedAt - t0 >= 299, `waited for the final first (${(req.receivedAt - t0).toFixed(0)} ms)`);
      assert.deepEqual(req.turns, [{ role: 'user', text: 'Yes please' }]);
      assert.deepEqual(c.sink.finals('caller'), ['Yes please']);
    }));

  test('the caller goes on talking before the answer is heard: the pending answer is dropped, the turns merge', () =>
    withFakes(
      { dg: { auto: undefined }, gem: { autoReply: 'An answer to half a question.', autoFirstTokenDelayMs: 400 } },
      async (f) => {
        const c = await call(f, {}, 8);
        const s = f.dg.sessions.at(-1)!;
        await s.waitForAudioMs(500);
        s.sendFinal('I would like', { start: 0.1, duration: 0.5, speechFinal: true });
        const req1 = await f.gem.nextRequest(2000);
        s.sendInterim('to book a room', { start: 1.0, duration: 0.6 });
        await req1.done;
        assert.equal(req1.aborted, true);
        s.sendFinal('to book a room.', { start: 1.0, duration: 0.7, speechFinal: true });
        const req2 = await f.gem.nextRequest(2000);
        assert.deepEqual(req2.turns, [{ role: 'user', text: 'I would like to book a room.' }]);
        assert.equal(c.agent.stats.abandonedReplies, 1);
        assert.equal(c.sink.of('interrupted').length, 0, 'nothing was playing');
        await c.sink.waitFor((e) => e.t === 'replyDone', 3000, 'reply');
      },
    ));
});

describe('cascade: resources', () => {
  test('close() while starting: start rejects, every connection made is closed; speakFirst before start is kept', () =>
    withFakes(QUICK, async (f) => {
      const { agent } = makeAgent(f);
      const p = agent.start(new SimSink());
      agent.speakFirst('never said');
      await agent.close();
      const err = await rejects(p);
      assert.match(err.message, /closed while (starting|connecting)/);
      await until(() => f.dg.openSessions.length === 0 && f.cart.openSessions.length === 0, 1000, 'all closed');
      assert.equal(f.gem.requests.length, 0);

      const { agent: a2 } = makeAgent(f, { greeting: 'Welcome!' });
      const sink = new SimSink(8);
      sink.agent = a2;
      const started = a2.start(sink);
      a2.speakFirst(); // queued until connected
      await started;
      await sink.waitFor((e) => e.t === 'replyDone', 3000, 'greeting');
      assert.deepEqual(sink.finals('agent'), ['Welcome!']);
      await a2.close();
      sink.dispose();
    }));

  test('no leaks after 50 sequential start/close cycles (sockets, timers, VAD), half of them mid-reply', async (t) => {
    await sleep(20);
    const processBaseline = openHandles();
    const t0 = performance.now();
    await withFakes(
      {
        ...QUICK,
        gem: { autoReply: 'A reply long enough to still be going. It has two sentences.', autoTokenDelayMs: 20 },
        cart: { msPerChar: 30, paceMs: 5 },
      },
      async (f) => {
        await sleep(20);
        const baseline = openHandles().length;
        let mid = 0;
        for (let i = 0; i < 50; i++) {
          const { agent } = makeAgent(f);
          const sink = new SimSink(8);
          sink.agent = agent;
          await agent.start(sink);
          if (i % 2 === 1) {
            const line = new CallerLine(agent, 10).start();
            await line.say(SHORT);
            await sink.waitFor((e) => e.t === 'audio', 3000, 'audio');
            line.stop();
            mid++;
          }
          await agent.close();
          sink.dispose();
        }
        await until(
          () => f.dg.openSessions.length === 0 && f.cart.openSessions.length === 0,
          2000,
          'fake sessions closed',
        );
        assert.equal(f.dg.sessions.length, 50);
        assert.equal(f.cart.sessions.length, 50);
        assert.ok(f.gem.requests.length >= mid);
        await Promise.all(f.gem.requests.map((r) => r.done));
        await sleep(50);
        const now = openHandles();
        // Only keep-alive HTTP connections of the shared fetch pool may remain (to the Gemini fake): not per call.
        assert.ok(now.length <= baseline + 2, `handles: before ${baseline}, after ${now.length}: ${now.join(',')}`);
      },
    );
    await sleep(50);
    const after = openHandles();
    assert.ok(
      after.length <= processBaseline.length,
      `with the fakes stopped: before ${processBaseline.join(',')}; after ${after.join(',')}`,
    );
    t.diagnostic(`50 calls started and closed in ${Math.round(performance.now() - t0)} ms`);
  });
});

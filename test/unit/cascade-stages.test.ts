/**
 * The three stage adapters against the vendor fakes (real SDKs underneath), and the fakes' own protocol
 * behaviour: what a benchmark or the emulator tests will rely on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeepgramClient } from '@deepgram/sdk';
import { CartesiaTts } from '../../src/agents/cascade/cartesia-tts.ts';
import { DeepgramStt } from '../../src/agents/cascade/deepgram-stt.ts';
import { GeminiLlm, toContents } from '../../src/agents/cascade/gemini-llm.ts';
import { StageError, type SttResult, type TtsWordTimes } from '../../src/agents/cascade/stages.ts';
import { silentLogger } from '../../src/log.ts';
import { CartesiaFake, DeepgramFake, GeminiTextFake } from '../bed/index.ts';
import { KEY, openHandles, sleep, SPEECH, until } from './cascade-harness.ts';

const log = silentLogger();

function stt(fake: DeepgramFake, extra: Partial<ConstructorParameters<typeof DeepgramStt>[0]> = {}): DeepgramStt {
  return new DeepgramStt({
    apiKey: KEY.dg,
    baseUrl: fake.url,
    model: 'nova-3',
    sampleRate: 8000,
    endpointingMs: 300,
    utteranceEndMs: 1000,
    connectTimeoutMs: 1000,
    logger: log,
    ...extra,
  });
}

function tts(fake: CartesiaFake, extra: Partial<ConstructorParameters<typeof CartesiaTts>[0]> = {}): CartesiaTts {
  return new CartesiaTts({
    apiKey: KEY.cart,
    baseUrl: fake.baseUrl,
    model: 'sonic-3',
    voiceId: 'v',
    sampleRate: 8000,
    connectTimeoutMs: 1000,
    timeoutMs: 1000,
    logger: log,
    ...extra,
  });
}

interface SttEvents {
  results: SttResult[];
  utteranceEnds: number[];
  speechStarted: number[];
  lost: StageError[];
}

function sttEvents(): SttEvents & { listener: Parameters<DeepgramStt['connect']>[0] } {
  const e: SttEvents = { results: [], utteranceEnds: [], speechStarted: [], lost: [] };
  return {
    ...e,
    listener: {
      result: (r) => e.results.push(r),
      utteranceEnd: (t) => e.utteranceEnds.push(t),
      speechStarted: (t) => e.speechStarted.push(t),
      lost: (err) => e.lost.push(err),
    },
  };
}

function send(s: DeepgramStt, pcm: Buffer): void {
  for (let off = 0; off + 320 <= pcm.length; off += 320) s.sendAudio(pcm.subarray(off, off + 320));
}

describe('Deepgram adapter + fake', () => {
  test('automatic mode: SpeechStarted, interims revealing words, a speech_final final, UtteranceEnd; audio arrives intact', async (ctx) => {
    const fake = await DeepgramFake.start({ apiKey: KEY.dg, auto: { transcript: 'book a table for two' } });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const s = stt(fake);
    const ev = sttEvents();
    await s.connect(ev.listener);
    send(s, Buffer.concat([SPEECH, Buffer.alloc(24000)])); // speech, then 1.5 s of silence
    await until(() => ev.utteranceEnds.length === 1, 2000, 'UtteranceEnd');
    const session = fake.sessions[0]!;
    const sent = Math.floor(SPEECH.length / 320) * 320 + 24000;
    assert.equal(session.audioInBytes, sent);
    assert.deepEqual(session.audioIn.subarray(0, 3200), SPEECH.subarray(0, 3200));
    assert.equal(ev.speechStarted.length, 1);
    const interims = ev.results.filter((r) => !r.isFinal);
    assert.ok(interims.length >= 3);
    assert.ok(interims.every((r) => 'book a table for two'.startsWith(r.text)));
    const finals = ev.results.filter((r) => r.isFinal && r.text);
    assert.equal(finals.length, 1);
    assert.equal(finals[0]!.speechFinal, true);
    assert.equal(finals[0]!.text, 'book a table for two');
    const lastEnd = finals[0]!.words.at(-1)!.end;
    assert.ok(lastEnd > 2.8 && lastEnd < 3.4, `last word ends at ${lastEnd}`); // the fixture has ~0.4 s of silence at its end
    assert.ok(Math.abs(ev.utteranceEnds[0]! - lastEnd) < 0.01);
    await s.close();
    await fake.stop();
  });

  test('Finalize flushes the pending words as a from_finalize final; CloseStream on close; close is idempotent', async (ctx) => {
    const fake = await DeepgramFake.start({ apiKey: KEY.dg, auto: { transcript: 'hello there' } });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const s = stt(fake);
    const ev = sttEvents();
    await s.connect(ev.listener);
    send(s, SPEECH.subarray(0, 8000)); // 0.5 s of speech, no silence after
    await until(() => fake.sessions[0]!.audioInBytes >= 8000, 1000, 'audio');
    s.finalize();
    await until(() => ev.results.some((r) => r.fromFinalize), 1000, 'from_finalize');
    const fin = ev.results.find((r) => r.fromFinalize)!;
    assert.equal(fin.text, 'hello there');
    assert.equal(fin.speechFinal, false);
    const session = fake.sessions[0]!;
    await Promise.all([s.close(), s.close()]);
    const closed = await session.closed;
    assert.deepEqual(
      session.controls.map((c) => c.type),
      ['Finalize', 'CloseStream'],
    );
    assert.equal(closed.code, 1000);
    s.sendAudio(SPEECH.subarray(0, 320)); // after close: ignored, no throw
    assert.equal(ev.lost.length, 0, 'our own close is not a loss');
    await fake.stop();
  });

  test('sendMs: frames joined into messages of at most sendMs, in order; the rest goes before Finalize and CloseStream', async (ctx) => {
    const fake = await DeepgramFake.start({ apiKey: KEY.dg, auto: { transcript: 'hello there' } });
    ctx.after(() => fake.stop());
    const s = stt(fake, { sendMs: 120 }); // 1920 bytes at 8 kHz
    const ev = sttEvents();
    await s.connect(ev.listener);
    const frame = 640; // 40 ms
    const audio = SPEECH.subarray(0, frame * 8); // 8 frames: two messages of 3, then 2 frames waiting
    for (let off = 0; off < audio.length; off += frame) s.sendAudio(audio.subarray(off, off + frame));
    const session = fake.sessions[0]!;
    await until(() => session.audioInBytes >= frame * 6, 1000, 'two messages');
    s.finalize();
    await session.nextControl('Finalize');
    assert.deepEqual(
      session.audioChunks.map((c) => c.length),
      [frame * 3, frame * 3, frame * 2],
      'the waiting frames went before the Finalize',
    );
    assert.deepEqual(session.audioIn, audio);
    assert.equal(s.framesSent, 8);
    s.sendAudio(audio.subarray(0, frame)); // waits, then goes with the close
    const big = SPEECH.subarray(0, 4000); // more than sendMs: on its own
    s.sendAudio(big);
    await s.close();
    await session.closed;
    assert.deepEqual(
      session.audioChunks.slice(3).map((c) => c.length),
      [frame, 4000],
    );
    assert.deepEqual(
      session.controls.map((c) => c.type),
      ['Finalize', 'CloseStream'],
    );
  });

  test('a stream with no result for the stall timeout counts as lost; the service closing it too (with its reason)', async (ctx) => {
    const fake = await DeepgramFake.start({ apiKey: KEY.dg }); // scripted: never answers
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const s = stt(fake, { keepAliveMs: 50, stallTimeoutMs: 1000 });
    const ev = sttEvents();
    await s.connect(ev.listener);
    send(s, Buffer.alloc(32000)); // 2 s of audio, no message back
    await until(() => ev.lost.length === 1, 1000, 'lost');
    assert.match(ev.lost[0]!.message, /no result for 1000 ms/);
    assert.equal(ev.lost[0]!.retryable, true);
    await until(() => !fake.sessions[0]!.isOpen, 1000, 'socket closed');
    const s2 = stt(fake);
    const ev2 = sttEvents();
    await s2.connect(ev2.listener);
    fake.sessions[1]!.close(1011, 'NET-0001 test');
    await until(() => ev2.lost.length === 1, 1000, 'lost');
    assert.match(ev2.lost[0]!.message, /1011 NET-0001 test/);
    await Promise.all([s.close(), s2.close()]);
    await fake.stop();
  });

  test('the fake closes an idle stream like the service (1011, NET-0001); bad keys get 401 with dg-error', async (ctx) => {
    const fake = await DeepgramFake.start({ apiKey: KEY.dg, idleTimeoutMs: 100 });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const dg = new DeepgramClient({ apiKey: KEY.dg, baseUrl: fake.url });
    const sock = await dg.listen.v1.connect({ model: 'nova-3', Authorization: 'x', reconnectAttempts: 0 });
    sock.connect();
    await sock.waitForOpen();
    const closed = await fake.sessions[0]!.closed;
    assert.equal(closed.code, 1011);
    assert.match(closed.reason, /net0001/i);
    sock.close();
    const bad = stt(fake, { apiKey: 'wrong' });
    const err = await bad.connect(sttEvents().listener).then(
      () => undefined,
      (e: StageError) => e,
    );
    assert.ok(err instanceof StageError);
    assert.match(err.message, /401/);
    assert.equal(err.retryable, false);
    assert.equal(fake.rejected.at(-1)!.status, 401);
    await fake.stop();
  });

  test('connect timeout when the upgrade is never answered: rejects in time, retryable, nothing left open', async (ctx) => {
    const fake = await DeepgramFake.start({ apiKey: KEY.dg, refuse: 'hang' });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const before = openHandles().length;
    // 401 ms: the timeout message names it, and it must not be mistaken for an HTTP 401 refusal.
    const s = stt(fake, { connectTimeoutMs: 401 });
    const err = await s.connect(sttEvents().listener).then(
      () => undefined,
      (e: StageError) => e,
    );
    assert.ok(err instanceof StageError && err.retryable, String(err));
    assert.match(err.message, /within 401 ms/);
    await fake.stop();
    await sleep(20);
    assert.ok(openHandles().length <= before, openHandles().join(','));
  });
});

describe('Gemini adapter + fake', () => {
  test('history → contents: roles mapped, same-role turns merged, a leading agent turn gets a user turn before it', () => {
    assert.deepEqual(
      toContents([
        { role: 'agent', text: 'Hello!' },
        { role: 'user', text: 'Hi' },
        { role: 'user', text: 'there' },
        { role: 'agent', text: ' ' },
        { role: 'agent', text: 'Yes?' },
      ]),
      [
        { role: 'user', parts: [{ text: '(The call has been answered.)' }] },
        { role: 'model', parts: [{ text: 'Hello!' }] },
        { role: 'user', parts: [{ text: 'Hi there' }] },
        { role: 'model', parts: [{ text: 'Yes?' }] },
      ],
    );
  });

  test('streams text pieces as they come; system instruction, thinking level and key reach the service', async (ctx) => {
    const fake = await GeminiTextFake.start({ apiKey: KEY.gem });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    fake.script({ tokens: ['Hello', ' there.', ' Bye.'], tokenDelayMs: 30 });
    const llm = new GeminiLlm({
      apiKey: KEY.gem,
      model: 'm1',
      baseUrl: fake.baseUrl,
      timeoutMs: 5000,
      thinking: 'low',
      temperature: 0.3,
    });
    const got: unknown[] = [];
    for await (const t of llm.stream({
      systemInstructions: 'Be nice.',
      history: [{ role: 'user', text: 'Hi' }],
      signal: new AbortController().signal,
    }))
      got.push(t);
    assert.deepEqual(got, ['Hello', ' there.', ' Bye.']);
    const req = fake.requests[0]!;
    assert.equal(req.systemText, 'Be nice.');
    assert.deepEqual(req.body.generationConfig, { temperature: 0.3, thinkingConfig: { thinkingLevel: 'LOW' } });
    assert.equal(req.query.get('alt'), 'sse');

    // Streamed, not delivered at the end: with the response stalled after two pieces, both still arrive.
    fake.script({ tokens: ['One', ' two', ' three'], stallAfter: 2 });
    const abort = new AbortController();
    const early: unknown[] = [];
    for await (const t of llm.stream({
      systemInstructions: 'Be nice.',
      history: [{ role: 'user', text: 'Hi' }],
      signal: abort.signal,
    })) {
      early.push(t);
      if (early.length === 2) {
        assert.equal(fake.requests[1]!.completed, false, 'the response has not ended yet');
        abort.abort();
      }
    }
    assert.deepEqual(early, ['One', ' two']);
  });

  test('errors: HTTP status → StageError (5xx/429 retryable, 4xx not); abort ends the stream quietly and the fake sees it', async (ctx) => {
    const fake = await GeminiTextFake.start({ apiKey: KEY.gem });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const llm = new GeminiLlm({
      apiKey: KEY.gem,
      model: 'm1',
      baseUrl: fake.baseUrl,
      timeoutMs: 1000,
      thinking: 'default',
    });
    const run = async (signal = new AbortController().signal) => {
      const out: unknown[] = [];
      for await (const t of llm.stream({ systemInstructions: 's', history: [{ role: 'user', text: 'q' }], signal }))
        out.push(t);
      return out;
    };
    fake.script({
      status: 429,
      error: { code: 429, message: 'Resource has been exhausted', status: 'RESOURCE_EXHAUSTED' },
    });
    const e429 = await run().catch((e: StageError) => e);
    assert.ok(e429 instanceof StageError && e429.retryable && /429|exhausted/i.test(e429.message));
    fake.script({ status: 404, error: { code: 404, message: 'models/m1 is not found', status: 'NOT_FOUND' } });
    const e404 = await run().catch((e: StageError) => e);
    assert.ok(e404 instanceof StageError && !e404.retryable);
    fake.script({ tokens: ['a', 'b', 'c', 'd'], tokenDelayMs: 100 });
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(), 150);
    const partial = await run(ctrl.signal);
    assert.ok(partial.length >= 1 && partial.length < 4);
    await fake.requests[2]!.done;
    assert.equal(fake.requests[2]!.aborted, true);
    assert.equal(
      fake.requests[0]!.body.generationConfig?.thinkingConfig,
      undefined,
      "'default' sends no thinking config",
    );
    await fake.stop();
  });

  test('a stalled stream is cut after the timeout (retryable) and the request is aborted at the fake', async (ctx) => {
    const fake = await GeminiTextFake.start({ apiKey: KEY.gem });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    fake.script({ tokens: ['one', 'two'], stallAfter: 1 });
    const llm = new GeminiLlm({ apiKey: KEY.gem, model: 'm1', baseUrl: fake.baseUrl, timeoutMs: 200, thinking: 'off' });
    const out: unknown[] = [];
    const err = await (async () => {
      for await (const t of llm.stream({
        systemInstructions: 's',
        history: [{ role: 'user', text: 'q' }],
        signal: new AbortController().signal,
      }))
        out.push(t);
    })().catch((e: StageError) => e);
    assert.deepEqual(out, ['one']);
    assert.ok(err instanceof StageError && err.retryable && /stalled for 200 ms/.test(err.message));
    await fake.requests[0]!.done;
    assert.equal(fake.requests[0]!.aborted, true);
    assert.deepEqual(fake.requests[0]!.body.generationConfig?.thinkingConfig, { thinkingBudget: 0 });
    await fake.stop();
  });
});

describe('Cartesia adapter + fake', () => {
  test('a context: pieces with continue, audio at the asked rate proportional to the text, word times, done', async (ctx) => {
    const fake = await CartesiaFake.start({ apiKey: KEY.cart, msPerChar: 50, chunkMs: 40 });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const t = tts(fake);
    await t.connect({ lost: () => {} });
    let bytes = 0;
    const words: TtsWordTimes[] = [];
    let done = false;
    const s = t.open({
      audio: (pcm) => (bytes += pcm.length),
      words: (w) => words.push(w),
      done: () => (done = true),
      error: (e) => assert.fail(e.message),
    });
    s.push('Hello there. ');
    s.push('How are you?');
    s.end();
    await until(() => done, 2000, 'done');
    const chars = 'Hello there. '.length + 'How are you?'.length;
    assert.equal(bytes, Math.round((chars * 50 * 8000) / 1000) * 2);
    assert.deepEqual(
      words.flatMap((w) => w.words),
      ['Hello', 'there.', 'How', 'are', 'you?'],
    );
    assert.ok(words[1]!.start[0]! > words[0]!.end[1]! - 1e-9, 'times run on over the context');
    const reqs = fake.sessions[0]!.requests;
    assert.deepEqual(
      reqs.map((r) => [r.transcript, r.continue]),
      [
        ['Hello there. ', true],
        ['How are you?', true],
        ['', false],
      ],
    );
    assert.equal(reqs[0]!.max_buffer_delay_ms, 0);
    await t.close();
    await fake.stop();
  });

  test('cancel: recorded by the fake, nothing more arrives; odd-length chunks never split a sample', async (ctx) => {
    const fake = await CartesiaFake.start({ apiKey: KEY.cart, msPerChar: 50, chunkMs: 40, paceMs: 20 });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const t = tts(fake);
    await t.connect({ lost: () => {} });
    let chunks = 0;
    const s = t.open({
      audio: () => chunks++,
      done: () => assert.fail('no done after cancel'),
      error: () => assert.fail('no error after cancel'),
    });
    s.push('A long sentence that takes a while to speak.');
    await until(() => chunks >= 2, 1000, 'chunks');
    s.cancel();
    s.cancel();
    const at = chunks;
    await sleep(100);
    assert.ok(chunks <= at + 1, 'at most one chunk in flight');
    assert.deepEqual(
      fake.allCancels().map((c) => c.contextId),
      [s.id],
    );
    assert.equal(fake.allContexts()[0]!.cancelled, true);
    // A server chunk of odd length (e.g. 3 bytes then 5 bytes) comes out as whole samples.
    const got: Buffer[] = [];
    const s2 = t.open({ audio: (p) => got.push(Buffer.from(p)), done: () => {}, error: () => {} });
    const sess = fake.sessions[0]!;
    sess.send({
      type: 'chunk',
      context_id: s2.id,
      status_code: 206,
      done: false,
      data: Buffer.from([1, 2, 3]).toString('base64'),
    });
    sess.send({
      type: 'chunk',
      context_id: s2.id,
      status_code: 206,
      done: false,
      data: Buffer.from([4, 5, 6, 7, 8]).toString('base64'),
    });
    await until(() => got.length === 2, 1000, 'odd chunks');
    assert.deepEqual(
      got.map((b) => [...b]),
      [
        [1, 2],
        [3, 4, 5, 6, 7, 8],
      ],
    );
    await t.close();
    await fake.stop();
  });

  test('errors: a bad output format → 400 error for the context (not retryable); a lost connection fails open streams', async (ctx) => {
    const fake = await CartesiaFake.start({ apiKey: KEY.cart });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const t = tts(fake, { sampleRate: 16000 });
    let lost: StageError | undefined;
    await t.connect({ lost: (e) => (lost = e) });
    const sess = fake.sessions[0]!;
    const errs: StageError[] = [];
    const s = t.open({ audio: () => {}, done: () => {}, error: (e) => errs.push(e) });
    sess.sendError(s.id, { status_code: 400, title: 'Invalid voice', message: 'no such voice' });
    await until(() => errs.length === 1, 1000, 'error');
    assert.equal(errs[0]!.retryable, false);
    assert.match(errs[0]!.message, /400 Invalid voice: no such voice/);
    const s2 = t.open({ audio: () => {}, done: () => {}, error: (e) => errs.push(e) });
    s2.push('hello');
    sess.terminate();
    await until(() => errs.length === 2 && lost !== undefined, 1000, 'lost');
    assert.equal(errs[1]!.retryable, true);
    assert.equal(t.connected, false);
    assert.throws(() => t.open({ audio: () => {}, done: () => {}, error: () => {} }), StageError);
    await t.close();
    await fake.stop();
  });

  test('refused upgrade (401) rejects without crashing the process (the SDK would raise an unhandled rejection)', async (ctx) => {
    const fake = await CartesiaFake.start({ apiKey: KEY.cart });
    ctx.after(() => fake.stop()); // stopped even when an assertion fails
    const t = tts(fake, { apiKey: 'wrong' });
    const err = await t.connect({ lost: () => {} }).then(
      () => undefined,
      (e: StageError) => e,
    );
    assert.ok(err instanceof StageError && !err.retryable && /401/.test(err.message));
    await sleep(20);
    await t.close();
    await fake.stop();
  });
});

describe('fakes', () => {
  test('stop() leaves nothing behind, with sessions open and timers pending', async (ctx) => {
    await sleep(10);
    const before = openHandles().length;
    const dg = await DeepgramFake.start({ auto: { latencyMs: 500 } });
    ctx.after(() => dg.stop()); // stopped even when an assertion fails
    const gem = await GeminiTextFake.start();
    ctx.after(() => gem.stop()); // stopped even when an assertion fails
    const cart = await CartesiaFake.start({ firstChunkDelayMs: 1000 });
    ctx.after(() => cart.stop()); // stopped even when an assertion fails
    const s = stt(dg);
    await s.connect(sttEvents().listener);
    send(s, SPEECH.subarray(0, 16000));
    const t = tts(cart);
    await t.connect({ lost: () => {} });
    t.open({ audio: () => {}, done: () => {}, error: () => {} }).push('pending audio');
    gem.script({ hang: true });
    const llm = new GeminiLlm({ apiKey: 'k', model: 'm', baseUrl: gem.baseUrl, timeoutMs: 5000, thinking: 'default' });
    const it = llm
      .stream({ systemInstructions: 's', history: [{ role: 'user', text: 'q' }], signal: AbortSignal.timeout(5000) })
      [Symbol.asyncIterator]();
    const pending = it.next().catch(() => undefined);
    await until(() => gem.requests.length === 1, 1000, 'request');
    await Promise.all([dg.stop(), gem.stop(), cart.stop()]);
    await pending;
    await Promise.all([s.close(), t.close()]);
    await sleep(50);
    const after = openHandles();
    // AbortSignal.timeout keeps no handle alive (unref'd); everything else must be gone.
    assert.ok(after.length <= before, `before ${before}, after: ${after.join(',')}`);
  });
});

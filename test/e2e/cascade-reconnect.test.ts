/**
 * Cascade sockets lost mid-call, through the real SDKs against the wire fakes: a Deepgram stream dropped
 * mid-utterance or closed for idling, a Cartesia connection closed between replies and in the middle of one.
 * No turn may be lost, no reply cut or repeated, and each reopened socket is reported (`sink.resumed`).
 */
import assert from 'node:assert/strict';
import { afterEach, before, describe, test } from 'node:test';
import type { CascadeAgent } from '../../src/agents/cascade/cascade-agent.ts';
import { loadSileroModel } from '../../src/media/silero-model.ts';
import {
  type AgentOpts,
  CallerLine,
  type Fakes,
  makeAgent,
  SHORT,
  SimSink,
  SPEECH,
  startFakes,
  until,
} from '../unit/cascade-harness.ts';

interface Call {
  agent: CascadeAgent;
  sink: SimSink;
  line: CallerLine | undefined;
}

const open: { call: Call; fakes: Fakes }[] = [];

async function call(f: Fakes, o: AgentOpts = {}): Promise<Call> {
  const { agent } = makeAgent(f, o);
  const sink = new SimSink(8);
  sink.agent = agent;
  const c: Call = { agent, sink, line: undefined };
  open.push({ call: c, fakes: f });
  await agent.start(sink);
  return c;
}

afterEach(async () => {
  for (const { call: c, fakes } of open.splice(0)) {
    c.line?.stop();
    await c.agent.close();
    c.sink.dispose();
    await fakes.stop();
  }
});

before(async () => {
  await loadSileroModel();
});

/** `ms` of SPEECH from `fromMs`, pushed as 40 ms frames. */
function push(agent: CascadeAgent, fromMs: number, ms: number): Buffer {
  const pcm = SPEECH.subarray(fromMs * 16, (fromMs + ms) * 16);
  for (let off = 0; off < pcm.length; off += 640) agent.pushAudio(pcm.subarray(off, off + 640));
  return pcm;
}

const REPLY = 'Of course. For what time tonight?';

describe('cascade reconnects: Deepgram', () => {
  test('dropped mid-utterance: the audio it missed goes to the new stream, the words before and after the switch make one turn, the reply plays', async () => {
    const f = await startFakes({ dg: { auto: undefined }, gem: { autoReply: REPLY }, cart: { msPerChar: 10 } });
    const c = await call(f, { finalizeTimeoutMs: 3000 });
    const first = f.dg.sessions.at(-1)!;
    push(c.agent, 0, 1000);
    await first.waitForAudioMs(1000);
    first.sendInterim('I would like', { start: 0, duration: 0.6 });
    await c.sink.waitFor(
      (e) => e.t === 'transcript' && e.speaker === 'caller' && e.text === 'I would like',
      3000,
      'interim',
    );
    first.terminate();
    // Spoken while the stream is lost and being replaced (the first frames may still go to the dead socket).
    push(c.agent, 1000, 1000);
    await until(() => f.dg.sessions.length === 2, 3000, 'a new stream');
    const second = f.dg.sessions[1]!;
    await second.waitForAudioMs(1400);
    assert.ok(
      second.audioIn.equals(SPEECH.subarray(600 * 16, 2000 * 16)),
      'the new stream got the audio after the last result (0.6 s) up to now, once',
    );
    second.sendFinal('to book a table for two.', { speechFinal: true, start: 0.5, duration: 0.8 });
    const req = await f.gem.nextRequest(4000);
    assert.equal(req.turns.at(-1)!.text, 'I would like to book a table for two.');
    await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply');
    assert.deepEqual(c.sink.finals('caller'), ['I would like to book a table for two.']);
    assert.deepEqual(c.sink.finals('agent'), [REPLY]);
    assert.equal(f.gem.requests.length, 1, 'no request for half a sentence');
    assert.deepEqual(
      c.sink.of('resumed').map((r) => r.reason),
      ['drop'],
    );
    assert.equal(c.sink.of('failed').length + c.sink.of('hangup').length, 0);
  });

  test('closed for idling (no audio and no KeepAlive): reopened and reported as idle; the next turn is answered', async () => {
    const f = await startFakes({ dg: { idleTimeoutMs: 300 }, gem: { autoReply: REPLY }, cart: { msPerChar: 10 } });
    const c = await call(f, { keepAliveMs: 60000 });
    await until(() => c.sink.of('resumed').length === 1, 4000, 'reopened');
    assert.equal(f.dg.sessions[0]!.closeInfo?.code, 1011);
    assert.equal(c.sink.of('resumed')[0]!.reason, 'idle');
    c.line = new CallerLine(c.agent, 5).start(); // audio flows again
    await c.line.say(SHORT);
    await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply');
    assert.deepEqual(c.sink.finals('agent'), [REPLY]);
  });

  test('no audio but KeepAlive: the stream is not closed', async () => {
    const f = await startFakes({ dg: { idleTimeoutMs: 400 } });
    const c = await call(f, { keepAliveMs: 100 });
    const s = f.dg.sessions[0]!;
    await s.nextControl('KeepAlive', 2000);
    await s.nextControl('KeepAlive', 2000);
    await s.nextControl('KeepAlive', 2000);
    await s.nextControl('KeepAlive', 2000);
    await s.nextControl('KeepAlive', 2000); // past the idle timeout
    assert.ok(s.isOpen);
    assert.equal(f.dg.sessions.length, 1);
    assert.equal(c.sink.of('resumed').length, 0);
  });
});

describe('cascade reconnects: Cartesia', () => {
  test('closed between replies: reopened and reported; the next reply is complete', async () => {
    const f = await startFakes({ gem: { autoReply: REPLY }, cart: { msPerChar: 10 } });
    const c = await call(f);
    c.line = new CallerLine(c.agent, 10).start();
    await c.line.say(SHORT);
    await c.sink.waitFor((e) => e.t === 'idle', 5000, 'first reply played');
    f.cart.sessions[0]!.close(1011, 'server restart');
    await until(() => c.sink.of('resumed').length === 1, 3000, 'reopened');
    assert.equal(c.sink.of('resumed')[0]!.reason, '1011');
    await c.line.say(SHORT);
    await until(() => c.sink.of('replyDone').length === 2, 5000, 'second reply');
    assert.deepEqual(c.sink.finals('agent'), [REPLY, REPLY]);
    assert.equal(f.cart.sessions[1]!.contexts.size, 1);
  });

  test('closed mid-reply after its first sentence was spoken: the reply goes on from the next sentence on a new connection', async () => {
    const text = 'One two three. Four five six. Seven eight nine.';
    const f = await startFakes({ cart: { msPerChar: 10 } });
    f.gem.script({ tokens: ['One two three. ', 'Four five six. ', 'Seven eight nine.'], tokenDelayMs: 500 });
    const c = await call(f);
    c.line = new CallerLine(c.agent, 10).start();
    await c.line.say(SHORT);
    const firstMs = 'One two three. '.length * 10;
    await until(
      () => c.sink.of('audio').reduce((n, e) => n + e.bytes, 0) >= firstMs * 16,
      4000,
      'first sentence heard',
    );
    f.cart.sessions[0]!.terminate();
    await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply done');
    assert.deepEqual(c.sink.finals('agent'), [text]);
    assert.equal(c.agent.history.at(-1)!.text, text);
    const [ctx] = f.cart.sessions[1]!.contexts.values();
    assert.equal(
      ctx!.transcripts.join('').trim(),
      'Four five six. Seven eight nine.',
      'nothing lost, nothing said twice',
    );
    assert.equal(c.agent.stats.ttsResumes, 1);
    assert.deepEqual(
      c.sink.of('resumed').map((r) => r.reason),
      ['drop'],
    );
    assert.equal(c.sink.of('failed').length + c.sink.of('hangup').length, 0);
  });

  test('closed in the middle of a sentence: continued from the first word whose audio had not come', async () => {
    const text = 'One two three four five six seven eight nine ten.';
    const f = await startFakes({ cart: { msPerChar: 40, paceMs: 15, firstChunkDelayMs: 100 } });
    f.gem.script({ tokens: [text] });
    const c = await call(f);
    c.line = new CallerLine(c.agent, 10).start();
    await c.line.say(SHORT);
    // Past two words (each 1/10 of the sentence's audio), well before its end.
    const totalMs = text.length * 40;
    await until(() => c.sink.of('audio').reduce((n, e) => n + e.bytes, 0) >= (totalMs / 10) * 2.5 * 16, 4000, 'audio');
    f.cart.sessions[0]!.terminate();
    await until(() => f.cart.sessions.length === 2, 3000, 'reopened');
    const ctx = await f.cart.sessions[1]!.waitForContext();
    const producedMs = c.sink.of('audio').reduce((n, e) => n + e.bytes, 0) / 16; // before the new context's audio
    await c.sink.waitFor((e) => e.t === 'replyDone', 5000, 'reply done');
    const rest = ctx.transcripts.join('').trim();
    const words = text.split(' ');
    const skipped = words.length - rest.split(' ').length;
    assert.equal(words.slice(skipped).join(' '), rest, 'the rest of the sentence, from a word boundary');
    const wordMs = totalMs / words.length;
    assert.ok(skipped >= 2 && skipped * wordMs <= producedMs + 10, 'only words whose audio had come are skipped');
    assert.ok((skipped + 1) * wordMs > producedMs + 10, 'no whole word is said twice');
    assert.deepEqual(c.sink.finals('agent'), [text]);
  });
});

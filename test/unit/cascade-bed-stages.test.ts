/**
 * The cascade agent on the bed's in-memory stages (test/bed/stages.ts): no sockets, no SDKs, so what is
 * checked is the agent's own logic — a turn becomes a model request with the conversation so far, the reply is
 * spoken and becomes history.
 */
import assert from 'node:assert/strict';
import { afterEach, before, test } from 'node:test';
import pino from 'pino';
import { CascadeAgent } from '../../src/agents/cascade/cascade-agent.ts';
import { loadSileroModel } from '../../src/media/silero-model.ts';
import { EnergyStt, ScriptedLlm, tone, ToneTts } from '../bed/index.ts';
import { CallerLine, SimSink } from './cascade-harness.ts';

const SYSTEM = 'You are a test agent.';
/** 600 ms of a loud tone: speech for the energy recognizer. */
const SPEECH = Buffer.from(tone(300, 600, 8000, 8000).buffer);
const SILENCE_1S = Buffer.alloc(16000);

interface Call {
  agent: CascadeAgent;
  sink: SimSink;
  line: CallerLine;
  stts: EnergyStt[];
  llm: ScriptedLlm;
  ttss: ToneTts[];
}
const open: Call[] = [];

before(async () => {
  await loadSileroModel(); // the barge-in detector's model, once per process
});

afterEach(async () => {
  for (const c of open.splice(0)) {
    c.line.stop();
    await c.agent.close();
    c.sink.dispose();
  }
});

async function call(): Promise<Call> {
  const stts: EnergyStt[] = [];
  const ttss: ToneTts[] = [];
  const llm = new ScriptedLlm({ reply: (_history, n) => `Answer number ${n}, spoken as a tone.` });
  const agent = new CascadeAgent({
    settings: { systemInstructions: SYSTEM, voice: 'unused', language: 'en-US' },
    logger: pino({ level: 'silent' }),
    sampleRate: 8000,
    createStt: () => {
      const s = new EnergyStt({ transcript: (n) => `Question number ${n}.` });
      stts.push(s);
      return s;
    },
    llm,
    createTts: () => {
      const t = new ToneTts({ msPerChar: 10 });
      ttss.push(t);
      return t;
    },
    loadVad: loadSileroModel,
    turn: { endOn: 'speech_final' },
    bargeIn: { threshold: 0.5, minSpeechMs: 200 },
    apology: 'Sorry.',
  });
  const sink = new SimSink(8);
  sink.agent = agent;
  await agent.start(sink);
  const c = { agent, sink, line: new CallerLine(agent, 5).start(), stts, llm, ttss };
  open.push(c);
  return c;
}

test('bed stages: a caller turn is answered — transcript to the model, the reply spoken, both in the transcript', async () => {
  const c = await call();
  await c.line.say(SPEECH);
  await c.sink.waitFor((e) => e.t === 'replyDone', 8000, 'replyDone');
  assert.equal(c.llm.requests.length, 1);
  assert.equal(c.llm.requests[0]!.systemInstructions, SYSTEM);
  assert.deepEqual(c.llm.requests[0]!.history, [{ role: 'user', text: 'Question number 1.' }]);
  assert.ok(c.sink.of('audio').length > 0, 'reply audio reached the sink');
  assert.equal(
    c.ttss
      .at(-1)!
      .utterances.map((u) => u.text)
      .join(''),
    'Answer number 1, spoken as a tone.',
  );
  await c.sink.waitFor((e) => e.t === 'transcript' && e.speaker === 'agent' && e.final, 4000, 'agent final');
  assert.deepEqual(c.sink.finals('caller'), ['Question number 1.']);
  assert.deepEqual(c.sink.finals('agent'), ['Answer number 1, spoken as a tone.']);
});

test('bed stages: the next turn carries the conversation so far', async () => {
  const c = await call();
  await c.line.say(SPEECH);
  await c.sink.waitFor((e) => e.t === 'idle', 8000, 'first reply played');
  await c.line.say(Buffer.concat([SILENCE_1S, SPEECH]));
  await c.sink.waitFor((e) => e.t === 'replyDone' && c.llm.requests.length === 2, 8000, 'second reply');
  assert.deepEqual(c.llm.requests[1]!.history, [
    { role: 'user', text: 'Question number 1.' },
    { role: 'agent', text: 'Answer number 1, spoken as a tone.' },
    { role: 'user', text: 'Question number 2.' },
  ]);
});

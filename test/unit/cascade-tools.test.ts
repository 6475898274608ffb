/**
 * Tools on the cascade, through the real Gemini SDK against the Gemini text fake (function-call parts on the
 * wire), with the real Deepgram and Cartesia adapters and Silero: the model's calls reach the sink's runTool,
 * the answers go back as functionResponse parts and the reply goes on; a slow tool gets the filler; a barge-in
 * aborts the call; say() and notify().
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { toContents } from '../../src/agents/cascade/gemini-llm.ts';
import { requestTokens, trimHistory } from '../../src/agents/cascade/history.ts';
import type { ChatMessage } from '../../src/agents/cascade/stages.ts';
import type { ToolCallRequest, ToolDeclaration, ToolResult } from '../../src/agents/tools/types.ts';
import { loadSileroModel } from '../../src/media/silero-model.ts';
import { CallerLine, type Fakes, makeAgent, SHORT, SimSink, SPEECH, startFakes, until } from './cascade-harness.ts';
import type { CascadeAgent } from '../../src/agents/cascade/cascade-agent.ts';

const TOOLS: ToolDeclaration[] = [
  {
    name: 'check_table',
    description: 'Whether a table is free.',
    parameters: { type: 'object', properties: { party: { type: 'integer' }, time: { type: 'string' } } },
  },
  { name: 'lookup_guest', description: 'A guest by name.', parameters: { type: 'object', properties: {} } },
];
const FILLER = 'One moment, please.';

/** A sink whose runTool is scripted per test; every call is recorded with its signal. */
class ToolSink extends SimSink {
  readonly calls: { call: ToolCallRequest; signal: AbortSignal }[] = [];
  handler: (call: ToolCallRequest, signal: AbortSignal) => Promise<ToolResult> = async () => ({
    ok: true,
    result: { done: true },
  });
  runTool(call: ToolCallRequest, signal: AbortSignal): Promise<ToolResult> {
    this.calls.push({ call, signal });
    return this.handler(call, signal);
  }
}

interface Call {
  agent: CascadeAgent;
  sink: ToolSink;
  line: CallerLine;
}
const open: Call[] = [];

async function call(f: Fakes, fillerMs = 5000): Promise<Call> {
  const { agent } = makeAgent(f, { tools: TOOLS, toolFiller: { afterMs: fillerMs, text: FILLER } });
  const sink = new ToolSink(4);
  sink.agent = agent;
  await agent.start(sink);
  const line = new CallerLine(agent, 5).start();
  const c = { agent, sink, line };
  open.push(c);
  return c;
}

/** Everything Cartesia was given to speak, in order. */
function spoken(f: Fakes): string {
  return f.cart
    .allContexts()
    .map((c) => c.transcripts.join(''))
    .join('|');
}

before(async () => {
  await loadSileroModel();
});

afterEach(async () => {
  for (const c of open.splice(0)) {
    c.line.stop();
    await c.agent.close();
    c.sink.dispose();
  }
});

test('history: tool calls and answers are Gemini parts, counted, and trimmed with their exchange', () => {
  const call = { call: { id: 'c1', name: 'check_table', args: { party: 2 } }, signature: 'sig' };
  const h: ChatMessage[] = [
    { role: 'user', text: 'A table for two?' },
    { role: 'agent', text: 'Let me check.', toolCalls: [call] },
    { role: 'tool', text: '', toolAnswers: [{ call, result: { ok: true, result: { free: true } } }] },
    { role: 'agent', text: 'Yes, at seven.' },
    { role: 'user', text: 'Thanks.' },
  ];
  assert.deepEqual(toContents(h), [
    { role: 'user', parts: [{ text: 'A table for two?' }] },
    {
      role: 'model',
      parts: [
        { text: 'Let me check.' },
        { functionCall: { name: 'check_table', args: { party: 2 } }, thoughtSignature: 'sig' },
      ],
    },
    { role: 'user', parts: [{ functionResponse: { name: 'check_table', response: { output: { free: true } } } }] },
    { role: 'model', parts: [{ text: 'Yes, at seven.' }] },
    { role: 'user', parts: [{ text: 'Thanks.' }] },
  ]);
  const withoutTools = requestTokens('', [h[0]!, { role: 'agent', text: 'Let me check.' }, h[3]!, h[4]!]);
  assert.ok(requestTokens('', h) > withoutTools, 'calls and answers count against the budget');
  assert.equal(trimHistory(h, '', 3), 4, 'the whole first exchange goes, the call with its answer');
  assert.deepEqual(h, [{ role: 'user', text: 'Thanks.' }]);
});

describe('cascade tools through Gemini text', () => {
  let f: Fakes;
  before(async () => {
    f = await startFakes({
      dg: { auto: { transcript: (n) => `Caller turn ${n}.` } },
      gem: { autoReply: 'Anything else?' },
      cart: { msPerChar: 10, chunkMs: 40 },
    });
  });
  after(async () => f.stop());

  test('a tool round trip: args reach runTool, the answer reaches the next request, the reply goes on', async () => {
    f.gem.script(
      {
        tokens: [
          'Let me check. ',
          { functionCall: { name: 'check_table', args: { party: 2, time: '19:00' } }, thoughtSignature: 'sig-1' },
        ],
      },
      { tokens: ['We have a table ', 'at seven.'] },
    );
    const c = await call(f);
    c.sink.handler = async () => ({ ok: true, result: { free: true } });
    const n0 = f.gem.requests.length;
    await c.line.say(SPEECH);
    await c.sink.waitFor((e) => e.t === 'replyDone', 10000, 'replyDone');
    const [r1, r2] = f.gem.requests.slice(n0);
    assert.ok(r1 && r2, 'two model requests');
    assert.deepEqual(
      r1.functionDeclarations.map((d) => [d.name, d.parametersJsonSchema]),
      TOOLS.map((t) => [t.name, t.parameters]),
    );
    assert.equal(c.sink.calls.length, 1);
    assert.equal(c.sink.calls[0]!.call.name, 'check_table');
    assert.deepEqual(c.sink.calls[0]!.call.args, { party: 2, time: '19:00' });
    assert.deepEqual(r2.functionCalls, [
      { name: 'check_table', args: { party: 2, time: '19:00' }, thoughtSignature: 'sig-1' },
    ]);
    assert.deepEqual(r2.functionResponses, [{ name: 'check_table', response: { output: { free: true } } }]);
    assert.equal(f.gem.requests.length, n0 + 2, 'no third request');
    assert.equal(c.sink.finals('agent').at(-1), 'Let me check. We have a table at seven.');
    assert.ok(spoken(f).endsWith('Let me check. We have a table at seven.'), spoken(f));
    assert.deepEqual(
      c.agent.history.map((m) => [m.role, m.text, m.toolCalls?.length ?? 0, m.toolAnswers?.length ?? 0]),
      [
        ['user', 'Caller turn 1.', 0, 0],
        ['agent', 'Let me check.', 1, 0],
        ['tool', '', 0, 1],
        ['agent', 'We have a table at seven.', 0, 0],
      ],
    );
    assert.equal(c.agent.stats.toolRounds, 1);
  });

  test('two calls in one turn run in parallel; both answers go back in order', async () => {
    f.gem.script(
      {
        tokens: [
          { functionCall: { name: 'check_table', args: { party: 4 } } },
          { functionCall: { name: 'lookup_guest', args: { name: 'Ada' } } },
        ],
      },
      { tokens: ['Ada, your table for four is free.'] },
    );
    const c = await call(f);
    // Neither answers before both have started: run one after the other, this would never finish.
    c.sink.handler = async (call) => {
      await until(() => c.sink.calls.length === 2, 8000, 'the second call while the first runs');
      return { ok: true, result: { tool: call.name } };
    };
    const n0 = f.gem.requests.length;
    await c.line.say(SPEECH);
    await c.sink.waitFor((e) => e.t === 'replyDone', 10000, 'replyDone');
    assert.deepEqual(
      c.sink.calls.map((x) => x.call.name),
      ['check_table', 'lookup_guest'],
    );
    assert.notEqual(c.sink.calls[0]!.call.id, c.sink.calls[1]!.call.id, 'each call its own id');
    const r2 = f.gem.requests[n0 + 1]!;
    assert.deepEqual(r2.functionResponses, [
      { name: 'check_table', response: { output: { tool: 'check_table' } } },
      { name: 'lookup_guest', response: { output: { tool: 'lookup_guest' } } },
    ]);
    assert.equal(c.sink.finals('agent').at(-1), 'Ada, your table for four is free.');
  });

  test('an error result goes back as an error and the reply goes on', async () => {
    f.gem.script(
      { tokens: [{ functionCall: { name: 'check_table', args: {} } }] },
      { tokens: ['Sorry, I cannot check that right now.'] },
    );
    const c = await call(f);
    c.sink.handler = async () => ({ ok: false, error: 'webhook timed out' });
    const n0 = f.gem.requests.length;
    await c.line.say(SPEECH);
    await c.sink.waitFor((e) => e.t === 'replyDone', 10000, 'replyDone');
    assert.deepEqual(f.gem.requests[n0 + 1]!.functionResponses, [
      { name: 'check_table', response: { error: 'webhook timed out' } },
    ]);
    assert.equal(c.sink.finals('agent').at(-1), 'Sorry, I cannot check that right now.');
  });

  test('a slow tool: the filler is spoken once, before the answer', async () => {
    f.gem.script({ tokens: [{ functionCall: { name: 'check_table', args: {} } }] }, { tokens: ['Yes, we are open.'] });
    const c = await call(f, 150);
    const before = spoken(f);
    // The tool answers only once the filler has gone to TTS (then waits a little longer: still once).
    c.sink.handler = async () => {
      await until(() => spoken(f).slice(before.length).includes(FILLER), 8000, 'the filler');
      await new Promise((r) => setTimeout(r, 400));
      return { ok: true, result: 'open' };
    };
    await c.line.say(SPEECH);
    await c.sink.waitFor((e) => e.t === 'replyDone', 10000, 'replyDone');
    const said = spoken(f).slice(before.length);
    assert.equal(said.split(FILLER).length - 1, 1, said);
    assert.ok(said.indexOf(FILLER) < said.indexOf('Yes, we are open.'), said);
    assert.equal(c.sink.finals('agent').at(-1), `${FILLER} Yes, we are open.`);
    const last = c.agent.history.at(-1)!;
    assert.deepEqual([last.role, last.text], ['agent', `${FILLER} Yes, we are open.`]);
  });

  test('a barge-in during a tool call aborts its signal; the next turn knows the call did not finish', async () => {
    f.gem.script(
      {
        tokens: [
          'Let me look into that for you, it may take a moment. ',
          { functionCall: { name: 'lookup_guest', args: { name: 'Bob' } } },
        ],
      },
      { tokens: ['Of course, go ahead.'] },
    );
    const c = await call(f);
    c.sink.handler = (_call, signal) =>
      new Promise((resolve) => signal.addEventListener('abort', () => resolve({ ok: false, error: 'aborted' })));
    const n0 = f.gem.requests.length;
    await c.line.say(SHORT);
    await until(() => c.sink.calls.length === 1, 10000, 'the tool call');
    await c.sink.waitFor((e) => e.t === 'audio', 8000, 'reply audio');
    await c.line.say(SPEECH);
    await until(() => c.sink.calls[0]!.signal.aborted, 10000, 'the call aborted');
    await c.sink.waitFor((e) => e.t === 'replyDone', 10000, 'the next reply');
    const r2 = f.gem.requests[n0 + 1]!;
    assert.equal(r2.turns.at(-1)!.role, 'user');
    assert.equal(r2.functionResponses.length, 1);
    assert.equal(r2.functionResponses[0]!.name, 'lookup_guest');
    assert.match(String(r2.functionResponses[0]!.response.error), /cancelled/);
    assert.equal(c.sink.finals('agent').at(-1), 'Of course, go ahead.');
  });

  test('say() speaks the text as it is, without the model, as an agent turn', async () => {
    const c = await call(f);
    const n0 = f.gem.requests.length;
    const before = spoken(f);
    c.agent.say('Your booking number is 42.');
    await c.sink.waitFor((e) => e.t === 'replyDone', 8000, 'replyDone');
    assert.equal(spoken(f).slice(before.length).replace(/^\|/, ''), 'Your booking number is 42.');
    assert.equal(f.gem.requests.length, n0, 'no model request');
    assert.deepEqual(c.agent.history.at(-1), { role: 'agent', text: 'Your booking number is 42.' });
    assert.deepEqual(c.sink.finals('agent'), ['Your booking number is 42.']);
  });

  test('notify() runs a model turn with the text as the caller-side message; queued behind a reply', async () => {
    const c = await call(f);
    const n0 = f.gem.requests.length;
    c.agent.say('Please enter your code.');
    c.agent.notify('[The caller pressed 1 2 3 #]');
    await until(() => c.sink.of('replyDone').length === 2, 10000, 'two replies');
    assert.equal(f.gem.requests.length, n0 + 1);
    const req = f.gem.requests[n0]!;
    assert.deepEqual(req.turns.slice(-2), [
      { role: 'model', text: 'Please enter your code.' },
      { role: 'user', text: '[The caller pressed 1 2 3 #]' },
    ]);
    assert.deepEqual(c.sink.finals('agent'), ['Please enter your code.', 'Anything else?']);
  });
});

/**
 * GeminiLiveAgent and tools: declarations in the setup, tool calls handed to the sink and answered on the wire
 * (parallel, errors, cancellations, scheduling of non-blocking answers), a pending call across a goAway switch
 * and across a dropped connection, say() and notify(); against the Gemini Live fake.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import type { AgentSettings, AgentSink } from '../../src/agents/agent.ts';
import { GeminiLiveAgent, type GeminiLiveAgentOptions } from '../../src/agents/gemini-live/gemini-live-agent.ts';
import type { ToolCallRequest, ToolDeclaration, ToolResult } from '../../src/agents/tools/types.ts';
import { GeminiLiveFake, type GeminiLiveFakeOptions } from '../bed/index.ts';
import { liveAgentCleanup, sleep, until } from '../support/live-agent-bed.ts';
import { EventLog } from '../support/event-log.ts';

const KEY = 'test-key-123';
const M38 = 'gemini-3.8-live';
const M31 = 'gemini-3.1-flash-live-preview';

const LOOKUP: ToolDeclaration = {
  name: 'lookup_booking',
  description: 'Find a booking by its reference.',
  parameters: { type: 'object', properties: { reference: { type: 'string' } }, required: ['reference'] },
};
const END_CALL: ToolDeclaration = {
  name: 'end_call',
  description: 'End the call after saying goodbye.',
  parameters: { type: 'object', properties: {} },
};
const ALERT: ToolDeclaration = {
  name: 'fraud_check',
  description: 'Check the card for fraud.',
  parameters: { type: 'object', properties: {} },
  behavior: 'non_blocking',
  scheduling: 'interrupt',
};
const SLOW: ToolDeclaration = {
  name: 'transfer_call',
  description: 'Transfer the caller.',
  parameters: { type: 'object', properties: { to: { type: 'string' } } },
  behavior: 'blocking',
};

const settings = (tools?: ToolDeclaration[]): AgentSettings => ({
  systemInstructions: 'Be brief.',
  voice: 'Kore',
  language: 'en-US',
  ...(tools ? { tools } : {}),
});

type Ev = { t: 'interrupted' } | { t: 'replyDone' } | { t: 'audio'; bytes: number } | { t: 'resumed'; reason: string };

interface Run {
  call: ToolCallRequest;
  signal: AbortSignal;
  resolve(r: ToolResult): void;
}

/** A sink whose runTool hands every call to the test, which answers it with `resolve`. */
class ToolSink extends EventLog<Ev> implements AgentSink {
  readonly runs: Run[] = [];
  audio(pcm: Buffer): void {
    this.push({ t: 'audio', bytes: pcm.length });
  }
  replyDone(): void {
    this.push({ t: 'replyDone' });
  }
  interrupted(): void {
    this.push({ t: 'interrupted' });
  }
  transcript(): void {}
  hangup(): void {}
  failed(cause: string): void {
    throw new Error(`unexpected failed(): ${cause}`);
  }
  resumed(info: { reason: string }): void {
    this.push({ t: 'resumed', reason: info.reason });
  }
  runTool(call: ToolCallRequest, signal: AbortSignal): Promise<ToolResult> {
    return new Promise((resolve) => this.runs.push({ call, signal, resolve }));
  }
  playback(): { playing: boolean; heardMs: number } {
    return { playing: false, heardMs: 0 };
  }
  replyTimings(): void {}
}

const { fakes, agents } = liveAgentCleanup();

async function connected(
  tools: ToolDeclaration[] | undefined,
  over: Partial<GeminiLiveAgentOptions> = {},
  fakeOpts: GeminiLiveFakeOptions = {},
) {
  const fake = await GeminiLiveFake.start({ apiKey: KEY, ...fakeOpts });
  fakes.push(fake);
  const lines: Record<string, any>[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const agent = new GeminiLiveAgent({
    apiKey: KEY,
    model: M38,
    baseUrl: fake.baseUrl,
    connectTimeoutMs: 2000,
    settings: settings(tools),
    logger,
    ...over,
  });
  agents.push(agent);
  const sink = new ToolSink();
  await agent.start(sink);
  const s = await fake.nextSession();
  return { fake, agent, sink, s, lines };
}

describe('Gemini Live tools', () => {
  test('declarations reach the setup: JSON Schema parameters, behavior only where declared (3.8 and 3.1)', async () => {
    const expected = [
      { name: 'lookup_booking', description: LOOKUP.description, parametersJsonSchema: LOOKUP.parameters },
      {
        name: 'fraud_check',
        description: ALERT.description,
        parametersJsonSchema: ALERT.parameters,
        behavior: 'NON_BLOCKING',
      },
      {
        name: 'transfer_call',
        description: SLOW.description,
        parametersJsonSchema: SLOW.parameters,
        behavior: 'BLOCKING',
      },
    ];
    for (const model of [M38, M31]) {
      const { s } = await connected([LOOKUP, ALERT, SLOW], { model });
      assert.deepEqual(s.setup?.tools, [{ functionDeclarations: expected }], model);
    }
    const { s } = await connected(undefined);
    assert.equal(s.setup?.tools, undefined, 'no tools, no declarations');
  });

  test('a round trip: the args reach runTool, the result goes back with the id and name (3.8: WHEN_IDLE)', async () => {
    const { s, sink, lines } = await connected([LOOKUP]);
    const id = s.callTool('lookup_booking', { reference: 'AB12' });
    await until(() => sink.runs.length === 1, 2000, 'runTool called');
    const run = sink.runs[0]!;
    assert.deepEqual(run.call, { id, name: 'lookup_booking', args: { reference: 'AB12' } });
    assert.equal(run.signal.aborted, false);
    run.resolve({ ok: true, result: { room: 12, nights: 3 } });
    assert.deepEqual(await s.nextToolResponse(id), {
      name: 'lookup_booking',
      response: { output: { room: 12, nights: 3 } },
      id,
      scheduling: 'WHEN_IDLE',
    });
    assert.deepEqual(s.pendingToolIds, []);
    const log = lines.find((l) => l.msg === 'gemini live tool call answered');
    assert.equal(log?.level, 20, 'logged at debug');
    assert.equal(log?.tool, 'lookup_booking');
    assert.equal(typeof log?.ms, 'number');
  });

  test('an older model blocks by default: its answers carry no scheduling', async () => {
    const { s, sink } = await connected([LOOKUP], { model: M31 });
    const id = s.callTool('lookup_booking', { reference: 'X' });
    await until(() => sink.runs.length === 1, 2000, 'runTool called');
    sink.runs[0]!.resolve({ ok: true, result: 'found' });
    assert.deepEqual(await s.nextToolResponse(id), { name: 'lookup_booking', response: { output: 'found' }, id });
  });

  test('two parallel calls: each is run and answered with its own id, in the order they finish', async () => {
    const { s, sink } = await connected([LOOKUP, SLOW]);
    s.toolCall([
      { id: 'c1', name: 'lookup_booking', args: { reference: 'A' } },
      { id: 'c2', name: 'transfer_call', args: { to: 'sales' } },
    ]);
    await until(() => sink.runs.length === 2, 2000, 'both calls run');
    assert.deepEqual(
      sink.runs.map((r) => r.call.id),
      ['c1', 'c2'],
    );
    sink.runs[1]!.resolve({ ok: true, result: 'transferring' });
    const second = await s.nextToolResponse('c2');
    assert.deepEqual(
      second,
      { name: 'transfer_call', response: { output: 'transferring' }, id: 'c2' },
      'blocking: no scheduling',
    );
    assert.deepEqual(s.pendingToolIds, ['c1']);
    sink.runs[0]!.resolve({ ok: true, result: 'booked' });
    assert.equal((await s.nextToolResponse('c1')).response.output, 'booked');
    assert.deepEqual(
      s.toolResponses.map((r) => r.functionResponses.map((f: { id: string }) => f.id)),
      [['c2'], ['c1']],
    );
  });

  test('an error result is sent as {error}; a silent built-in that failed is scheduled WHEN_IDLE', async () => {
    const { s, sink } = await connected([LOOKUP, END_CALL]);
    const a = s.callTool('lookup_booking', { reference: 'nope' });
    const b = s.callTool('end_call');
    const c = s.callTool('end_call', {}, { id: 'end-2' });
    await until(() => sink.runs.length === 3, 2000, 'calls run');
    sink.runs[0]!.resolve({ ok: false, error: 'webhook answered 500' });
    sink.runs[1]!.resolve({ ok: true, result: 'ending' });
    sink.runs[2]!.resolve({ ok: false, error: 'the call is already ending' });
    assert.deepEqual(await s.nextToolResponse(a), {
      name: 'lookup_booking',
      response: { error: 'webhook answered 500' },
      id: a,
      scheduling: 'WHEN_IDLE',
    });
    assert.equal((await s.nextToolResponse(b)).scheduling, 'SILENT', 'end_call needs no words');
    assert.equal((await s.nextToolResponse(c)).scheduling, 'WHEN_IDLE', 'a failure must reach the caller');
  });

  test('a tool the sink does not know, or a sink that throws, still gets an answer', async () => {
    const { s, sink } = await connected([LOOKUP]);
    sink.runTool = () => {
      throw new Error('boom');
    };
    const id = s.callTool('lookup_booking', { reference: 'A' });
    assert.deepEqual((await s.nextToolResponse(id)).response, { error: 'boom' });
  });

  test('a declared scheduling wins: INTERRUPT for an urgent non-blocking tool', async () => {
    const { s, sink } = await connected([ALERT], { model: M31 });
    const id = s.callTool('fraud_check');
    await until(() => sink.runs.length === 1, 2000, 'runTool called');
    sink.runs[0]!.resolve({ ok: true, result: { fraud: true } });
    assert.equal((await s.nextToolResponse(id)).scheduling, 'INTERRUPT');
  });

  test('a cancelled call: its signal is aborted and nothing is sent for it', async () => {
    const { s, sink } = await connected([LOOKUP]);
    const a = s.callTool('lookup_booking', { reference: 'A' });
    const b = s.callTool('lookup_booking', { reference: 'B' });
    await until(() => sink.runs.length === 2, 2000, 'calls run');
    s.cancelTool([a]);
    await until(() => sink.runs[0]!.signal.aborted, 2000, 'the cancelled call aborted');
    assert.equal(sink.runs[1]!.signal.aborted, false);
    sink.runs[0]!.resolve({ ok: false, error: 'aborted' });
    sink.runs[1]!.resolve({ ok: true, result: 'B found' });
    await s.nextToolResponse(b);
    const answered = s.toolResponses.flatMap((r) => r.functionResponses.map((f: { id: string }) => f.id));
    assert.deepEqual(answered, [b], 'only the call that was not cancelled is answered');
  });

  test('a pending call delays the goAway switch; the answer goes on the old connection, then the switch', async () => {
    const { fake, s, sink, lines } = await connected([LOOKUP], {}, { resumption: { updateEveryMs: 50 } });
    await until(() => s.handles.length > 0, 2000, 'a first handle');
    const id = s.callTool('lookup_booking', { reference: 'A' });
    const beforeCall = s.handles.length;
    await until(() => sink.runs.length === 1, 2000, 'runTool called');
    s.goAway(10_000);
    await sleep(300); // several update periods: only non-resumable updates while the call is pending
    assert.equal(fake.sessions.length, 1, 'no switch while the call is pending');
    sink.runs[0]!.resolve({ ok: true, result: 'found' });
    await s.nextToolResponse(id);
    const s2 = await fake.nextSession(3000);
    await sink.waitFor((e) => e.t === 'resumed');
    const handle = s.handles.indexOf(s2.resumedFrom ?? '');
    assert.ok(handle >= beforeCall, 'resumed with a handle issued after the answer');
    assert.deepEqual(sink.of('resumed'), [{ t: 'resumed', reason: 'goAway' }], 'switched at a safe moment');
    assert.equal(s2.toolResponses.length, 0, 'the answer was not sent again');
    assert.equal(s2.texts.length, 0);
    assert.ok(lines.some((l) => l.msg === 'gemini live session resumed'));
  });

  test('a call pending when the connection drops keeps running; its result reaches the resumed model as text', async () => {
    const { fake, s, sink } = await connected([LOOKUP], {}, { resumption: { updateEveryMs: 50 } });
    await until(() => s.handles.length > 0, 2000, 'a first handle');
    s.callTool('lookup_booking', { reference: 'A1' });
    await until(() => sink.runs.length === 1, 2000, 'runTool called');
    s.close(1011, 'Internal error encountered.');
    const s2 = await fake.nextSession(3000);
    await sink.waitFor((e) => e.t === 'resumed');
    assert.equal(sink.runs[0]!.signal.aborted, false, 'the tool keeps running');
    sink.runs[0]!.resolve({ ok: true, result: { room: 7 } });
    await until(() => s2.texts.length === 1, 2000, 'the result told to the resumed model');
    assert.equal(
      s2.texts[0],
      '[Result of your earlier call to lookup_booking({"reference":"A1"}): {"output":{"room":7}}]',
    );
    assert.equal(s2.toolResponses.length, 0, 'no toolResponse for an id the resumed session never issued');
  });

  test('a resumed model asking again for a call still running gets that call’s result: the tool runs once', async () => {
    const { fake, s, sink } = await connected([LOOKUP], {}, { resumption: { updateEveryMs: 50 } });
    await until(() => s.handles.length > 0, 2000, 'a first handle');
    s.callTool('lookup_booking', { reference: 'A1' });
    await until(() => sink.runs.length === 1, 2000, 'runTool called');
    s.close(1011, 'Internal error encountered.');
    const s2 = await fake.nextSession(3000);
    await sink.waitFor((e) => e.t === 'resumed');
    const again = s2.callTool('lookup_booking', { reference: 'A1' });
    const other = s2.callTool('lookup_booking', { reference: 'B2' });
    await until(() => sink.runs.length === 2, 2000, 'the other call run');
    assert.deepEqual(sink.runs[1]!.call.args, { reference: 'B2' }, 'the repeated call was not run again');
    sink.runs[0]!.resolve({ ok: true, result: 'A1 found' });
    sink.runs[1]!.resolve({ ok: true, result: 'B2 found' });
    assert.deepEqual((await s2.nextToolResponse(again)).response, { output: 'A1 found' });
    assert.deepEqual((await s2.nextToolResponse(other)).response, { output: 'B2 found' });
    assert.equal(s2.texts.length, 0);
  });

  test('close() aborts the calls in progress and answers none of them', async () => {
    const { agent, s, sink } = await connected([LOOKUP]);
    s.callTool('lookup_booking', { reference: 'A' });
    await until(() => sink.runs.length === 1, 2000, 'runTool called');
    await agent.close();
    assert.equal(sink.runs[0]!.signal.aborted, true);
    sink.runs[0]!.resolve({ ok: true, result: 'late' });
    await sleep(50);
    assert.equal(s.toolResponses.length, 0);
  });
});

describe('Gemini Live say and notify', () => {
  test('say asks the model to say the text word for word; notify sends the event in brackets', async () => {
    const { agent, s } = await connected(undefined);
    agent.say('Your booking is confirmed for Friday.');
    agent.notify('The caller pressed 1 2 3 #');
    agent.notify('[The transfer to sales failed: busy]');
    await until(() => s.texts.length === 3, 2000, 'three texts');
    assert.deepEqual(s.texts, [
      'Say exactly this to the caller, word for word, nothing else: "Your booking is confirmed for Friday."',
      '[The caller pressed 1 2 3 #]',
      '[The transfer to sales failed: busy]',
    ]);
  });

  test('say before the connection is up is sent once it is', async () => {
    const fake = await GeminiLiveFake.start({ apiKey: KEY });
    fakes.push(fake);
    const agent = new GeminiLiveAgent({
      apiKey: KEY,
      model: M38,
      baseUrl: fake.baseUrl,
      connectTimeoutMs: 2000,
      settings: settings(),
      logger: pino({ level: 'silent' }),
    });
    agents.push(agent);
    const starting = agent.start(new ToolSink());
    agent.say('Hello.');
    await starting;
    const s = await fake.nextSession();
    await until(() => s.texts.length === 1, 2000, 'the text sent');
    assert.equal(s.texts[0], 'Say exactly this to the caller, word for word, nothing else: "Hello."');
  });

  test('notify with interrupt drops the current reply: interrupted() first, the rest of the reply never reaches the sink', async () => {
    const { agent, s, sink } = await connected(undefined);
    const chunk = Buffer.alloc(1920, 1); // 40 ms at 24 kHz
    const audio = (n: number) => {
      for (let i = 0; i < n; i++)
        s.send({
          serverContent: {
            modelTurn: {
              parts: [{ inlineData: { mimeType: 'audio/pcm;rate=24000', data: chunk.toString('base64') } }],
            },
          },
        });
    };
    audio(3);
    await until(() => sink.of('audio').length === 3, 2000, 'the reply playing');
    agent.notify('The caller pressed 0', { interrupt: true });
    assert.deepEqual(sink.events.at(-1), { t: 'interrupted' }, 'interrupted at once');
    await until(() => s.texts.length === 1, 2000, 'the event sent');
    audio(2); // what the service still sends of the dropped reply
    s.generationComplete();
    audio(1); // the model's answer to the event
    await until(() => sink.of('audio').length === 4, 2000, 'the answer heard');
    await sleep(50);
    assert.equal(sink.of('audio').length, 4, 'none of the dropped reply played');
    assert.equal(s.texts[0], '[The caller pressed 0]');
  });
});

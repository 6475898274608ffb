import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CallActions, TransferOutcome } from '../../src/calls/call-actions.ts';
import { CallBook, type CallChange } from '../../src/calls/call-book.ts';
import { callToolRunner } from '../../src/calls/call-tools.ts';
import { settingsPatch } from '../../src/calls/settings-patch.ts';
import { callTools } from '../../src/calls/tools/tool-table.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { noResumptions } from '../../src/store/call-record.ts';

/** CallActions that record what they were asked and answer as told. */
class ActionsDouble implements CallActions {
  readonly ended: string[] = [];
  readonly transfers: Array<{ target: string; method?: string }> = [];
  readonly digits: string[] = [];
  transferAnswer: TransferOutcome = { ok: true, method: 'bridge' };
  endAfterPlayback(reason: string): void {
    this.ended.push(reason);
  }
  async transfer(target: string, opts?: { method?: 'bridge' | 'refer' }): Promise<TransferOutcome> {
    this.transfers.push({ target, method: opts?.method });
    return this.transferAnswer;
  }
  async sendDtmf(digits: string): Promise<void> {
    this.digits.push(digits);
  }
}

const CALL = '11111111-2222-3333-4444-555555555555';
const context = { call_id: CALL, call_uuid: CALL, direction: 'outbound' as const, from: '1000', to: '2000' };

function setUp(patch: unknown, fetchImpl?: typeof fetch) {
  const tools = callTools(settingsPatch.parse(patch), context);
  const book = new CallBook(undefined, silentLogger());
  const record = book.add({
    id: CALL,
    direction: 'outbound',
    from: '1000',
    to: '2000',
    pipeline: 'echo',
    status: 'answered',
    createdAt: Date.now(),
    turns: [],
    transcript: [],
    resumptions: noResumptions(),
  });
  const changes: CallChange[] = [];
  book.on('change', (_r, c) => changes.push(c));
  const actions = new ActionsDouble();
  const metrics = new Metrics();
  const runner = callToolRunner({
    callId: CALL,
    table: tools?.table,
    actions,
    book,
    logger: silentLogger(),
    metrics,
    ...(fetchImpl && { fetch: fetchImpl }),
  });
  const run = (name: string, args: Record<string, unknown> = {}, signal = new AbortController().signal) =>
    runner.run({ id: `id-${name}`, name, args }, signal);
  return { runner, run, actions, record, changes, metrics };
}

const all = { builtin_tools: ['end_call', 'transfer_call', 'send_dtmf'] };

test('end_call asks the call to end after the goodbye and tells the model so', async () => {
  const t = setUp(all);
  assert.deepEqual(await t.run('end_call', { reason: 'caller is done' }), {
    ok: true,
    result: 'ending the call after your goodbye',
  });
  assert.deepEqual(t.actions.ended, ['caller is done']);
});

test('transfer_call hands the target to CallActions and reports a failed transfer so the agent can say it', async () => {
  const t = setUp(all);
  assert.deepEqual(await t.run('transfer_call', { target: '+15551234567' }), {
    ok: true,
    result: 'the caller has been transferred to +15551234567',
  });
  t.actions.transferAnswer = { ok: false, reason: 'busy', detail: 'USER_BUSY' };
  const busy = await t.run('transfer_call', { target: 'sip:desk@pbx.example.com', method: 'refer' });
  assert.equal(busy.ok, false);
  assert.match(!busy.ok ? busy.error : '', /is busy: USER_BUSY\. The caller is still on the line with you/);
  assert.deepEqual(t.actions.transfers, [
    { target: '+15551234567', method: 'bridge' },
    { target: 'sip:desk@pbx.example.com', method: 'refer' },
  ]);
  const bad = await t.run('transfer_call', { target: '1000 & originate evil' });
  assert.equal(bad.ok, false, 'an unusable target never reaches CallActions');
  assert.equal(t.actions.transfers.length, 2);
});

test('transfer_call keeps to the allow-list when the call has one', async () => {
  const t = setUp({ ...all, transfer_targets: ['+15550001111'] });
  const refused = await t.run('transfer_call', { target: '+15559999999' });
  assert.deepEqual(refused, { ok: false, error: 'transfers on this call may only go to: +15550001111' });
  assert.equal((await t.run('transfer_call', { target: '+15550001111' })).ok, true);
  assert.deepEqual(
    t.actions.transfers.map((x) => x.target),
    ['+15550001111'],
  );
});

test('send_dtmf sends valid digits only', async () => {
  const t = setUp(all);
  assert.deepEqual(await t.run('send_dtmf', { digits: '1w2#' }), { ok: true, result: 'sent the digits 1w2#' });
  assert.equal((await t.run('send_dtmf', { digits: '1;hangup' })).ok, false);
  assert.equal((await t.run('send_dtmf', {})).ok, false);
  assert.deepEqual(t.actions.digits, ['1w2#']);
});

test('a CallActions failure becomes an error result, not a rejection', async () => {
  const t = setUp(all);
  t.actions.sendDtmf = async () => {
    throw new Error('channel gone');
  };
  assert.deepEqual(await t.run('send_dtmf', { digits: '5' }), { ok: false, error: 'the tool failed: channel gone' });
});

test('built-ins not enabled and unknown names are answered as unknown tools', async () => {
  const t = setUp({ builtin_tools: ['send_dtmf'] });
  const r = await t.run('end_call');
  assert.deepEqual(r, { ok: false, error: 'there is no tool named "end_call" on this call' });
  assert.deepEqual(t.actions.ended, []);
  const none = callToolRunner({
    callId: CALL,
    table: undefined,
    actions: new ActionsDouble(),
    book: new CallBook(undefined, silentLogger()),
    logger: silentLogger(),
  });
  assert.equal((await none.run({ id: '1', name: 'anything', args: {} }, new AbortController().signal)).ok, false);
});

test('webhook tools are POSTed with the call ids, tool name, call id and arguments', async () => {
  const requests: Array<{ url: string; body: unknown }> = [];
  const fakeFetch = (async (url: string, init: RequestInit) => {
    requests.push({ url, body: JSON.parse(String(init.body)) });
    return new Response(JSON.stringify({ found: true }), { status: 200 });
  }) as unknown as typeof fetch;
  const t = setUp(
    {
      tools: [
        {
          name: 'lookup_order',
          description: 'Find an order',
          parameters: { type: 'object', properties: { order: { type: 'string' } } },
          url: 'https://tools.example.com/order',
        },
      ],
    },
    fakeFetch,
  );
  assert.deepEqual(await t.run('lookup_order', { order: 'A17' }), { ok: true, result: { found: true } });
  assert.deepEqual(requests, [
    {
      url: 'https://tools.example.com/order',
      body: { ...context, tool: 'lookup_order', tool_call_id: 'id-lookup_order', args: { order: 'A17' } },
    },
  ]);
});

test('every tool call reaches the record, the transcript, the change stream and the metrics', async () => {
  const t = setUp(all);
  await t.run('send_dtmf', { digits: '42' });
  await t.run('nope', { x: 'y'.repeat(2000) });
  const tools = t.record.tools!;
  assert.equal(tools.count, 2);
  assert.equal(tools.errors, 1);
  assert.equal(tools.last[0]?.name, 'send_dtmf');
  assert.equal(tools.last[0]?.args, '{"digits":"42"}');
  assert.equal(tools.last[0]?.ok, true);
  assert.equal(typeof tools.last[0]?.durationMs, 'number');
  assert.ok(tools.last[1]!.args.length <= 501, 'arguments are cut');
  assert.equal(tools.last[1]?.outcome, 'error');
  const lines = t.record.transcript.filter((e) => e.speaker === 'tool');
  assert.equal(lines.length, 2);
  assert.equal(lines[0]?.text, 'send_dtmf {"digits":"42"} → ok');
  assert.match(lines[1]!.text, /^nope .* → error: there is no tool named "nope"/);
  const toolEvents = t.changes.filter((c) => c.type === 'tool');
  assert.equal(toolEvents.length, 2);
  assert.equal(t.changes.filter((c) => c.type === 'transcript').length, 2);
  const text = await t.metrics.text();
  assert.match(text, /^callbridge_tool_calls_total\{tool="send_dtmf",outcome="ok"\} 1$/m);
  assert.match(text, /^callbridge_tool_calls_total\{tool="unknown",outcome="error"\} 1$/m);
  assert.match(text, /^callbridge_tool_seconds_count\{tool="send_dtmf"\} 1$/m);
});

test('the call ending cancels tool calls still running', async () => {
  const fakeFetch = ((_url: string, init: RequestInit) =>
    new Promise((_resolve, reject) => {
      init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
    })) as unknown as typeof fetch;
  const t = setUp(
    {
      tools: [
        { name: 'slow', description: 'd', parameters: { type: 'object' }, url: 'http://x.example/', timeout_ms: 30000 },
      ],
    },
    fakeFetch,
  );
  const running = t.run('slow');
  t.runner.close();
  const r = await running;
  assert.equal(r.ok, false);
  assert.equal(t.record.tools?.last[0]?.outcome, 'cancelled');
});

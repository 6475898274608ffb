import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveCallSettings, type CallFacts } from '../../src/calls/call-settings.ts';
import { callbackAnswer, settingsPatch } from '../../src/calls/settings-patch.ts';
import { NewCall } from '../../src/http/schemas.ts';
import { silentLogger } from '../../src/log.ts';
import { loadToolsFile, toolCountProblem, TOOL_FIELDS } from '../../src/calls/tools/tool-config.ts';
import { callTools } from '../../src/calls/tools/tool-table.ts';
import { issueLines } from '../../src/errors.ts';

const lookup = {
  name: 'lookup_order',
  description: 'Find an order by its number',
  parameters: { type: 'object', properties: { order: { type: 'string' } }, required: ['order'] },
  url: 'https://tools.example.com/order',
};

/** The problems settingsPatch finds in `tools`, as the API and logs show them. */
function problems(value: unknown): string[] {
  const r = settingsPatch.safeParse(value);
  return r.success ? [] : issueLines(r.error);
}

test('a well-formed webhook tool is accepted, its timeout defaulting to 5000 ms', () => {
  const r = settingsPatch.parse({ tools: [lookup], builtin_tools: ['end_call', 'transfer_call'] });
  assert.equal(r.tools?.[0]?.timeout_ms, 5000);
  assert.deepEqual(r.builtin_tools, ['end_call', 'transfer_call']);
});

test('hostile or broken tool definitions are refused with messages naming the field', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['bad name', { ...lookup, name: 'drop table;' }, /^tools\.0\.name: must start with a letter/],
    ['name too long', { ...lookup, name: `a${'b'.repeat(64)}` }, /^tools\.0\.name:/],
    ['built-in name', { ...lookup, name: 'end_call' }, /^tools\.0\.name: is the name of a built-in tool/],
    ['file url', { ...lookup, url: 'file:///etc/passwd' }, /^tools\.0\.url: must be an http:\/\/ or https:\/\/ URL/],
    ['not a url', { ...lookup, url: 'tools.example.com' }, /^tools\.0\.url:/],
    ['long description', { ...lookup, description: 'x'.repeat(1025) }, /^tools\.0\.description: must be at most 1024/],
    [
      'parameters not an object schema',
      { ...lookup, parameters: { type: 'string' } },
      /^tools\.0\.parameters: must be a JSON Schema with "type": "object"/,
    ],
    [
      'oversized parameters',
      { ...lookup, parameters: { type: 'object', description: 'x'.repeat(9000) } },
      /^tools\.0\.parameters: must be at most 8192 bytes as JSON/,
    ],
    ['timeout too long', { ...lookup, timeout_ms: 60000 }, /^tools\.0\.timeout_ms: must be at most 30000 ms/],
    ['timeout too short', { ...lookup, timeout_ms: 10 }, /^tools\.0\.timeout_ms: must be at least 100 ms/],
    ['unknown field', { ...lookup, headers: { authorization: 'x' } }, /^tools\.0: Unrecognized key/],
    ['bad behavior', { ...lookup, behavior: 'sometimes' }, /^tools\.0\.behavior:/],
  ];
  for (const [what, tool, expected] of cases) {
    const found = problems({ tools: [tool] });
    assert.ok(
      found.some((p) => expected.test(p)),
      `${what}: ${JSON.stringify(found)}`,
    );
  }
});

test('too many tools, duplicate names and unknown built-ins are refused', () => {
  const many = Array.from({ length: 17 }, (_, i) => ({ ...lookup, name: `tool_${i}` }));
  assert.ok(problems({ tools: many }).some((p) => /^tools: at most 16 tools per call/.test(p)));
  const twice = problems({ tools: [lookup, lookup] });
  assert.ok(
    twice.some((p) => p === 'tools.1: tool name "lookup_order" is given twice'),
    JSON.stringify(twice),
  );
  assert.ok(problems({ builtin_tools: ['end_call', 'end_call'] }).some((p) => /given twice/.test(p)));
  assert.ok(problems({ builtin_tools: ['format_disk'] }).some((p) => /^builtin_tools\.0: must be one of/.test(p)));
  assert.ok(
    problems({ transfer_targets: ['1000 & rm -rf'] }).some((p) => /^transfer_targets\.0: must be a phone/.test(p)),
  );
  assert.ok(problems({ transfer_targets: ['sip:a@b;transport=tcp'] }).length > 0, 'no SIP URI parameters');
  assert.deepEqual(problems({ transfer_targets: ['+15551234567', 'sip:desk@pbx.example.com:5060'] }), []);
  // 14 webhooks and 3 built-ins pass one by one but not together.
  const together = { tools: many.slice(0, 14), builtin_tools: ['end_call', 'transfer_call', 'send_dtmf'] as const };
  assert.match(toolCountProblem(settingsPatch.parse(together)) ?? '', /at most 16 tools per call, built-ins included/);
});

test('the callback answer, profiles and the POST /calls body take the same tool fields', () => {
  const answer = callbackAnswer.safeParse({ system_instructions: 'hi', tools: [{ ...lookup, url: 'ftp://x' }] });
  assert.equal(answer.success, false);
  const body = NewCall.safeParse({ to: '+15551234567', tools: [lookup], builtin_tools: ['end_call'] });
  assert.ok(body.success);
  assert.equal(body.data.tools?.[0]?.timeout_ms, 5000);
  assert.equal(NewCall.safeParse({ to: '+15551234567', tools: [{ ...lookup, name: '1bad' }] }).success, false);
  assert.ok(TOOL_FIELDS.tools);
});

function facts(overrides: Partial<CallFacts> = {}): CallFacts {
  return {
    callId: '11111111-2222-3333-4444-555555555555',
    direction: 'inbound',
    from: '1000',
    to: '2000',
    variable: () => undefined,
    ...overrides,
  };
}

test('tools follow the precedence of instructions: file < profile < POST /calls, each field replacing the lower one', async () => {
  const defaults = {
    pipeline: 'echo' as const,
    systemInstructions: 'x',
    voice: 'Puck',
    language: 'en-US',
    toolPatch: settingsPatch.parse({ tools: [lookup], builtin_tools: ['end_call'] }),
  };
  const profiles = {
    sales: settingsPatch.parse({ builtin_tools: ['transfer_call'], transfer_targets: ['+15550001111'] }),
  };
  const fromFile = await resolveCallSettings(facts(), { defaults, profiles, logger: silentLogger() });
  assert.deepEqual(
    fromFile.tools?.map((t) => t.name),
    ['end_call', 'lookup_order'],
  );
  assert.equal(fromFile.toolTable?.webhooks.get('lookup_order')?.timeoutMs, 5000);

  const variable = (n: string) => (n === 'callbridge_profile' ? 'sales' : undefined);
  const withProfile = await resolveCallSettings(facts({ variable }), { defaults, profiles, logger: silentLogger() });
  assert.deepEqual(
    withProfile.tools?.map((t) => t.name),
    ['transfer_call', 'lookup_order'],
    'the profile replaced the built-ins, kept the webhooks',
  );
  const transfer = withProfile.tools?.[0]?.parameters.properties?.target as { enum?: string[] };
  assert.deepEqual(transfer.enum, ['+15550001111'], 'the allow-list is shown to the model');

  const api = settingsPatch.parse({ tools: [{ ...lookup, name: 'book_table' }] });
  const withApi = await resolveCallSettings(facts({ variable }), {
    defaults,
    profiles,
    logger: silentLogger(),
    apiTools: (id) => (id === facts().callId ? api : undefined),
  });
  assert.deepEqual(
    withApi.tools?.map((t) => t.name),
    ['transfer_call', 'book_table'],
  );
  assert.deepEqual(withApi.toolTable?.context, {
    call_id: facts().callId,
    call_uuid: facts().callId,
    direction: 'inbound',
    from: '1000',
    to: '2000',
  });
});

test('sources adding up to more than 16 tools keep the built-ins and drop the last webhooks', () => {
  const many = Array.from({ length: 16 }, (_, i) => ({ ...lookup, name: `tool_${i}` }));
  const patch = settingsPatch.parse({ tools: many, builtin_tools: ['end_call', 'send_dtmf'] });
  const t = callTools(patch, { call_id: 'a', call_uuid: 'a', direction: 'inbound', from: '', to: '' });
  assert.equal(t?.declarations.length, 16);
  assert.deepEqual(t?.dropped, ['tool_14', 'tool_15']);
  assert.equal(callTools({}, { call_id: 'a', call_uuid: 'a', direction: 'inbound', from: '', to: '' }), undefined);
});

test('TOOLS_FILE is read and checked, with every problem named', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tools-file-'));
  try {
    const good = join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ tools: [lookup], builtin_tools: ['end_call'] }));
    const ok = loadToolsFile(good);
    assert.ok(ok.ok);
    assert.equal(ok.patch.tools?.[0]?.name, 'lookup_order');

    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ tools: [{ ...lookup, url: 'gopher://x' }], builtin: ['end_call'] }));
    const refused = loadToolsFile(bad);
    assert.ok(!refused.ok);
    assert.ok(
      refused.problems.some((p) => /^TOOLS_FILE: tools\.0\.url: must be an http/.test(p)),
      refused.problems.join('\n'),
    );
    assert.ok(
      refused.problems.some((p) => /^TOOLS_FILE: .*Unrecognized key.*builtin/.test(p)),
      refused.problems.join('\n'),
    );

    const notJson = join(dir, 'not.json');
    await writeFile(notJson, '{tools: [');
    const broken = loadToolsFile(notJson);
    assert.ok(!broken.ok);
    assert.match(broken.problems[0]!, /^TOOLS_FILE: cannot read .* as JSON/);
    assert.ok(!loadToolsFile(join(dir, 'missing.json')).ok);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

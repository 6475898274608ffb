import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EslProtocolError } from '../../src/freeswitch/esl-frames.ts';
import { findStringValue } from '../../src/freeswitch/event-json.ts';
import { eventFromJson, eventFromJsonText, toCallEvent } from '../../src/freeswitch/events.ts';

const captured = JSON.parse(
  readFileSync(new URL('../bed/freeswitch/fixtures/captured.json', import.meta.url), 'utf8'),
) as { samples: Record<string, { headers: Record<string, unknown> }> };

test('every captured FreeSWITCH event reads the same lazily as parsed whole: every header, name, subclass, body', () => {
  for (const [what, sample] of Object.entries(captured.samples)) {
    const obj = { ...sample.headers, _body: 'a body\nwith "quotes"' };
    const text = JSON.stringify(obj);
    const lazy = eventFromJsonText(text);
    const whole = eventFromJson(obj);
    assert.equal(lazy.name, whole.name, what);
    assert.equal(lazy.subclass, whole.subclass, what);
    assert.equal(lazy.body, whole.body, what);
    for (const name of [...Object.keys(obj), 'Not-There', 'variable_not_there'])
      assert.equal(lazy.header(name), whole.header(name), `${what}: ${name}`);
    const plain = (e: unknown) => JSON.parse(JSON.stringify(e ?? null)); // channel.variable is checked above
    assert.deepEqual(plain(toCallEvent(lazy)), plain(toCallEvent(whole)), what);
  }
});

test('values with escapes, quotes, unicode and look-alike keys inside values decode as JSON.parse does', () => {
  const obj = {
    'Event-Name': 'PLAYBACK_START',
    variable_trap: '","Unique-ID":"spoofed',
    variable_slash: 'C:\\dir\\',
    'Unique-ID': 'real-uuid',
    variable_multi: 'line1\nline2\t"quoted" é ✓',
    'Playback-File-Path': '/tmp/a b.PCMU',
  };
  const e = eventFromJsonText(JSON.stringify(obj));
  assert.equal(e.header('Unique-ID'), 'real-uuid');
  assert.equal(e.header('variable_trap'), obj.variable_trap);
  assert.equal(e.header('variable_slash'), obj.variable_slash);
  assert.equal(e.header('variable_multi'), obj.variable_multi);
  assert.deepEqual(toCallEvent(e), { type: 'playback-start', uuid: 'real-uuid', path: '/tmp/a b.PCMU' });
});

test('array variables (push, DP_MATCH) read as FreeSWITCH strings, like a whole parse', () => {
  const text = JSON.stringify({ 'Event-Name': 'CHANNEL_PARK', variable_DP_MATCH: ['4001', '4001'], 'Unique-ID': 'u' });
  const e = eventFromJsonText(text);
  assert.equal(e.header('variable_DP_MATCH'), 'ARRAY::4001|:4001');
  assert.equal(e.header('Unique-ID'), 'u');
});

test('a header given twice: the first one counts, as FreeSWITCH’s switch_event_get_header reads it', () => {
  assert.equal(findStringValue('{"Event-Name":"A","X":"first","X":"second"}', 'X'), 'first');
});

// Only the shape is checked before searching (`{"` … `}`, an Event-Name string): a body that has it but is not
// JSON (which cJSON never prints) is read as far as the headers asked for go.
test('a body that is not shaped like a JSON object, or has no Event-Name, is a protocol error, as before', () => {
  for (const body of ['{"Event-Name', 'not json', '[1,2]', '{"Event-Name":1', '{"A":"b",}', ''])
    assert.throws(() => eventFromJsonText(body), EslProtocolError, JSON.stringify(body));
});

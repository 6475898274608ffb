import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EslFrameParser, EslProtocolError } from '../../src/freeswitch/esl-frames.ts';
import { eventFromJson } from '../../src/freeswitch/events.ts';
import { parseChannelList } from '../../src/freeswitch/channel-list.ts';

const event = (obj: Record<string, unknown>) => {
  const json = JSON.stringify(obj);
  return `Content-Length: ${Buffer.byteLength(json)}\nContent-Type: text/event-json\n\n${json}`;
};
const STREAM =
  'Content-Type: auth/request\n\n' +
  'Content-Type: command/reply\nReply-Text: +OK accepted\n\n' +
  event({ 'Event-Name': 'CHANNEL_PARK', variable_DP_MATCH: ['4001', '4001'], 'Unique-ID': 'é-unicode' }) +
  'Content-Type: api/response\nContent-Length: 5\n\nfalse' +
  'Content-Type: command/reply\nReply-Text: -ERR 100% busy\n\n';

function frames(chunks: Buffer[]): string[] {
  const p = new EslFrameParser(1024);
  return chunks
    .flatMap((c) => p.push(c))
    .map((f) => `${f.headers.get('content-type')}|${f.headers.get('reply-text') ?? ''}|${f.body}`);
}

test('frames come out the same however the bytes are split (every split point, and byte by byte)', () => {
  const all = Buffer.from(STREAM);
  const whole = frames([all]);
  assert.equal(whole.length, 5);
  assert.equal(whole[4], 'command/reply|-ERR 100% busy|', 'a % in a header is not decoded (and cannot throw)');
  for (let i = 1; i < all.length; i++)
    assert.deepEqual(frames([all.subarray(0, i), all.subarray(i)]), whole, `split at ${i}`);
  assert.deepEqual(frames([...all].map((b) => Buffer.from([b]))), whole);
});

test('over-size or malformed frames are protocol errors, not exceptions of another kind or unbounded buffering', () => {
  const bad = [
    'Content-Type: api/response\nContent-Length: 52428800\n\n',
    'Content-Type: api/response\nContent-Length: 12abc\n\n',
    'Content-Type: api/response\nContent-Length: -1\n\n',
    'Reply-Text: +OK\n\n',
    '\u0000\u00ff garbage\n\n',
    `Content-Type: log/data\nX: ${'a'.repeat(20_000)}`,
  ];
  for (const b of bad)
    assert.throws(
      () => new EslFrameParser(1024).push(Buffer.from(b)),
      EslProtocolError,
      JSON.stringify(b.slice(0, 40)),
    );
});

test('event json values: array variables read as FreeSWITCH writes them (ARRAY::a|:b), other shapes are no header', () => {
  const e = eventFromJson({
    'Event-Name': 'CHANNEL_PARK',
    variable_callbridge: ['1', '1'],
    variable_obj: { a: 1 },
    variable_n: 5,
    _body: 'x',
  });
  assert.equal(e.header('variable_callbridge'), 'ARRAY::1|:1');
  assert.equal(e.header('variable_obj'), undefined);
  assert.equal(e.header('variable_n'), '5');
  assert.equal(e.header('toString'), undefined, 'no prototype keys');
  assert.equal(e.body, 'x');
});

test('show channels as json: rows as captured, the empty form with its space, junk rows skipped', () => {
  const uuid = '912ebf5b-04ae-4b2d-a975-4f79ebbe4295';
  assert.deepEqual(parseChannelList('{"row_count": 0}\n'), []);
  const rows = parseChannelList(
    JSON.stringify({
      row_count: 3,
      rows: [
        { uuid, direction: 'inbound', state: 'CS_EXECUTE', callstate: 'ACTIVE', application: 'park' },
        { uuid: 'not a uuid; evil' },
        7,
      ],
    }),
  );
  assert.deepEqual(rows, [
    { uuid, direction: 'inbound', state: 'CS_EXECUTE', callstate: 'ACTIVE', application: 'park' },
  ]);
  assert.throws(() => parseChannelList('-ERR no reply\n'));
});

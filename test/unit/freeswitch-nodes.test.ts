import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { parseNodeList } from '../../src/freeswitch/nodes.ts';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('the configuration was accepted');
}

test('FREESWITCH_NODES empty: one node "default" from FREESWITCH_ESL_HOST/PORT streaming to CALLBRIDGE_WS_URL', () => {
  const c = loadConfig({ FREESWITCH_ESL_HOST: 'fs.example', FREESWITCH_ESL_PORT: '8022', HTTP_PORT: '9000' });
  assert.deepEqual(c.FREESWITCH_NODES, [
    { name: 'default', host: 'fs.example', port: 8022, wsUrl: 'ws://127.0.0.1:9000' },
  ]);
  const blank = loadConfig({ FREESWITCH_NODES: ' ', CALLBRIDGE_WS_URL: 'ws://cb.example:8080/' });
  assert.deepEqual(blank.FREESWITCH_NODES, [
    { name: 'default', host: '127.0.0.1', port: 8021, wsUrl: 'ws://cb.example:8080' },
  ]);
});

test('FREESWITCH_NODES lists nodes, each streaming to its own URL or CALLBRIDGE_WS_URL', () => {
  const c = loadConfig({
    CALLBRIDGE_WS_URL: 'ws://callbridge:8080',
    FREESWITCH_NODES: 'fs-a=10.0.0.1:8021 , fs_b=fs-b.internal:8022|wss://cb.public.example:443/,v6=[fd00::2]:8021,',
  });
  assert.deepEqual(c.FREESWITCH_NODES, [
    { name: 'fs-a', host: '10.0.0.1', port: 8021, wsUrl: 'ws://callbridge:8080' },
    { name: 'fs_b', host: 'fs-b.internal', port: 8022, wsUrl: 'wss://cb.public.example:443' },
    { name: 'v6', host: 'fd00::2', port: 8021, wsUrl: 'ws://callbridge:8080' },
  ]);
});

test('bad FREESWITCH_NODES entries are each named in one clear error', () => {
  const problems = problemsOf({
    FREESWITCH_NODES: [
      'noequals',
      'Upper=host:8021',
      'a=host',
      'b=host:99999',
      'c=bad_host!:8021',
      'd=host:8021|http://x',
      'e=host:8023|ws://under_score:1',
      'f=h:1|ws://a|ws://b',
      'ok=10.0.0.1:8021',
      'ok=10.0.0.2:8021',
      'same=10.0.0.1:8021',
    ].join(','),
  }).filter((p) => p.startsWith('FREESWITCH_NODES: '));
  const expect = [
    /entry "noequals": expected name=host:port/,
    /entry "Upper=host:8021": node name must be 1-32 of a-z/,
    /entry "a=host": no ESL port/,
    /entry "b=host:99999": the ESL port must be a number from 1 to 65535/,
    /entry "c=bad_host!:8021": the host must be/,
    /entry "d=host:8021\|http:\/\/x": the stream URL must be ws:\/\//,
    /entry "e=host:8023\|ws:\/\/under_score:1": the stream URL must be/,
    /entry "f=h:1\|ws:\/\/a\|ws:\/\/b": more than one "\|"/,
    /entry "ok=10.0.0.2:8021": node name "ok" is used twice/,
    /entry "same=10.0.0.1:8021": 10.0.0.1:8021 is already node "ok"/,
  ];
  assert.equal(problems.length, expect.length, problems.join('\n'));
  for (const [i, re] of expect.entries()) assert.match(problems[i]!, re);
});

test('a stream URL with credentials is not echoed in the error', () => {
  const { problems } = parseNodeList('a=h:1|ws://user:secret@host:1');
  assert.equal(problems.length, 1);
  assert.ok(!problems[0]!.includes('secret'), problems[0]);
});

test('MAX_CALLS settings: defaults, and a message file path checked like other paths sent to FreeSWITCH', () => {
  const c = loadConfig({});
  assert.equal(c.MAX_CALLS, 0);
  assert.equal(c.MAX_CALLS_ACTION, 'busy');
  assert.equal(c.MAX_CALLS_MESSAGE_FILE, undefined);
  const set = loadConfig({ MAX_CALLS: '5', MAX_CALLS_ACTION: 'leave', MAX_CALLS_MESSAGE_FILE: '/sounds/busy.wav' });
  assert.deepEqual([set.MAX_CALLS, set.MAX_CALLS_ACTION, set.MAX_CALLS_MESSAGE_FILE], [5, 'leave', '/sounds/busy.wav']);
  const problems = problemsOf({ MAX_CALLS: '-1', MAX_CALLS_ACTION: 'drop', MAX_CALLS_MESSAGE_FILE: '/a/../b.wav' });
  assert.deepEqual(
    problems.map((p) => p.split(':')[0]),
    ['MAX_CALLS', 'MAX_CALLS_ACTION', 'MAX_CALLS_MESSAGE_FILE'],
  );
});

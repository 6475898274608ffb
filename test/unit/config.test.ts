import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config.ts';

test('defaults fill everything that is optional', () => {
  const c = loadConfig({});
  assert.equal(c.FREESWITCH_ESL_HOST, '127.0.0.1');
  assert.equal(c.FREESWITCH_ESL_PORT, 8021);
  assert.equal(c.GEMINI_VOICE, 'Puck');
  assert.equal(c.AGENT_LANGUAGE, 'en-US');
  assert.equal(c.GEMINI_LIVE_MODEL, 'gemini-3.8-live');
  assert.equal(c.PLAYBACK_METHOD, 'sendmsg');
  assert.equal(c.PLAYBACK_DIR_FREESWITCH, c.PLAYBACK_DIR);
  assert.equal(c.GOOGLE_API_KEY, undefined);
  assert.match(c.SYSTEM_INSTRUCTIONS, /phone call/);
});

test('GEMINI_API_KEY is accepted when GOOGLE_API_KEY is not set; GOOGLE_API_KEY wins', () => {
  assert.equal(loadConfig({ GEMINI_API_KEY: 'g' }).GOOGLE_API_KEY, 'g');
  assert.equal(loadConfig({ GEMINI_API_KEY: 'g', GOOGLE_API_KEY: 'k' }).GOOGLE_API_KEY, 'k');
});

test('one error lists every invalid value', () => {
  let err: unknown;
  try {
    loadConfig({
      FREESWITCH_ESL_PORT: 'eighty',
      LOG_LEVEL: 'loud',
      CALLBRIDGE_WS_URL: 'ws://call_bridge:8080',
      PLAYBACK_METHOD: 'fifo',
    });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  const names = err.problems.map((p) => p.split(':')[0]);
  assert.deepEqual(names.sort(), ['CALLBRIDGE_WS_URL', 'FREESWITCH_ESL_PORT', 'LOG_LEVEL', 'PLAYBACK_METHOD']);
  assert.match(err.message, /underscores/);
  assert.match(err.message, /got "eighty"/);
});

test('chunk sizes must be multiples of 20 ms', () => {
  assert.throws(() => loadConfig({ PLAYBACK_CHUNK_MS: '50' }), /multiples of 20/);
});

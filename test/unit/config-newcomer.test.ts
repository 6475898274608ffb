import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config.ts';

function problemsOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  assert.fail('expected a ConfigError');
}

test('configuration errors never echo a secret value (keys, tokens, passwords, secrets), but still echo ordinary values', () => {
  const err = problemsOf({
    API_TOKEN: 'short-tok',
    CALLBACK_SECRET: 'tiny-sec',
    FREESWITCH_ESL_PORT: 'eighty',
    CALLBACK_URL: 'not a url with hunter2',
  });
  assert.match(err.message, /API_TOKEN: use at least 16 characters/);
  assert.match(err.message, /CALLBACK_SECRET: use at least 16 characters/);
  assert.doesNotMatch(err.message, /short-tok/);
  assert.doesNotMatch(err.message, /tiny-sec/);
  assert.match(err.message, /got "eighty"/, 'non-secret values are still shown');
  const names = [
    'GOOGLE_API_KEY',
    'GEMINI_API_KEY',
    'DEEPGRAM_API_KEY',
    'CARTESIA_API_KEY',
    'FREESWITCH_ESL_PASSWORD',
    'TWILIO_SIP_PASSWORD',
    'TWILIO_AUTH_TOKEN',
  ];
  for (const name of names) {
    // Every secret-named setting: a value that passes no check is still never shown.
    assert.doesNotMatch(problemsOf({ [name]: 'ZZSECRETZZ', FREESWITCH_ESL_PORT: 'x' }).message, /ZZSECRETZZ/, name);
  }
});

test('CALLBRIDGE_WS_URL follows HTTP_PORT (and a specific HTTP_HOST) unless set', () => {
  assert.equal(loadConfig({}).CALLBRIDGE_WS_URL, 'ws://127.0.0.1:8080');
  assert.equal(loadConfig({ HTTP_PORT: '9090' }).CALLBRIDGE_WS_URL, 'ws://127.0.0.1:9090');
  assert.equal(
    loadConfig({ HTTP_PORT: '9090', HTTP_HOST: '0.0.0.0', API_TOKEN: 'x'.repeat(16) }).CALLBRIDGE_WS_URL,
    'ws://127.0.0.1:9090',
  );
  assert.equal(
    loadConfig({ HTTP_PORT: '9090', HTTP_HOST: '10.1.2.3', API_TOKEN: 'x'.repeat(16) }).CALLBRIDGE_WS_URL,
    'ws://10.1.2.3:9090',
  );
  assert.equal(
    loadConfig({ HTTP_PORT: '9090', CALLBRIDGE_WS_URL: 'wss://media.example.com' }).CALLBRIDGE_WS_URL,
    'wss://media.example.com',
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, DEFAULT_APOLOGY_FILE, loadConfig } from '../../src/config.ts';
import { sessionSettings } from '../../src/calls/session-settings.ts';

test('APOLOGY_FILE defaults to the prompt the FreeSWITCH image ships; none turns it off', () => {
  assert.equal(loadConfig({}).APOLOGY_FILE, DEFAULT_APOLOGY_FILE);
  assert.equal(loadConfig({ APOLOGY_FILE: '' }).APOLOGY_FILE, DEFAULT_APOLOGY_FILE, 'empty means the default');
  assert.equal(loadConfig({ APOLOGY_FILE: 'none' }).APOLOGY_FILE, undefined);
  assert.equal(loadConfig({ APOLOGY_FILE: '/srv/prompts/sorry_8k.wav' }).APOLOGY_FILE, '/srv/prompts/sorry_8k.wav');
  assert.equal(sessionSettings(loadConfig({ APOLOGY_FILE: 'none' }), false).apology.file, undefined);
});

test('APOLOGY_FILE values that would alter the playback command are refused at start', () => {
  for (const bad of [
    'sounds/apology.wav',
    '/tmp/a b.wav',
    '/tmp/../etc/x.wav',
    '/tmp/a.wav\nexecute-app-name: x',
    '/tmp/$x',
  ]) {
    assert.throws(() => loadConfig({ APOLOGY_FILE: bad }), ConfigError, JSON.stringify(bad));
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.ts';
import { envExampleMap, interpolationNames, loadDocument, read, readEnvExample } from './support.ts';

/** Where .env.example deliberately differs from the code's default, and why (the compose stack). */
const STACK_OVERRIDES: Readonly<Record<string, string>> = {};

test('every variable the code reads is in .env.example, once, with a comment', () => {
  const entries = readEnvExample();
  const names = entries.map((e) => e.name);
  for (const name of CONFIG_VARIABLES)
    assert.ok(names.includes(name), `${name} (src/config.ts) is missing from .env.example`);
  assert.equal(new Set(names).size, names.length, 'no variable twice');
  for (const e of entries)
    assert.ok(e.comment && e.comment.length > 5, `.env.example:${e.line} ${e.name} has a comment line above it`);
});

test('.env.example lists nothing that nobody reads', () => {
  const readers = new Set<string>(CONFIG_VARIABLES);
  for (const n of loadDocument(envExampleMap()).pre.envRead) readers.add(n);
  for (const file of ['docker-compose.yml', 'docker-compose.cluster.yml'])
    for (const n of interpolationNames(read(file))) readers.add(n);
  for (const script of ['freeswitch/healthcheck.sh', 'freeswitch/docker-entrypoint.sh']) {
    for (const m of read(script).matchAll(/\$\{?([A-Z][A-Z0-9_]+)/g)) readers.add(m[1]!);
  }
  for (const e of readEnvExample()) assert.ok(readers.has(e.name), `${e.name} is read by nothing (stale?)`);
});

test('the values in .env.example are valid and are the code defaults', () => {
  const values: Record<string, string> = {};
  for (const e of readEnvExample()) values[e.name] = e.value;
  const fromExample = loadConfig(values) as unknown as Record<string, unknown>;
  const defaults = loadConfig({}) as unknown as Record<string, unknown>;
  for (const e of readEnvExample()) {
    if (!CONFIG_VARIABLES.includes(e.name) || e.value === '' || e.name in STACK_OVERRIDES) continue;
    assert.deepEqual(
      fromExample[e.name],
      defaults[e.name],
      `${e.name}=${e.value} in .env.example, but the code defaults to ${String(defaults[e.name])}`,
    );
  }
  for (const name of Object.keys(STACK_OVERRIDES)) assert.ok(values[name] !== undefined, `${name} is in .env.example`);
});

test('.env.example holds no secrets', () => {
  for (const e of readEnvExample()) {
    if (!/(KEY|PASSWORD|TOKEN|SECRET)$/.test(e.name)) continue;
    if (e.name === 'FREESWITCH_ESL_PASSWORD')
      assert.equal(e.value, 'ClueCon', 'the well-known FreeSWITCH default, documented as such');
    else assert.equal(e.value, '', `${e.name} is empty in .env.example`);
  }
});

test('FreeSWITCH values contain nothing its entrypoint would refuse', () => {
  for (const e of readEnvExample()) {
    if (!/^(FREESWITCH|SIP|RTP|BROWSER_SIP)_/.test(e.name)) continue;
    assert.doesNotMatch(e.value, /["<>&]|\$\{/, `${e.name} would break the XML`);
  }
});

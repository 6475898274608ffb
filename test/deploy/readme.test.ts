import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CONFIG_VARIABLES } from '../../src/config.ts';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

test('the README configuration table is generated from .env.example and names every variable the code reads', () => {
  const m = /<!-- config-table:start[^>]*-->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme);
  assert.ok(m, 'README has the config-table markers');
  const generated = execFileSync(process.execPath, [new URL('scripts/config-table.ts', root).pathname], {
    encoding: 'utf8',
  }).trim();
  assert.equal(
    m[1]!.trim(),
    generated,
    'README table is stale: run node scripts/config-table.ts and paste it between the markers',
  );
  for (const name of CONFIG_VARIABLES)
    assert.ok(m[1]!.includes(`| \`${name}\` |`), `${name} is missing from the README table`);
});

test('the README gives exactly the two set-up commands, and CI runs the test one', () => {
  assert.match(readme, /^docker compose up --build$/m);
  assert.match(readme, /^npm install && npm test$/m);
  const ci = readFileSync(new URL('.ci/run', root), 'utf8');
  assert.match(ci, /npm install\nnpm test/);
});

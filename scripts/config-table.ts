/**
 * Prints the README's configuration table from .env.example (comment lines above each variable, the value
 * as default). `node scripts/config-table.ts > /tmp/t.md`, then paste it between the README markers; the
 * test in test/deploy/readme.test.ts fails when a variable is missing from the README.
 */
import { readFileSync } from 'node:fs';

const lines = readFileSync(new URL('../.env.example', import.meta.url), 'utf8').split('\n');
let section = '';
let comment: string[] = [];
const out: string[] = [];
for (const line of lines) {
  const head = /^# ---- (.+?) -+$/.exec(line);
  if (head) {
    section = head[1]!;
    out.push('', `**${section}**`, '', '| variable | default | meaning |', '|---|---|---|');
    comment = [];
    continue;
  }
  if (line.startsWith('#')) {
    if (section) comment.push(line.replace(/^#\s?/, ''));
    continue;
  }
  const kv = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
  if (kv && section) {
    const value = kv[2] === '' ? '—' : `\`${kv[2]!.replace(/\|/g, '\\|')}\``;
    out.push(`| \`${kv[1]}\` | ${value} | ${comment.join(' ').replace(/\|/g, '\\|')} |`);
  }
  comment = [];
}
console.log(out.join('\n').trim());

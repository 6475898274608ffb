import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startStack } from '../support/stack.ts';

test('a restart after a crash removes the playback files of calls that no longer exist, and nothing else', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-stale-'));
  try {
    // What a killed process leaves behind: chunk files of calls FreeSWITCH no longer has, in every format.
    const stale = ['r8', 'r16', 'wav', 'PCMU', 'PCMA'].map((ext, i) => `${randomUUID()}-1-${i}.${ext}`);
    for (const name of stale) await writeFile(join(dir, name), Buffer.alloc(320));
    await writeFile(join(dir, 'operator-notes.txt'), 'not ours');
    const stack = await startStack({ dir, keepDir: true });
    try {
      const left = await readdir(dir);
      for (const name of stale) assert.ok(!left.includes(name), `${name} was left behind`);
      assert.ok(left.includes('operator-notes.txt'), 'a file callbridge did not write was removed');
      assert.ok(
        stack.logs.some(
          (l) => l.msg === 'deleted playback files left by a previous run' && l['removed'] === stale.length,
        ),
        'the clean-up is logged with its count',
      );
    } finally {
      await stack.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

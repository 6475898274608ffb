import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tone } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

test('replies the model streams in real time play from few files, with no silence inserted between them', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs } = stack;
  const call = fs.placeInboundCall({ variables: { callbridge: '1' } });
  const session = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');

  const replies: Array<{ files: number; gaps: number[] }> = [];
  for (let r = 0; r < 2; r++) {
    const from = call.heard.length;
    await session.sendAudio(tone(440, 2000, 24000), { chunkMs: 40, realtime: true });
    session.generationComplete();
    await until(
      () => call.playbackIdle && call.heard.length > from && call.heard.at(-1)!.status !== 'playing',
      5000,
      `reply ${r + 1} played`,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    replies.push({ files: call.heard.length - from, gaps: call.heardGaps(from, call.heard.length - 1) });
  }
  // The first reply shows the pace; the second starts with a lead and is cut into files of ~100 ms or more.
  const second = replies[1]!;
  // Before the lead, every 40 ms message became its own file (50 for 2 s); a loaded machine makes pieces late and
  // files somewhat shorter, so the bound sits well between the two.
  assert.ok(second.files <= 35, `second reply: ${second.files} files for 2 s (before: one per 40 ms message, 50)`);
  // Exactly gapless is checked on a fake clock (test/unit/playout-pace.test.ts); here real timers share the CPU with
  // other test files, so allow a stray scheduler hiccup, not the per-piece gaps of an unadapted queue.
  const silence = second.gaps.reduce((a, g) => a + Math.max(0, g), 0);
  assert.ok(silence < 200, `second reply: ${silence.toFixed(0)} ms of silence between its files`);
});

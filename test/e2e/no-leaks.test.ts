import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { tone } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

function handleCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

test('50 calls in a row leave no session, socket, timer, file, converter or Gemini session behind', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, gemini, bridge } = stack;
  await sleep(200);
  const baseline = handleCounts();

  const oneCall = async (i: number) => {
    const call = fs.placeInboundCall({ variables: { callbridge: '1' }, codec: i % 3 === 0 ? 'PCMA' : 'PCMU' });
    const session = await gemini.nextSession(5000);
    await until(() => call.stream?.connected, 3000, 'stream');
    const reply = session.sendAudio(tone(600 + i, 240, 24000), { chunkMs: 40, paceMs: 1 });
    if (i % 5 === 1) {
      await call.waitHeardMs(60, 5000);
      session.interrupt(); // barge-in on every fifth call
    }
    await reply;
    session.generationComplete();
    if (i % 7 === 2) {
      // Model failure on some calls: a 1011 with no handle the service still knows, so resuming is refused
      // (that attempt is one more fake session) and callbridge hangs up.
      gemini.expireHandles();
      session.close(1011, 'boom');
      await gemini.nextSession(5000);
    } else {
      await until(() => call.heard.length > 0 && call.playbackIdle, 5000, 'reply played');
      await call.hangup();
    }
    await call.waitDestroyed(5000);
  };

  for (let i = 0; i < 50; i++) await oneCall(i);

  await until(() => bridge.calls.active.size === 0, 5000, 'all sessions ended');
  // The history (what GET /calls answers) has all 50, each with why it ended.
  const page = (await (await fetch(`http://127.0.0.1:${bridge.http.port}/calls?limit=100`)).json()) as {
    calls: Array<{ endReason?: string; status: string }>;
  };
  assert.equal(page.calls.length, 50);
  assert.equal(bridge.http.media.connections, 0, 'no media sockets');
  assert.deepEqual(await stack.playbackFiles(), [], 'no playback files');
  await until(() => gemini.sessions.every((s) => !s.isOpen), 3000, 'gemini sessions closed');
  assert.equal(bridge.resampling.active, 0, 'no resampling stream left open');
  assert.equal(fs.channels.size, 0);
  await sleep(1700); // the last calls' grace/close timers run out
  const now = handleCounts();
  for (const kind of ['Timeout', 'TCPSocketWrap', 'TCPServerWrap', 'FSReqCallback']) {
    assert.ok(
      (now[kind] ?? 0) <= (baseline[kind] ?? 0) + 1,
      `${kind}: ${baseline[kind] ?? 0} before, ${now[kind] ?? 0} after`,
    );
  }
  const reasons = page.calls.map((c) => c.endReason?.split(':')[0]);
  assert.ok(reasons.includes('hangup') && reasons.includes('agent failed'));
});

/**
 * Gemini Live calls across connection changes, through the whole stack (FreeSWITCH emulator, callbridge, the
 * Gemini Live fake): forced goAways during continuous caller audio, goAway in the middle of a reply, an abrupt
 * 1011, and a handle the service refuses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tone } from '../bed/index.ts';
import { type Stack, startStack, until } from '../support/stack.ts';

const TRANSPARENT = { GEMINI_RESUME_TRANSPARENT: 'true' };

/** Deterministic noise (never zero), so any lost, repeated or reordered caller sample shows. */
function noise(ms: number, amplitude: number, seed: number): Int16Array {
  const out = new Int16Array((16000 * ms) / 1000);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const v = Math.round(((x >>> 8) / 0xffffff - 0.5) * 2 * amplitude);
    out[i] = v === 0 ? 1 : v;
  }
  return out;
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function record(stack: Stack, uuid: string): Promise<any> {
  return (await fetch(`http://127.0.0.1:${stack.bridge.http.port}/calls/${uuid}`)).json();
}

function resumedLogs(stack: Stack): Array<Record<string, unknown>> {
  return stack.logs.filter((l) => l.msg === 'gemini live session resumed');
}

test('a call across three or more forced reconnects: every caller sample reaches the model once, every reply is heard whole, the transcript is whole', async (t) => {
  const replyMs = 800;
  const stack = await startStack({
    env: TRANSPARENT,
    gemini: {
      autoReply: { replyAudio: tone(600, replyMs, 24000), chunkMs: 40, paceMs: 5 },
      resumption: { updateEveryMs: 200 },
      goAwayAfterMs: 1500,
      goAwayTimeLeftMs: 1500,
    },
  });
  t.after(() => stack.stop());
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const first = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');

  // Three caller turns, and quiet noise (below the fake's speech threshold) between them and under the replies:
  // the caller's audio never stops, so every switch happens while caller audio is flowing.
  const turns = 3;
  const signal = concat(
    Array.from({ length: turns }, (_, i) => [noise(1000, 9000, 2 * i + 1), noise(1700, 150, 2 * i + 2)]).flat(),
  );
  call.say(signal, 16000);
  await call.micIdle(20_000);
  const last = () => stack.gemini.conversationSessions(first.conversation).at(-1)!;
  await until(() => last().autoTurns === turns && call.playbackIdle, 10_000, 'all replies played');
  await sleep(500);

  // Reconnects: at least three, each reported.
  const resumed = resumedLogs(stack);
  assert.ok(resumed.length >= 3, `${resumed.length} resumptions`);
  assert.ok(resumed.every((l) => l.reason === 'goAway' && l.attempts === 1));
  const rec = await record(stack, call.uuid);
  if (rec.resumptions !== undefined) assert.equal(rec.resumptions.count, resumed.length);

  // The model holds the caller's audio exactly: the whole signal once, in order (silence before and after).
  const conv = Buffer.concat(last().conversationAudio);
  const sig = Buffer.from(signal.buffer, signal.byteOffset, signal.byteLength);
  const at = conv.indexOf(sig.subarray(0, 640));
  assert.ok(at >= 0 && at % 2 === 0, 'the signal starts in what the model holds');
  assert.ok(conv.subarray(at, at + sig.length).equals(sig), 'every caller sample once, in order');
  assert.ok(
    conv.subarray(0, at).every((b) => b === 0) && conv.subarray(at + sig.length).every((b) => b === 0),
    'nothing else',
  );

  // Every reply heard whole; the only long silences are the caller's turns between replies.
  const heardMs = call.heard.reduce((a, s) => a + s.playedMs, 0);
  assert.ok(heardMs >= turns * replyMs && heardMs <= turns * replyMs + 60 * turns, `heard ${heardMs} ms`);
  const gaps = call.heardGaps();
  const long = gaps.filter((g) => g > 250);
  assert.equal(long.length, turns - 1, `gaps ${JSON.stringify(gaps.map(Math.round))}`);

  // The transcript carries on across connections.
  const finals = rec.transcript.filter((e: any) => e.final).map((e: any) => `${e.speaker}: ${e.text}`);
  const want = Array.from({ length: turns }, (_, i) => [
    `caller: caller turn ${i + 1}`,
    `agent: agent reply ${i + 1}`,
  ]).flat();
  assert.deepEqual(finals, want);
});

test('goAway in the middle of a reply: the reply plays out without a gap, then the switch; the next reply comes on the new connection', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const s = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');

  const sending = s.sendAudio(tone(500, 2000, 24000), {
    chunkMs: 40,
    realtime: true,
    transcript: 'a long first answer',
  });
  await sleep(700);
  s.goAway(5000);
  await sending;
  s.generationComplete();
  const s2 = await stack.gemini.nextSession(5000);
  await until(() => resumedLogs(stack).length === 1, 3000, 'resumed');
  assert.equal(s2.resumedFrom, s.handles.at(-1), 'resumed with the newest handle');
  assert.equal(s.sent.filter((m) => m.serverContent?.modelTurn).length, 50, 'the reply was not cut');
  await s2.sendAudio(tone(700, 500, 24000), { chunkMs: 40, paceMs: 5, transcript: 'and a second' });
  s2.generationComplete();
  s2.turnComplete();
  await until(
    () => call.heard.reduce((a, x) => a + x.playedMs, 0) >= 2500 && call.playbackIdle,
    8000,
    'both replies played',
  );
  const heardMs = call.heard.reduce((a, x) => a + x.playedMs, 0);
  assert.ok(heardMs <= 2540, `heard ${heardMs} ms of 2500`);
  const gaps = call.heardGaps();
  assert.ok(gaps.filter((g) => g > 40).length <= 1, `only the pause between the replies: ${JSON.stringify(gaps)}`);
  assert.ok((await s.closed).code === 1000, 'callbridge closed the old connection itself');
});

test('an abrupt 1011 mid-call is resumed: the caller audio continues on the new connection, and the call with it', async (t) => {
  const stack = await startStack({ env: TRANSPARENT });
  t.after(() => stack.stop());
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const s = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  const speech = noise(1500, 9000, 7);
  call.say(speech, 16000);
  await s.waitForAudioMs(500, 5000);
  s.close(1011, 'Internal error encountered.');
  const s2 = await stack.gemini.nextSession(5000);
  await call.micIdle(10_000);
  await sleep(300);
  const conv = Buffer.concat(s2.conversationAudio);
  const sig = Buffer.from(speech.buffer, speech.byteOffset, speech.byteLength);
  const at = conv.indexOf(sig.subarray(0, 640));
  assert.ok(at >= 0 && conv.subarray(at, at + sig.length).equals(sig), 'the speech reached the model whole, once');
  const log = resumedLogs(stack)[0];
  assert.equal(log?.reason, '1011');
  const closeLog = stack.logs.find((l) => l.msg === 'gemini live connection closed' && l.code === 1011);
  assert.equal(closeLog?.reason, 'Internal error encountered.', 'the close code and reason are logged');
  await s2.sendAudio(tone(700, 300, 24000), { paceMs: 5 });
  s2.generationComplete();
  await call.waitHeardMs(300, 5000);
  assert.notEqual((await record(stack, call.uuid)).status, 'failed');
  assert.ok(!call.hungUp);
});

test('a handle the service refuses ends the call through failed(), with a cause saying resumption failed and why', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const s = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  stack.gemini.expireHandles();
  s.close(1011, 'Internal error encountered.');
  const rec = await until(
    async () => {
      const r = await record(stack, call.uuid);
      return r.status === 'failed' ? r : undefined;
    },
    8000,
    'call failed',
  );
  assert.match(
    rec.endReason,
    /gemini live closed: 1011 Internal error encountered\.; resumption failed: the service refused the resumption: .*1007.*handle is invalid or has expired/,
  );
  await until(() => call.hungUp, 8000, 'call hung up');
  assert.equal(stack.gemini.sessions.length, 2, 'a refused handle is not retried');
});

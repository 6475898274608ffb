import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concat } from '../bed/audio.ts';
import type { CommandRecord } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

/** 24 kHz samples that count: decimated to 8 kHz (what the emulator's timeline keeps) every sample is distinct within 1.25 s. */
function counter(ms: number): Int16Array {
  const pcm = new Int16Array(ms * 24);
  for (let i = 0; i < pcm.length; i++) pcm[i] = (i % 30000) - 15000;
  return pcm;
}

/** What the caller heard, file after file, without the silence between files (so only loss or repetition shows). */
function heardBackToBack(call: {
  heard: readonly unknown[];
  heardPcm(from?: number, to?: number): Int16Array;
}): Int16Array {
  return concat(...call.heard.map((_, i) => call.heardPcm(i, i)));
}

test('ESL drops while a reply plays (a playback command reached FreeSWITCH, its +OK did not): the caller hears every sample once, in order', async (t) => {
  // WAV at the model's rate: no resampling anywhere, so the heard samples can be compared one for one.
  const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'callbridge-pb-'));
  const stack = await startStack({ dir, env: { PLAYBACK_FORMAT: 'wav' } });
  t.after(() => stack.stop());
  const { fs, bridge } = stack;
  const call = fs.placeInboundCall({ variables: { callbridge: '1' } });
  const session = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');

  // The socket dies right after FreeSWITCH took a playback command, before its reply went out.
  let dropped = false;
  const onCommand = (c: CommandRecord) => {
    if (dropped || c.kind !== 'sendmsg' || c.headers['execute-app-name'] !== 'playback' || call.heardMs() < 400) return;
    dropped = true;
    fs.dropEslConnections();
  };
  fs.on('command', onCommand);
  t.after(() => fs.off('command', onCommand));

  const reply = counter(3000);
  await session.sendAudio(reply, { chunkMs: 40, paceMs: 10 });
  session.generationComplete();
  await until(() => dropped, 5000, 'the ESL drop mid-reply');
  await bridge.esl.waitConnected(3000);
  // Played out: the whole reply, or (when audio was lost) nothing more for a second.
  let lastHeard = -1;
  let stillSince = performance.now();
  await until(
    () => {
      const ms = call.heardMs();
      if (ms !== lastHeard || !call.playbackIdle) [lastHeard, stillSince] = [ms, performance.now()];
      return (ms >= 3000 && call.playbackIdle) || performance.now() - stillSince > 1000;
    },
    10000,
    'the reply to play out',
  );

  const expected = new Int16Array(reply.length / 3);
  for (let i = 0; i < expected.length; i++) expected[i] = reply[i * 3]!;
  const heard = heardBackToBack(call);
  assert.equal(heard.length, expected.length, `heard ${heard.length / 8} ms of a ${expected.length / 8} ms reply`);
  const firstDiff = heard.findIndex((v, i) => v !== expected[i]);
  assert.equal(firstDiff, -1, `heard audio departs from the reply at ${firstDiff / 8} ms`);
  await until(async () => (await stack.playbackFiles()).length === 0, 3000, 'every chunk file deleted once played');
});

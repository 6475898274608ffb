import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { asInt16, estimateFrequency, tone } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

test('an inbound call is picked up, streams 16 kHz caller audio to Gemini and plays the reply gaplessly', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const { fs, gemini, bridge } = stack;

  const call = fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU', answer: false });
  const session = await gemini.nextSession(5000);

  // callbridge answered the unanswered call, set the stream variables, started a 16 kHz mono stream.
  await until(() => call.stream?.connected, 3000, 'stream connected');
  const lines = fs.commands.map((c) => c.line);
  const answerAt = lines.indexOf(`api uuid_answer ${call.uuid}`);
  const startAt = lines.findIndex((l) => l.startsWith(`api uuid_audio_stream ${call.uuid} start `));
  assert.ok(answerAt >= 0 && startAt > answerAt, 'answered before the stream started');
  assert.match(
    lines[startAt]!,
    new RegExp(`/stream/${call.uuid}\\?token=[A-Za-z0-9_-]{20,} mono 16k \\{"call":"${call.uuid}"\\}$`),
  );
  assert.equal(call.stream!.vars.STREAM_MESSAGE_DEFLATE, 'false');
  assert.equal(call.stream!.vars.STREAM_HEART_BEAT, '10');

  // Caller audio (8 kHz on the wire to FreeSWITCH) reaches Gemini as 16 kHz PCM with the tone intact.
  call.say(tone(440, 600, 8000), 8000);
  await session.waitForAudioMs(600, 5000);
  assert.deepEqual([...new Set(session.audioMimeTypes)], ['audio/pcm;rate=16000']);
  const got = asInt16(session.audioIn);
  const loud = got.filter((s) => Math.abs(s) > 2000).length;
  assert.ok(loud > 16000 * 0.3, 'the tone arrived');
  const firstLoud = got.findIndex((s) => Math.abs(s) > 2000);
  const f = estimateFrequency(got.subarray(firstLoud, firstLoud + 8000), 16000);
  assert.ok(Math.abs(f - 440) < 15, `caller tone at 16 kHz is ${f.toFixed(1)} Hz`);

  // Gemini answers with 2 s of a 24 kHz 1 kHz tone, faster than real time; the caller hears all of it.
  await session.sendAudio(tone(1000, 2000, 24000), { chunkMs: 40, paceMs: 5, transcript: 'Hello, how can I help?' });
  const sentAll = performance.now();
  session.generationComplete();
  session.turnComplete();
  await call.waitPlaybackIdle(8000);
  await until(() => call.heard.length > 0 && call.playbackIdle, 3000, 'playback finished');

  const heardMs = call.heard.reduce((a, s) => a + s.playedMs, 0);
  assert.ok(heardMs >= 2000 && heardMs <= 2040, `heard ${heardMs} ms of a 2000 ms reply`);
  const gaps = call.heardGaps();
  const silence = gaps.reduce((a, g) => a + g, 0);
  assert.ok(silence <= 0.01 * 2000, `inserted silence ${silence} ms (gaps ${JSON.stringify(gaps)})`);
  for (const s of call.heard) assert.equal(s.status, 'done');
  assert.ok(
    call.heard.every((s) => s.path.endsWith('.PCMU')),
    'G.711 call gets native .PCMU files',
  );
  const pcm = call.heardPcm();
  const mid = pcm.subarray(pcm.length / 2 - 2000, pcm.length / 2 + 2000);
  assert.ok(Math.abs(estimateFrequency(mid, 8000) - 1000) < 20, 'the reply tone survived resampling and μ-law');

  // First playback command soon after the first model audio.
  const live = bridge.calls.active.get(call.uuid)!;
  assert.ok(live, 'session registered');
  assert.equal(live.stats.firstCommandMs.length, 1);
  assert.ok(live.stats.firstCommandMs[0]! >= 0);
  // Streaming, not buffering: playback began while the model was still sending (how fast is the bench's job).
  const firstPlay = fs.commands.find((c) => c.kind === 'sendmsg' && c.headers['execute-app-name'] === 'playback');
  assert.ok(firstPlay && firstPlay.at < sentAll, 'first playback command before the model had sent the whole reply');
  assert.equal(firstPlay!.headers['event-lock'], 'true');

  // Transcripts of both sides are kept on the call.
  session.sendInputTranscription('Hi there');
  session.turnComplete();
  await until(() => live.transcript.some((e) => e.speaker === 'caller' && e.final), 2000, 'caller transcript');
  assert.ok(live.transcript.some((e) => e.speaker === 'agent' && e.text === 'Hello, how can I help?' && e.final));

  // Every chunk file was deleted once played.
  await until(async () => (await stack.playbackFiles()).length === 0, 2000, 'playback files deleted');

  // The same figures are on /metrics (p50/p99/max over the window since the previous scrape).
  const metrics = await (await fetch(`http://127.0.0.1:${bridge.http.port}/metrics`)).text();
  const first = /^callbridge_first_playback_command_seconds\{quantile="0.5"\} ([0-9.e-]+)$/m.exec(metrics);
  // One reply so far: the exported median is that reply's own figure (its size is the bench's business).
  const ownSeconds = live.stats.firstCommandMs[0]! / 1000;
  assert.ok(
    first && Math.abs(Number(first[1]) - ownSeconds) <= ownSeconds * 0.01 + 1e-6,
    'first-command latency exported',
  );
  assert.match(metrics, /^callbridge_frame_ingest_seconds\{quantile="0.99"\} /m);
  assert.match(metrics, /^callbridge_calls_active 1$/m);
  assert.match(metrics, /^nodejs_eventloop_lag_p99_seconds /m);

  // The caller hangs up: everything is released.
  await call.hangup();
  await until(() => bridge.calls.active.size === 0, 3000, 'session ended');
  await session.closed;
  assert.equal(bridge.http.media.connections, 0);
  const ended = stack.logs.find((l) => l.msg === 'call ended' && l.call === call.uuid);
  assert.match(String(ended?.reason), /^hangup: NORMAL_CLEARING/);
});

test('a parked channel without the marker is left alone', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const before = stack.fs.commands.length;
  const call = stack.fs.placeInboundCall({ variables: { some_other: '1' }, answer: false });
  await sleep(300);
  assert.equal(stack.bridge.calls.active.size, 0);
  assert.deepEqual(
    // Reading it (uuid_dump, by the resync after connecting) is fine; acting on it is not.
    stack.fs.commands.slice(before).filter((c) => c.line.includes(call.uuid) && !c.line.startsWith('api uuid_dump ')),
    [],
    'no command acted on the channel',
  );
  assert.equal(stack.gemini.sessions.length, 0);
});

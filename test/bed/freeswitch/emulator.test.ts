/**
 * Self-tests of the FreeSWITCH emulator, driven the way callbridge will drive it: a raw TCP ESL client and a
 * `ws` WebSocketServer standing in for callbridge's media endpoint. Expected values come from the captures
 * of a real FreeSWITCH 1.10.12 (reference/captured) and reference/freeswitch.md.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { FreeSwitchEmulator, capturedSample, resample, type EmulatorOptions } from './index.ts';
import { RawEslClient, type JsonEvent } from './raw-esl-client.ts';
import { WsTestServer } from './ws-test-server.ts';

async function setup(t: TestContext, options: EmulatorOptions = {}) {
  const fs = await FreeSwitchEmulator.start(options);
  const ws = await WsTestServer.start();
  const esl = await RawEslClient.connect(fs.eslPort, 'ClueCon');
  t.after(async () => {
    esl.close();
    await ws.close();
    await fs.stop();
  });
  return { fs, ws, esl };
}

function tone(freq: number, ms: number, rate = 8000, amplitude = 8000): Int16Array {
  const out = new Int16Array(Math.round((rate * ms) / 1000));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
  return out;
}

const pcmBytes = (pcm: Int16Array) => Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);

function wav(pcm: Int16Array, rate: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + pcm.byteLength, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(pcm.byteLength, 40);
  return Buffer.concat([h, pcmBytes(pcm)]);
}

const rms = (pcm: Int16Array) => Math.sqrt(pcm.reduce((s, x) => s + x * x, 0) / Math.max(1, pcm.length));
const body = (e: JsonEvent) => JSON.parse(e['_body'] ?? 'null') as unknown;
const of = (uuid: string) => (e: JsonEvent) => e['Unique-ID'] === uuid;
const named = (name: string, uuid?: string) => (e: JsonEvent) =>
  (e['Event-Subclass'] ?? e['Event-Name']) === name && (!uuid || e['Unique-ID'] === uuid);

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const SUBSCRIBE_ALL_CALL_EVENTS = 'event json ALL';

/** A modelled time on the emulator's logical clock: exact but for floating-point rounding. */
function assertMs(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} ms, modelled ${expected} ms`);
}

type ClockPosition = ReturnType<FreeSwitchEmulator['clockPosition']>;

/**
 * Frames paced by the media clock, whatever the machine's load: one frame per clock tick between two samples
 * (ticks the clock gave up after a stall of more than ten intervals excepted: they are counted apart),
 * and the clock keeps to real time at `intervalMs` — after each run it has counted exactly the intervals
 * elapsed since its origin (never ahead; never left behind, a late run catches up) and it is not ahead now.
 */
function assertPacedByClock(
  fs: FreeSwitchEmulator,
  before: ClockPosition,
  after: ClockPosition,
  framesBefore: number,
  framesAfter: number,
  intervalMs: number,
): void {
  assert.equal(after.intervalMs, intervalMs);
  assert.equal(fs.settings.frameIntervalMs, intervalMs);
  assert.ok(after.ticks > before.ticks, 'the clock ticked');
  const ran = after.ticks - after.dropped - (before.ticks - before.dropped);
  assert.equal(framesAfter - framesBefore, ran, 'one frame per media-clock tick that ran');
  assert.equal(
    after.ticks,
    Math.floor((after.countedAt - after.origin) / intervalMs),
    'the clock counted the intervals elapsed, no more, no fewer',
  );
  assert.ok(after.ticks * intervalMs <= performance.now() - after.origin, 'no tick ahead of real time');
}

test('auth: the right password is accepted; a wrong one gets -ERR invalid and a disconnect notice', async (t) => {
  const fs = await FreeSwitchEmulator.start();
  t.after(() => fs.stop());
  const good = await RawEslClient.connect(fs.eslPort);
  t.after(() => good.close());
  assert.equal(good.packets[0]?.headers['Content-Type'], 'auth/request');
  assert.equal(await good.command('auth ClueCon'), '+OK accepted');
  assert.equal(await good.command('no_such_thing'), '-ERR command not found');

  const bad = await RawEslClient.connect(fs.eslPort);
  assert.equal(await bad.command('auth wrong'), '-ERR invalid');
  await bad.waitFor(() => (bad.closed ? true : undefined), 2000, 'close');
  const notice = bad.packets.find((p) => p.headers['Content-Type'] === 'text/disconnect-notice');
  assert.match(notice?.body ?? '', /^Disconnected, goodbye\./);
  assert.deepEqual(
    fs.commands.map((c) => [c.kind, c.line]),
    [
      ['auth', 'auth ClueCon'],
      ['other', 'no_such_thing'],
      ['auth', 'auth wrong'],
    ],
  );
});

test('event json: only subscribed events (and subclasses) arrive; filters narrow them; each connection has its own', async (t) => {
  const { fs, esl } = await setup(t);
  assert.equal(
    await esl.command('event json CHANNEL_PARK BACKGROUND_JOB CUSTOM mod_audio_stream::connect'),
    '+OK event listener enabled json',
  );
  const all = await RawEslClient.connect(fs.eslPort, 'ClueCon');
  t.after(() => all.close());
  assert.equal(await all.command(SUBSCRIBE_ALL_CALL_EVENTS), '+OK event listener enabled json');

  const a = fs.placeInboundCall();
  await esl.waitEvent(named('CHANNEL_PARK', a.uuid));
  await all.waitEvent(named('CHANNEL_PARK', a.uuid));
  assert.deepEqual([...new Set(esl.events.map((e) => e['Event-Name']))], ['CHANNEL_PARK']);
  assert.ok(all.events.some(named('CHANNEL_CREATE', a.uuid)));

  // A filter on Unique-ID: only that call's events, and BACKGROUND_JOB (no Unique-ID) no longer passes.
  const b = fs.placeInboundCall();
  assert.equal(await esl.command(`filter Unique-ID ${b.uuid}`), `+OK filter added. [Unique-ID]=[${b.uuid}]`);
  const from = esl.events.length;
  fs.placeInboundCall();
  await esl.bgapi('status');
  void b.hangup();
  await all.waitEvent(named('BACKGROUND_JOB'));
  await delay(50);
  assert.deepEqual(esl.events.slice(from), []);
  assert.equal(await esl.command(`filter delete Unique-ID ${b.uuid}`), `+OK filter deleted. [Unique-ID]=[${b.uuid}]`);
  assert.equal(await esl.command('nixevent CHANNEL_PARK'), '+OK events nixed');
  assert.equal(await esl.command('event plain'), '-ERR no keywords supplied');
});

test('an inbound call parks with the captured event sequence and a CHANNEL_PARK shaped like the real one', async (t) => {
  const { fs, esl } = await setup(t);
  await esl.command(SUBSCRIBE_ALL_CALL_EVENTS);
  const ch = fs.placeInboundCall({
    callerNumber: '15551230001',
    callerName: 'Test Caller',
    destination: '2000',
    variables: { test_route: 'answer_park' },
  });
  const park = await esl.waitEvent(named('CHANNEL_PARK', ch.uuid));
  assert.deepEqual(
    esl.events
      .filter(of(ch.uuid))
      .map((e) => [e['Event-Name'], e['Application'] ?? '', e['Channel-State'], e['Answer-State']]),
    [
      ['CHANNEL_STATE', '', 'CS_NEW', 'ringing'],
      ['CHANNEL_STATE', '', 'CS_INIT', 'ringing'],
      ['CHANNEL_CREATE', '', 'CS_INIT', 'ringing'],
      ['CHANNEL_CALLSTATE', '', 'CS_ROUTING', 'ringing'],
      ['CHANNEL_STATE', '', 'CS_ROUTING', 'ringing'],
      ['CHANNEL_STATE', '', 'CS_EXECUTE', 'ringing'],
      ['CHANNEL_EXECUTE', 'set', 'CS_EXECUTE', 'ringing'],
      ['CHANNEL_EXECUTE_COMPLETE', 'set', 'CS_EXECUTE', 'ringing'],
      ['CHANNEL_EXECUTE', 'answer', 'CS_EXECUTE', 'ringing'],
      ['CODEC', '', 'CS_EXECUTE', 'ringing'],
      ['CODEC', '', 'CS_EXECUTE', 'ringing'],
      ['CHANNEL_PROGRESS_MEDIA', '', 'CS_EXECUTE', 'early'],
      ['CHANNEL_CALLSTATE', '', 'CS_EXECUTE', 'early'],
      ['CHANNEL_ANSWER', '', 'CS_EXECUTE', 'answered'],
      ['CHANNEL_CALLSTATE', '', 'CS_EXECUTE', 'answered'],
      ['CHANNEL_EXECUTE_COMPLETE', 'answer', 'CS_EXECUTE', 'answered'],
      ['CHANNEL_EXECUTE', 'park', 'CS_EXECUTE', 'answered'],
      ['CHANNEL_PARK', '', 'CS_EXECUTE', 'answered'],
    ],
  );
  // Same header names, in the same order, as the captured CHANNEL_PARK (stream scenario), minus the SIPp test header.
  const captured = capturedSample('CHANNEL_PARK').headers;
  const capturedNames = Object.keys(captured).filter((k) => k !== 'variable_sip_h_X-Test-Case');
  assert.deepEqual(
    Object.keys(park).filter((k) => !k.startsWith('variable_')),
    capturedNames.filter((k) => !k.startsWith('variable_')),
  );
  assert.deepEqual(
    new Set(Object.keys(park).filter((k) => k.startsWith('variable_'))),
    new Set(capturedNames.filter((k) => k.startsWith('variable_'))),
  );
  assert.ok(Object.keys(park).length >= 135);
  // ... with this call's values.
  assert.equal(park['Unique-ID'], ch.uuid);
  assert.equal(park['Caller-Caller-ID-Number'], '15551230001');
  assert.equal(park['Caller-Destination-Number'], '2000');
  assert.equal(park['Channel-Read-Codec-Name'], 'PCMU');
  assert.equal(park['variable_test_route'], 'answer_park');
  assert.equal(park['variable_uuid'], ch.uuid);
  assert.match(park['variable_sip_call_id'] ?? '', /^1-\d+@127\.0\.0\.1$/);
  assert.notEqual(park['Core-UUID'], captured['Core-UUID']);

  // Not answered by the dialplan: parked ringing, headers like the captured unanswered CHANNEL_PARK.
  const ringing = fs.placeInboundCall({ answer: false, destination: '3000', codec: 'PCMA' });
  const park2 = await esl.waitEvent(named('CHANNEL_PARK', ringing.uuid));
  assert.equal(park2['Answer-State'], 'ringing');
  assert.equal(park2['Channel-Read-Codec-Name'], undefined);
  // (DP_MATCH depends on the dialplan's regex: that capture's dialplan did not set it.)
  const capturedUnanswered = Object.keys(capturedSample('CHANNEL_PARK:unanswered').headers).filter(
    (k) => !['variable_sip_h_X-Test-Case', 'variable_test_route', 'variable_current_application_data'].includes(k),
  );
  assert.deepEqual(new Set(Object.keys(park2).filter((k) => k !== 'variable_DP_MATCH')), new Set(capturedUnanswered));

  // uuid_answer on it: CODEC, CODEC, PROGRESS_MEDIA, CALLSTATE EARLY, ANSWER, CALLSTATE ACTIVE (captured).
  const from = esl.events.length;
  assert.equal(await esl.api(`uuid_answer ${ringing.uuid}`), '+OK\n');
  await esl.waitEvent(named('CHANNEL_ANSWER', ringing.uuid), 2000, from);
  assert.deepEqual(
    esl.events
      .slice(from)
      .filter(of(ringing.uuid))
      .map((e) => e['Event-Name']),
    ['CODEC', 'CODEC', 'CHANNEL_PROGRESS_MEDIA', 'CHANNEL_CALLSTATE', 'CHANNEL_ANSWER', 'CHANNEL_CALLSTATE'],
  );
  assert.equal(esl.events.find(named('CHANNEL_ANSWER', ringing.uuid))?.['Channel-Read-Codec-Name'], 'PCMA');

  // DTMF as captured.
  ringing.dtmf('5#');
  const dtmf = await esl.waitEvent((e) => e['Event-Name'] === 'DTMF' && e['DTMF-Digit'] === '#');
  assert.equal(dtmf['DTMF-Source'], 'RTP');
  assert.equal(dtmf['DTMF-Duration'], '2240');
  assert.equal(dtmf['variable_uuid'], undefined);
});

test('mod_audio_stream start: WebSocket with the URL path/query, metadata, 640-byte frames paced by the 20 ms media clock, STREAM_* vars', async (t) => {
  const { fs, ws, esl } = await setup(t);
  await esl.command(SUBSCRIBE_ALL_CALL_EVENTS);
  const ch = fs.placeInboundCall();
  assert.equal(
    await esl.api(`uuid_setvar ${ch.uuid} STREAM_EXTRA_HEADERS {"X-Call-Id":"abc123","Authorization":"Bearer t0k"}`),
    '+OK\n',
  );
  assert.equal(await esl.api(`uuid_setvar ${ch.uuid} STREAM_HEART_BEAT 1`), '+OK\n');
  const url = ws.url(`/stream16k?uuid=${ch.uuid}`);
  assert.equal(
    await esl.api(`uuid_audio_stream ${ch.uuid} start ${url} mono 16k {"some":"metadata","rate":"16k"}`),
    '+OK Success\n',
  );
  const conn = await ws.waitConnection();
  assert.equal(conn.path, `/stream16k?uuid=${ch.uuid}`);
  assert.equal(conn.headers['x-call-id'], 'abc123');
  assert.equal(conn.headers['authorization'], 'Bearer t0k');
  const connected = await esl.waitEvent(named('mod_audio_stream::connect', ch.uuid));
  assert.deepEqual(body(connected), { status: 'connected' });
  assert.ok(
    esl.events.findIndex(named('MEDIA_BUG_START', ch.uuid)) <
      esl.events.findIndex(named('mod_audio_stream::connect', ch.uuid)),
  );
  assert.deepEqual(ch.stream?.vars, {
    STREAM_EXTRA_HEADERS: '{"X-Call-Id":"abc123","Authorization":"Bearer t0k"}',
    STREAM_HEART_BEAT: '1',
  });

  const clock0 = fs.clockPosition();
  const sent0 = ch.stream!.framesSent;
  ch.say(tone(440, 200, 8000), 8000);
  await ws.waitFor(() => (conn.binaries().length >= 25 ? true : undefined), 10_000, '25 frames');
  assert.deepEqual(conn.texts(), ['{"some":"metadata","rate":"16k"}']);
  const frames = conn.binaries();
  assert.ok(frames.every((f) => f.data.length === 640));
  assertPacedByClock(fs, clock0, fs.clockPosition(), sent0, ch.stream!.framesSent, 20);
  const loud = frames.filter(
    (f) => rms(new Int16Array(f.data.buffer.slice(f.data.byteOffset, f.data.byteOffset + f.data.length))) > 1000,
  ).length;
  assert.ok(loud >= 9 && loud <= 11, `200 ms of caller audio = 10 loud frames, got ${loud}`);
  await ch.micIdle();
  assert.equal(ch.stream?.framesSent, ch.stream?.binaryMessagesSent);

  // send_text / pause / resume / stop: texts cut at the first space, close 1000, MEDIA_BUG_STOP, no disconnect.
  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} send_text hello world`), '+OK Success\n');
  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} pause`), '+OK Success\n');
  const paused = ch.stream!.framesSent;
  await delay(100);
  assert.equal(ch.stream!.framesSent, paused, 'no frame sent while paused');
  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} resume`), '+OK Success\n');
  await ws.waitFor(() => (ch.stream!.framesSent > paused ? true : undefined), 10_000, 'frames again after resume');
  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} stop {"final": "bye"}`), '+OK Success\n');
  await ws.waitFor(() => conn.closed, 2000, 'close');
  assert.deepEqual(conn.closed, { code: 1000, reason: 'Normal closure' });
  assert.deepEqual(conn.texts().slice(1), ['hello', '{"final":']);
  await esl.waitEvent(named('MEDIA_BUG_STOP', ch.uuid));
  assert.ok(!esl.events.some(named('mod_audio_stream::disconnect')));

  // STREAM_BUFFER_SIZE 100 → 5 frames per message (1600 bytes at 8k).
  await esl.api(`uuid_setvar ${ch.uuid} STREAM_BUFFER_SIZE 100`);
  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} start ${ws.url('/buf100')} mono 8k`), '+OK Success\n');
  const conn2 = await ws.waitConnection(1);
  await ws.waitFor(() => (conn2.binaries().length >= 2 ? true : undefined), 2000, 'two messages');
  assert.ok(conn2.binaries().every((f) => f.data.length === 1600));
  assert.equal(conn2.texts().length, 0);
});

test('mod_audio_stream errors: refused connection (+OK Success, then ::error code 6), bad arguments as captured', async (t) => {
  const { fs, ws, esl } = await setup(t);
  await esl.command(SUBSCRIBE_ALL_CALL_EVENTS);
  const ch = fs.placeInboundCall();
  const port = await closedPort();
  assert.equal(
    await esl.api(`uuid_audio_stream ${ch.uuid} start ws://127.0.0.1:${port}/nobody-listens mono 8k`),
    '+OK Success\n',
  );
  const error = await esl.waitEvent(named('mod_audio_stream::error', ch.uuid));
  assert.deepEqual(body(error), {
    status: 'error',
    message: { code: 6, error: 'Connection refused (system error 111)' },
  });
  await esl.waitEvent(named('MEDIA_BUG_STOP', ch.uuid));
  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} send_text after-error`), '-ERR Operation Failed\n');

  const api = (args: string) => esl.api(`uuid_audio_stream ${args}`);
  const u = ch.uuid;
  assert.equal(await api(`${u} start ${ws.url('/24k')} mono 24k`), '-ERR Operation Failed\n');
  assert.equal(await api(`${u} start ${ws.url('/badrate')} mono 11k`), '-ERR Operation Failed\n');
  assert.equal(await api(`${u} start http://127.0.0.1:${ws.port}/notws mono 8k`), '-ERR Operation Failed\n');
  assert.equal(await api(`${u} start ws://my_service:${ws.port}/underscore mono 8k`), '-ERR Operation Failed\n');
  assert.equal(await api(`${u} start ${ws.url('/badmix')} quad 8k`), '-ERR no reply\n');
  assert.equal(await api(`${u} stop`), '-ERR Operation Failed\n');
  assert.equal(await api(`${u} pause`), '-ERR Operation Failed\n');
  assert.equal(
    await api(`00000000-0000-0000-0000-000000000000 start ${ws.url('/x')} mono 8k`),
    '-ERR Operation Failed\n',
  );
  assert.match(
    await api(u),
    /^-USAGE: <uuid> \[start \| stop \| send_text \| pause \| resume \| graceful-shutdown \] /,
  );
  assert.equal(await esl.api(`uuid_unset ${u} STREAM_BUFFER_SIZE`), '-ERR uuid_unset Command not found!\n');
  assert.equal(ws.connections.length, 0);

  // 24000 as a number is accepted: 960-byte frames.
  assert.equal(await api(`${u} start ${ws.url('/r24000')} mono 24000`), '+OK Success\n');
  const conn = await ws.waitConnection();
  await ws.waitFor(() => conn.binaries()[0], 2000, 'a frame');
  assert.equal(conn.binaries()[0]!.data.length, 960);
  assert.equal(await api(`${u} start ${ws.url('/double')} mono 8k`), '-ERR Operation Failed\n');
});

test('server closes the WebSocket (4001): ::disconnect, the bug stays attached until stop', async (t) => {
  const { fs, ws, esl } = await setup(t);
  await esl.command(SUBSCRIBE_ALL_CALL_EVENTS);
  const ch = fs.placeInboundCall();
  await esl.api(`uuid_audio_stream ${ch.uuid} start ${ws.url('/restart8k')} mono 8k`);
  const conn = await ws.waitConnection();
  await esl.waitEvent(named('mod_audio_stream::connect', ch.uuid));
  conn.socket.close(4001, 'server-bye');
  const disc = await esl.waitEvent(named('mod_audio_stream::disconnect', ch.uuid));
  assert.deepEqual(body(disc), { status: 'disconnected', message: { code: 4001, reason: 'server-bye' } });
  assert.equal(disc['Content-Length'], String(Buffer.byteLength(disc['_body']!)));
  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} send_text after-server-close`), '+OK Success\n');
  assert.equal(
    await esl.api(`uuid_audio_stream ${ch.uuid} start ${ws.url('/after-server-close')} mono 8k`),
    '-ERR Operation Failed\n',
  );
  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} stop`), '+OK Success\n');
  await esl.waitEvent(named('MEDIA_BUG_STOP', ch.uuid));
  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} start ${ws.url('/again')} mono 8k`), '+OK Success\n');
  await ws.waitConnection(1);
  assert.equal(ws.connections.length, 2);

  // A dropped TCP connection (no close frame): the server sees 1006, the module reports a disconnect.
  await esl.waitEvent(
    (e) =>
      named('mod_audio_stream::connect', ch.uuid)(e) &&
      e !== esl.events.find(named('mod_audio_stream::connect', ch.uuid)),
  );
  ch.stream!.dropConnection();
  await ws.waitFor(() => ws.connections[1]!.closed, 2000, 'close');
  assert.equal(ws.connections[1]!.closed!.code, 1006);
  const second = await esl.waitEvent((e) => named('mod_audio_stream::disconnect', ch.uuid)(e) && e !== disc);
  assert.equal((body(second) as { message: { code: number } }).message.code, 1006);
});

test('streamAudio: file in the temp dir, ::play 14 ms later (measured 12-17) echoing extra fields; anything else → ::json', async (t) => {
  const { fs, ws, esl } = await setup(t);
  await esl.command(SUBSCRIBE_ALL_CALL_EVENTS);
  const ch = fs.placeInboundCall();
  await esl.api(`uuid_audio_stream ${ch.uuid} start ${ws.url('/play')} mono 8k`);
  const conn = await ws.waitConnection();
  await esl.waitEvent(named('mod_audio_stream::connect', ch.uuid));

  const audio = pcmBytes(tone(440, 100));
  const sentAt = performance.now();
  conn.socket.send(
    JSON.stringify({
      type: 'streamAudio',
      data: { audioDataType: 'raw', sampleRate: 8000, audioData: audio.toString('base64'), turn: 7 },
    }),
  );
  const play = await esl.waitEvent(named('mod_audio_stream::play', ch.uuid));
  const playAt = fs.eventLog.find((e) => e.subclass === 'mod_audio_stream::play')!.at;
  // The modelled delay, counted from the message's arrival; the event never fires before it (≤ 1 ms of
  // timer rounding). How late it fires on a busy machine is not the model's business.
  const [scheduled] = ch.stream!.plays;
  assert.equal(scheduled!.delayMs, 14);
  assert.ok(scheduled!.receivedAt >= sentAt);
  assert.ok(
    playAt >= scheduled!.receivedAt + scheduled!.delayMs - 1,
    `::play ${playAt - scheduled!.receivedAt} ms after the message arrived`,
  );
  const file = join(fs.tmpDir, `${ch.uuid}_0.tmp.r8`);
  assert.deepEqual(body(play), { audioDataType: 'raw', sampleRate: 8000, turn: 7, file });
  assert.deepEqual(readFileSync(file), audio);

  conn.socket.send(
    JSON.stringify({
      type: 'streamAudio',
      data: { audioDataType: 'wav', sampleRate: 0, audioData: wav(tone(300, 40, 16000), 16000).toString('base64') },
    }),
  );
  const play2 = await esl.waitEvent((e) => named('mod_audio_stream::play', ch.uuid)(e) && e !== play);
  assert.equal((body(play2) as { file: string }).file, join(fs.tmpDir, `${ch.uuid}_1.tmp.wav`));

  const invalid = [
    '{"type":"hello","text":"any other json"}',
    'plain text, not json',
    '{"type":"streamAudio","data":{"audioDataType":"raw","sampleRate":11025,"audioData":"AAAA"}}',
    '{"type":"streamAudio","data":{"audioDataType":"raw","sampleRate":8000}}',
    '{"type":"streamAudio","data":{"audioDataType":"flac","sampleRate":8000,"audioData":"AAAA"}}',
    '{"type":"streamAudio"}',
    '{"type":"streamAudio","data":{"audioDataType":"raw","audioData":"AAAA"}}',
  ];
  conn.socket.send(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]), { binary: true });
  for (const text of invalid) conn.socket.send(text);
  await esl.waitFor(
    () => (esl.events.filter(named('mod_audio_stream::json', ch.uuid)).length === invalid.length ? true : undefined),
    2000,
    'json events',
  );
  assert.deepEqual(
    esl.events.filter(named('mod_audio_stream::json', ch.uuid)).map((e) => e['_body']),
    invalid,
  );
  assert.equal(ch.stream?.binaryIgnored, 1);

  assert.equal(await esl.api(`uuid_audio_stream ${ch.uuid} stop`), '+OK Success\n');
  assert.equal(existsSync(file), false);
});

test('sendmsg playback with event-lock: three files back to back, gapless, events in captured order', async (t) => {
  const { fs, esl } = await setup(t);
  const ch = fs.placeInboundCall();
  await esl.command('event json CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE PLAYBACK_START PLAYBACK_STOP PRIVATE_COMMAND');
  const a = tone(440, 200, 8000);
  const b = tone(660, 200, 16000);
  const c = tone(880, 200, 24000);
  const files = [join(fs.tmpDir, 'a.r8'), join(fs.tmpDir, 'b.r16'), join(fs.tmpDir, 'c.wav')];
  writeFileSync(files[0]!, pcmBytes(a));
  writeFileSync(files[1]!, pcmBytes(b));
  writeFileSync(files[2]!, wav(c, 24000));
  const sentAt = performance.now();
  for (const [i, path] of files.entries()) {
    const reply = await esl.sendmsg(ch.uuid, {
      'call-command': 'execute',
      'execute-app-name': 'playback',
      'execute-app-arg': path,
      'event-lock': 'true',
      'event-uuid': `chunk-${i}`,
    });
    assert.equal(reply, '+OK');
  }
  await ch.waitPlaybackIdle();
  await esl.waitEvent((e) => e['Event-Name'] === 'PRIVATE_COMMAND' && e['execute-app-arg'] === files[2]);
  assert.deepEqual(
    ch.heard.map((s) => [s.path, s.status, s.appUuid]),
    files.map((f, i) => [f, 'done', `chunk-${i}`]),
  );
  assert.deepEqual(ch.heardGaps(), [0, 0]);
  // The first file starts playbackStartDelayMs (25) after its command arrived, on the emulator's logical
  // clock; PLAYBACK_START is never fired before that (≤ 1 ms of timer rounding).
  assert.ok(ch.heard[0]!.queuedAt >= sentAt);
  assertMs(ch.heard[0]!.startedAt - ch.heard[0]!.queuedAt, 25, 'first file after its command');
  assert.ok(
    ch.events.find((e) => e.name === 'PLAYBACK_START')!.at >= ch.heard[0]!.startedAt - 1,
    'PLAYBACK_START not before the modelled start',
  );
  assert.ok(ch.heard.every((s) => s.plannedMs === 200 && s.playedMs === 200));

  // What the caller heard: the three tones in order, nothing inserted.
  const pcm = ch.heardPcm();
  assert.equal(pcm.length, 4800);
  assert.deepEqual(pcm.subarray(0, 1600), a);
  const expectedB = resample(b, 16000, 8000);
  assert.ok(pcm.subarray(1600, 3200).every((x, i) => Math.abs(x - expectedB[i]!) <= 1));
  assert.ok(rms(pcm.subarray(3200)) > 4000);

  const per = esl.events
    .filter(of(ch.uuid))
    .map((e) => [e['Event-Name'], e['Application-UUID'] ?? e['Playback-Status'] ?? e['execute-app-arg'] ?? '']);
  const expected = files.flatMap((f, i) => [
    ['CHANNEL_EXECUTE', `chunk-${i}`],
    ['PLAYBACK_START', ''],
    ['PLAYBACK_STOP', 'done'],
    ['CHANNEL_EXECUTE_COMPLETE', `chunk-${i}`],
    ['PRIVATE_COMMAND', f],
  ]);
  assert.deepEqual(per, expected);
  const complete = esl.events.find(named('CHANNEL_EXECUTE_COMPLETE', ch.uuid))!;
  assert.equal(complete['Application-Response'], 'FILE PLAYED');
  assert.equal(complete['Application-Data'], files[0]);
  const start = esl.events.find(named('PLAYBACK_START', ch.uuid))!;
  assert.equal(start['Playback-File-Path'], files[0]);
  assert.equal(start['variable_current_application_data'], files[0]);
  assert.equal(esl.events.find(named('PLAYBACK_STOP', ch.uuid))!['variable_playback_ms'], '200');
  // verbose-channel-events=no (freeswitch/conf): every chunk's four events carry all the channel variables
  // anyway; PRIVATE_COMMAND carries none.
  const variables = (e: Record<string, unknown>) => Object.keys(e).filter((k) => k.startsWith('variable_')).length;
  for (const e of esl.events.filter(of(ch.uuid)))
    if (e['Event-Name'] === 'PRIVATE_COMMAND') assert.equal(variables(e), 0);
    else assert.ok(variables(e) > 50, `${e['Event-Name']}: ${variables(e)} variables`);
});

test('files FreeSWITCH cannot play: .r24 is noise, .r48 and missing files give FILE NOT FOUND without PLAYBACK_*', async (t) => {
  const { fs, esl } = await setup(t);
  const ch = fs.placeInboundCall();
  await esl.command('event json CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE PLAYBACK_START PLAYBACK_STOP');
  const r24 = join(fs.tmpDir, 'x.tmp.r24');
  const r48 = join(fs.tmpDir, 'x.tmp.r48');
  writeFileSync(r24, pcmBytes(tone(440, 120, 24000)));
  writeFileSync(r48, pcmBytes(tone(440, 120, 48000)));
  for (const path of [r24, r48, join(fs.tmpDir, 'missing.r8'), join(fs.tmpDir, 'lower.pcmu')]) {
    await esl.sendmsg(ch.uuid, {
      'call-command': 'execute',
      'execute-app-name': 'playback',
      'execute-app-arg': path,
      'event-lock': 'true',
    });
  }
  await ch.waitPlaybackIdle();
  await esl.waitFor(
    () => (esl.events.filter((e) => e['Application-Response'] === 'FILE NOT FOUND').length === 3 ? true : undefined),
    2000,
    'FILE NOT FOUND ×3',
  );
  assert.deepEqual(
    ch.heard.map((s) => [s.path, s.noise ?? false]),
    [[r24, true]],
  );
  // 24 kHz 16-bit data read as 24-bit samples: 2/3 of the intended duration.
  assert.equal(ch.heard[0]!.plannedMs, 80);
  assert.deepEqual(
    esl.events.filter(of(ch.uuid)).map((e) => [e['Event-Name'], e['Application-Response'] ?? '']),
    [
      ['CHANNEL_EXECUTE', ''],
      ['PLAYBACK_START', ''],
      ['PLAYBACK_STOP', ''],
      ['CHANNEL_EXECUTE_COMPLETE', 'FILE PLAYED'],
      ['CHANNEL_EXECUTE', ''],
      ['CHANNEL_EXECUTE_COMPLETE', 'FILE NOT FOUND'],
      ['CHANNEL_EXECUTE', ''],
      ['CHANNEL_EXECUTE_COMPLETE', 'FILE NOT FOUND'],
      ['CHANNEL_EXECUTE', ''],
      ['CHANNEL_EXECUTE_COMPLETE', 'FILE NOT FOUND'],
    ],
  );
});

test('uuid_broadcast waits its lead frames (190 ms with a silent caller, 100 ms with a talking one)', async (t) => {
  const { fs, esl } = await setup(t);
  const ch = fs.placeInboundCall();
  const file = join(fs.tmpDir, 'prompt.r8');
  writeFileSync(file, pcmBytes(tone(440, 100)));
  assert.equal(await esl.api(`uuid_broadcast ${ch.uuid} ${file} aleg`), '+OK Message sent\n');
  await esl.api(`uuid_broadcast ${ch.uuid} ${file} aleg`);
  await ch.waitPlaybackIdle();
  // Each item starts its lead after its command or after the previous item, whichever is later.
  const [first, second] = ch.heard;
  assertMs(first!.startedAt - first!.queuedAt, 190, 'silent caller lead');
  assertMs(second!.startedAt - Math.max(second!.queuedAt, first!.endedAt), 190, 'lead of the second broadcast');
  assert.ok(
    ch.events.find((e) => e.name === 'PLAYBACK_START')!.at >= first!.startedAt - 1,
    'PLAYBACK_START not before the modelled start',
  );
  const priv = ch.events.find((e) => e.name === 'PRIVATE_COMMAND')!;
  assert.deepEqual(priv.headers.slice(priv.headers.findIndex(([k]) => k === 'call-command')).slice(0, 5), [
    ['call-command', 'execute'],
    ['execute-app-name', 'playback'],
    ['execute-app-arg', file],
    ['event-lock', 'true'],
    ['lead-frames', '5'],
  ]);

  ch.say(tone(300, 10_000), 8000); // still talking when the command arrives, however late that is
  await esl.api(`uuid_broadcast ${ch.uuid} ${file} aleg`);
  await ch.waitPlaybackIdle();
  const talking = ch.heard[2]!;
  assertMs(talking.startedAt - Math.max(talking.queuedAt, second!.endedAt), 100, 'talking caller lead');
  assert.equal(
    await esl.api('uuid_broadcast 00000000-0000-0000-0000-000000000000 /nope.r8 aleg'),
    '+OK Message sent\n',
  );
});

test('uuid_break all: the current file stops 25 ms later, the queue is dropped without events', async (t) => {
  const { fs, esl } = await setup(t);
  const ch = fs.placeInboundCall();
  await esl.command('event json CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE PLAYBACK_START PLAYBACK_STOP');
  const files = ['one', 'two', 'three'].map((n) => join(fs.tmpDir, `${n}.r8`));
  // The first file is long: it is still playing when the break arrives, however late that is.
  for (const [i, f] of files.entries()) writeFileSync(f, pcmBytes(tone(500, i === 0 ? 10_000 : 500)));
  const play = (path: string, id: string) =>
    esl.sendmsg(ch.uuid, {
      'call-command': 'execute',
      'execute-app-name': 'playback',
      'execute-app-arg': path,
      'event-lock': 'true',
      'event-uuid': id,
    });
  for (const [i, f] of files.entries()) await play(f, `turn1-${i}`);
  await ch.waitHeardMs(150);
  const sentAt = performance.now();
  assert.equal(await esl.api(`uuid_break ${ch.uuid} all`), '+OK\n');
  // The next turn, queued right after the break.
  const reply = join(fs.tmpDir, 'reply.r8');
  writeFileSync(reply, pcmBytes(tone(700, 100)));
  await play(reply, 'turn2-0');
  await ch.waitPlaybackIdle();
  assert.deepEqual(
    ch.heard.map((s) => [s.appUuid, s.status]),
    [
      ['turn1-0', 'break'],
      ['turn2-0', 'done'],
    ],
  );
  // On the emulator's logical clock: the file stops breakDelayMs (25) after the break arrived; the next turn
  // starts one frame (20 ms) after that stop at the earliest, and not before its own start delay (25 ms).
  const [broken, next] = ch.heard;
  assert.ok(broken!.breakAt! >= sentAt);
  assertMs(broken!.endedAt - broken!.breakAt!, 25, 'stop after the break');
  assertMs(next!.startedAt, Math.max(broken!.endedAt + 20, next!.queuedAt + 25), 'start of the next turn');
  // The events are never fired before the modelled times (≤ 1 ms of timer rounding).
  const stopEvent = ch.events.find((e) => e.name === 'PLAYBACK_STOP')!;
  assert.ok(stopEvent.at >= broken!.endedAt - 1, 'PLAYBACK_STOP not before the modelled stop');
  assert.ok(
    ch.events.filter((e) => e.name === 'PLAYBACK_START')[1]!.at >= next!.startedAt - 1,
    'PLAYBACK_START not before the modelled start',
  );
  const stop = esl.events.find(named('PLAYBACK_STOP', ch.uuid))!;
  assert.equal(stop['Playback-Status'], 'break');
  assert.equal(esl.events.find(named('CHANNEL_EXECUTE_COMPLETE', ch.uuid))!['Application-Response'], 'FILE PLAYED');
  assert.ok(!esl.events.some((e) => e['Application-UUID'] === 'turn1-1' || e['Application-UUID'] === 'turn1-2'));
  // Nothing of turn 1 after the break: the heard audio after turn 1's stop is only turn 2 (and silence).
  const afterBreak = ch.heardPcm(1, 1);
  assert.ok(rms(afterBreak) > 4000);

  // uuid_break without all: only the current file stops; the next one plays.
  for (const [i, f] of files.slice(0, 2).entries()) await play(f, `turn3-${i}`);
  await ch.waitHeardMs(ch.heardMs() + 100);
  assert.equal(await esl.api(`uuid_break ${ch.uuid}`), '+OK\n');
  await ch.waitPlaybackIdle();
  assert.deepEqual(
    ch.heard.slice(2).map((s) => [s.appUuid, s.status]),
    [
      ['turn3-0', 'break'],
      ['turn3-1', 'done'],
    ],
  );
  assert.equal(await esl.api(`uuid_break ${ch.uuid} all`), '+OK\n'); // idle: nothing happens
  assert.equal(await esl.api('uuid_break 00000000-0000-0000-0000-000000000000'), '-ERR No such channel!\n');
});

test('hangup: captured sequence, WebSocket closed 1000 without ::disconnect, temp files deleted, playback ended', async (t) => {
  const { fs, ws, esl } = await setup(t);
  await esl.command(SUBSCRIBE_ALL_CALL_EVENTS);
  const ch = fs.placeInboundCall();
  await esl.api(`uuid_audio_stream ${ch.uuid} start ${ws.url('/before-kill')} mono 8k`);
  const conn = await ws.waitConnection();
  await esl.waitEvent(named('mod_audio_stream::connect', ch.uuid));
  // Long enough to be still playing when the hangup comes, however slow the machine.
  conn.socket.send(
    JSON.stringify({
      type: 'streamAudio',
      data: { audioDataType: 'raw', sampleRate: 8000, audioData: pcmBytes(tone(440, 10_000)).toString('base64') },
    }),
  );
  const play = await esl.waitEvent(named('mod_audio_stream::play', ch.uuid));
  const file = (body(play) as { file: string }).file;
  await esl.sendmsg(ch.uuid, {
    'call-command': 'execute',
    'execute-app-name': 'playback',
    'execute-app-arg': file,
    'event-lock': 'true',
  });
  await ch.waitHeardMs(100);
  const from = esl.events.length;
  await ch.hangup();
  await ws.waitFor(() => conn.closed, 2000, 'close');
  assert.deepEqual(conn.closed, { code: 1000, reason: 'Normal closure' });
  await esl.waitEvent(named('CHANNEL_DESTROY', ch.uuid), 2000, from);
  assert.deepEqual(
    esl.events
      .slice(from)
      .filter(of(ch.uuid))
      .map((e) => e['Event-Name'] + (e['Channel-State'] === 'CS_EXECUTE' ? '' : ` ${e['Channel-State']}`)),
    [
      'CHANNEL_HANGUP',
      'PLAYBACK_STOP',
      'CHANNEL_EXECUTE_COMPLETE',
      'PRIVATE_COMMAND',
      'CHANNEL_UNPARK',
      'CHANNEL_EXECUTE_COMPLETE',
      'CHANNEL_STATE CS_HANGUP',
      'MEDIA_BUG_STOP CS_HANGUP',
      'CHANNEL_CALLSTATE CS_HANGUP',
      'CHANNEL_STATE CS_REPORTING',
      'CHANNEL_HANGUP_COMPLETE CS_REPORTING',
      'CHANNEL_DESTROY CS_REPORTING',
      'CHANNEL_STATE CS_DESTROY',
    ],
  );
  const complete = esl.events.find(named('CHANNEL_HANGUP_COMPLETE', ch.uuid))!;
  assert.equal(complete['Hangup-Cause'], 'NORMAL_CLEARING');
  assert.equal(complete['variable_sip_hangup_disposition'], 'recv_bye');
  assert.equal(Object.keys(complete)[Object.keys(complete).indexOf('Event-Sequence') + 1], 'Hangup-Cause');
  assert.ok(Object.keys(complete).length > 200);
  assert.ok(!esl.events.some(named('mod_audio_stream::disconnect')));
  assert.equal(existsSync(file), false);
  assert.equal(ch.heard[0]!.status, 'hangup');
  assert.ok(ch.heard[0]!.playedMs < ch.heard[0]!.plannedMs, 'cut short by the hangup');
  assert.equal(fs.channels.has(ch.uuid), false);

  // uuid_kill: our BYE (send_bye), the channel is gone afterwards.
  const other = fs.placeInboundCall();
  assert.equal(await esl.api(`uuid_kill ${other.uuid}`), '+OK\n');
  const otherComplete = await esl.waitEvent(named('CHANNEL_HANGUP_COMPLETE', other.uuid));
  assert.equal(otherComplete['variable_sip_hangup_disposition'], 'send_bye');
  await other.waitDestroyed();
  assert.equal(await esl.api(`uuid_kill ${other.uuid}`), '-ERR No such channel!\n');
  assert.equal(await esl.sendmsg(other.uuid, { 'call-command': 'hangup' }), `-ERR invalid session id [${other.uuid}]`);

  // sendmsg hangup with a cause.
  const third = fs.placeInboundCall();
  assert.equal(await esl.sendmsg(third.uuid, { 'call-command': 'hangup', 'hangup-cause': 'USER_BUSY' }), '+OK');
  await third.waitDestroyed();
  assert.equal(third.hangupCause, 'USER_BUSY');
});

test('originate: answered / busy / no answer / nobody listening, with the BACKGROUND_JOB bodies FreeSWITCH sends', async (t) => {
  const { fs, esl } = await setup(t);
  await esl.command(SUBSCRIBE_ALL_CALL_EVENTS);
  const uuid = (await esl.api('create_uuid')).trim();
  assert.match(uuid, /^[0-9a-f-]{36}$/);
  const job = 'job-1';
  const reply = await esl.bgapi(
    `originate {origination_uuid=${uuid},origination_caller_id_number=15550001111,origination_caller_id_name=Test-Agent,test_tag=out-a}sofia/external/sip:agent@127.0.0.1:5090 &park()`,
    job,
  );
  assert.equal(reply, `+OK Job-UUID: ${job}`);
  const bg = await esl.waitEvent((e) => e['Event-Name'] === 'BACKGROUND_JOB' && e['Job-UUID'] === job);
  assert.equal(bg['_body'], `+OK ${uuid}\n`);
  assert.equal(bg['Job-Command'], 'originate');
  assert.match(bg['Job-Command-Arg'] ?? '', /^\{origination_uuid=/);
  await esl.waitEvent(named('CHANNEL_PARK', uuid));
  const names = esl.events.filter((e) => e['Unique-ID'] === uuid || e === bg).map((e) => e['Event-Name']);
  assert.deepEqual(names, [
    'CHANNEL_OUTGOING',
    'CHANNEL_STATE',
    'CHANNEL_CREATE',
    'CHANNEL_ORIGINATE',
    'CHANNEL_STATE',
    'CHANNEL_STATE',
    'CHANNEL_PROGRESS',
    'CHANNEL_CALLSTATE',
    'CODEC',
    'CODEC',
    'CHANNEL_ANSWER',
    'CHANNEL_CALLSTATE',
    'CALL_UPDATE',
    'BACKGROUND_JOB',
    'CHANNEL_STATE',
    'CHANNEL_EXECUTE',
    'CHANNEL_PARK',
  ]);
  const create = esl.events.find(named('CHANNEL_CREATE', uuid))!;
  assert.equal(create['Call-Direction'], 'outbound');
  assert.equal(create['variable_test_tag'], 'out-a');
  assert.equal(create['Caller-Caller-ID-Name'], 'Test-Agent');
  assert.equal(create['Channel-Name'], 'sofia/external/agent@127.0.0.1:5090');
  const park = esl.events.find(named('CHANNEL_PARK', uuid))!;
  assert.equal(park['Caller-Caller-ID-Name'], 'Outbound Call');
  assert.equal(park['Caller-Caller-ID-Number'], 'agent');
  assert.equal(park['variable_test_tag'], 'out-a');

  // The answered leg is a normal channel: far-end hangup later.
  const leg = fs.channels.get(uuid)!;
  await leg.hangup();
  assert.equal(
    (await esl.waitEvent(named('CHANNEL_HANGUP_COMPLETE', uuid)))['variable_sip_hangup_disposition'],
    'recv_bye',
  );

  const results = new Map<string, string>();
  fs.onOriginate = (req) => {
    const tag = req.variables['test_tag'];
    if (tag === 'busy') return { result: 'busy' };
    if (tag === 'noanswer') return { result: 'no-answer' };
    if (tag === 'nobody') return { result: 'unreachable' };
    return { result: 'answer', afterMs: 30 };
  };
  const run = async (tag: string, extra = '') => {
    await esl.bgapi(`originate {test_tag=${tag}${extra}}sofia/external/sip:agent@127.0.0.1:5090 &park()`, `job-${tag}`);
    const e = await esl.waitEvent((x) => x['Event-Name'] === 'BACKGROUND_JOB' && x['Job-UUID'] === `job-${tag}`, 3000);
    results.set(tag, e['_body'] ?? '');
  };
  const started = performance.now();
  await Promise.all([run('busy'), run('noanswer', ',originate_timeout=1'), run('nobody')]);
  assert.equal(results.get('busy'), '-ERR USER_BUSY\n');
  assert.equal(results.get('noanswer'), '-ERR NO_ANSWER\n');
  assert.equal(results.get('nobody'), '-ERR NORMAL_TEMPORARY_FAILURE\n');
  assert.ok(
    performance.now() - started >= 999,
    'NO_ANSWER not before originate_timeout (1 s, ≤ 1 ms of timer rounding)',
  );
  const busyLeg = fs.allChannels.find((c) => c.variables.get('test_tag') === 'busy')!;
  assert.deepEqual(
    esl.events
      .filter(
        (e) =>
          e['Unique-ID'] === busyLeg.uuid || (e['Event-Name'] === 'BACKGROUND_JOB' && e['Job-UUID'] === 'job-busy'),
      )
      .map((e) => e['Event-Name']),
    [
      'CHANNEL_OUTGOING',
      'CHANNEL_STATE',
      'CHANNEL_CREATE',
      'CHANNEL_ORIGINATE',
      'CHANNEL_STATE',
      'CHANNEL_STATE',
      'CHANNEL_HANGUP',
      'CHANNEL_STATE',
      'CHANNEL_CALLSTATE',
      'CHANNEL_STATE',
      'CHANNEL_HANGUP_COMPLETE',
      'BACKGROUND_JOB',
      'CHANNEL_DESTROY',
      'CHANNEL_STATE',
    ],
  );

  // api originate blocks the socket until the result; garbage dial strings fail like FreeSWITCH.
  assert.match(
    await esl.api('originate {test_tag=x}sofia/external/sip:agent@127.0.0.1:5090 &park'),
    /^\+OK [0-9a-f-]{36}\n$/,
  );
  assert.equal(await esl.api('originate {test_tag=x sofia/external/x &park()'), '-ERR CHANNEL_UNACCEPTABLE\n');
  assert.equal(await esl.api('originate foo/bar &park()'), '-ERR CHAN_NOT_IMPLEMENTED\n');
  assert.match(await esl.api('originate'), /^-USAGE: <call url>/);
});

test('originate with early media: succeeds on 183 unless ignore_early_media=true', async (t) => {
  const { fs, esl } = await setup(t);
  await esl.command('event json BACKGROUND_JOB');
  fs.onOriginate = () => ({ result: 'answer', afterMs: 250, earlyMediaAfterMs: 30 });
  const started = performance.now();
  await esl.bgapi('originate {x=1}sofia/gateway/gw1/15551234567 &park()', 'early');
  await esl.bgapi('originate {ignore_early_media=true}sofia/gateway/gw1/15551234567 &park()', 'ignore');
  const early = await esl.waitEvent((e) => e['Job-UUID'] === 'early');
  const ignore = await esl.waitEvent((e) => e['Job-UUID'] === 'ignore');
  assert.ok(esl.events.indexOf(early) < esl.events.indexOf(ignore), 'the early-media leg succeeded first, on its 183');
  assert.ok(
    performance.now() - started >= 249,
    'the ignore_early_media leg waited for its answer (250 ms, ≤ 1 ms of timer rounding)',
  );
  const legs = [early, ignore].map((e) => fs.allChannels.find((c) => e['_body'] === `+OK ${c.uuid}\n`)!);
  assert.equal(legs[0]!.name, 'sofia/gateway/gw1/15551234567');
  assert.equal(legs[0]!.answerState, 'answered');
  const parkedEarly = legs[0]!.events.find((e) => e.name === 'CHANNEL_PARK')!;
  assert.equal(parkedEarly.headers.find(([k]) => k === 'Answer-State')?.[1], 'early');
});

test('options and less common paths: event plain, metadata after N frames, fast frames, LIFO, G.711 files', async (t) => {
  const { fs, ws, esl } = await setup(t, { metadataAfterFrames: 3, frameIntervalMs: 5, connectBurstFrames: 0 });
  const plain = await RawEslClient.connect(fs.eslPort, 'ClueCon');
  t.after(() => plain.close());
  assert.equal(await plain.command('event plain CHANNEL_PARK'), '+OK event listener enabled plain');
  const ch = fs.placeInboundCall({ callerName: 'A B' });
  const packet = await plain.waitFor(
    () => plain.packets.find((p) => p.headers['Content-Type'] === 'text/event-plain'),
    2000,
    'plain event',
  );
  assert.match(packet.body, /^Event-Name: CHANNEL_PARK\n/);
  assert.match(packet.body, /\nCaller-Caller-ID-Name: A%20B\n/);

  await esl.api(`uuid_audio_stream ${ch.uuid} start ${ws.url('/fast')} mono 8k {"m":1}`);
  const conn = await ws.waitConnection();
  // From here on every frame goes out at its tick (frames taken while connecting are flushed on open).
  await ws.waitFor(() => (ch.stream!.connected ? true : undefined), 10_000, 'stream open');
  const clock0 = fs.clockPosition();
  const sent0 = ch.stream!.framesSent;
  await ws.waitFor(() => (conn.messages.length >= 40 ? true : undefined), 10_000, '40 messages');
  assert.deepEqual(
    conn.messages.slice(0, 4).map((m) => m.binary),
    [true, true, true, false],
  );
  assertPacedByClock(fs, clock0, fs.clockPosition(), sent0, ch.stream!.framesSent, 5);
  // A stall of far more than ten intervals: the clock gives the excess ticks up (counted), the rest run.
  const clock1 = fs.clockPosition();
  const sent1 = ch.stream!.framesSent;
  const stallUntil = performance.now() + 120;
  while (performance.now() < stallUntil) {
    /* block the event loop */
  }
  await ws.waitFor(
    () => (fs.clockPosition().ticks > clock1.ticks + 30 ? true : undefined),
    10_000,
    'ticks after the stall',
  );
  const clock2 = fs.clockPosition();
  assert.ok(clock2.dropped > clock1.dropped, 'ticks given up after the stall');
  assertPacedByClock(fs, clock1, clock2, sent1, ch.stream!.framesSent, 5);

  // Without event-lock, queued playbacks come out in reverse order.
  const files = ['a', 'b', 'c'].map((n) => join(fs.tmpDir, `${n}.r8`));
  for (const f of files) writeFileSync(f, Buffer.alloc(320));
  for (const f of files)
    await esl.sendmsg(ch.uuid, { 'call-command': 'execute', 'execute-app-name': 'playback', 'execute-app-arg': f });
  await ch.waitPlaybackIdle();
  assert.deepEqual(
    ch.heard.map((s) => s.path),
    [files[0], files[2], files[1]],
  );

  // .PCMU: right on a PCMU call, noise on a PCMA call.
  const ulaw = join(fs.tmpDir, 'x.PCMU');
  writeFileSync(ulaw, Buffer.alloc(160, 0xff)); // μ-law silence
  const pcma = fs.placeInboundCall({ codec: 'PCMA' });
  for (const c of [ch, pcma]) {
    await esl.sendmsg(c.uuid, {
      'call-command': 'execute',
      'execute-app-name': 'playback',
      'execute-app-arg': ulaw,
      'event-lock': 'true',
    });
    await c.waitPlaybackIdle();
  }
  assert.deepEqual([ch.heard.at(-1)!.mismatch ?? false, pcma.heard.at(-1)!.mismatch], [false, true]);
  assert.equal(rms(ch.heardPcm(3, 3)), 0);
  assert.ok(rms(pcma.heardPcm(0, 0)) > 500); // μ-law silence read as A-law is not silence

  // Playback on a ringing inbound call pre-answers it (early media), and a caller hanging up then cancels.
  const ringing = fs.placeInboundCall({ answer: false });
  await esl.sendmsg(ringing.uuid, {
    'call-command': 'execute',
    'execute-app-name': 'playback',
    'execute-app-arg': files[0]!,
    'event-lock': 'true',
  });
  await ringing.waitPlaybackIdle();
  assert.equal(ringing.answerState, 'early');
  await ringing.hangup();
  assert.equal(ringing.hangupCause, 'ORIGINATOR_CANCEL');
  assert.equal(ringing.variables.get('sip_hangup_disposition'), 'recv_cancel');
});

test('FreeSWITCH misc: version, status, show channels, uuid_exists/getvar/setvar_multi, exit', async (t) => {
  const { fs, esl } = await setup(t);
  const ch = fs.placeInboundCall({ variables: { callbridge: '1' } });
  assert.match(await esl.api('version'), /^FreeSWITCH Version 1\.10\.12-release/);
  assert.match(await esl.api('status'), /^UP 0 years, 0 days/);
  assert.equal(await esl.api(`uuid_exists ${ch.uuid}`), 'true');
  assert.equal(await esl.api('uuid_exists 00000000-0000-0000-0000-000000000000'), 'false');
  assert.equal(await esl.api(`uuid_getvar ${ch.uuid} callbridge`), '1');
  assert.equal(await esl.api(`uuid_setvar_multi ${ch.uuid} a=1;b=2`), '+OK\n');
  assert.equal(await esl.api(`uuid_getvar ${ch.uuid} b`), '2');
  assert.equal(await esl.api(`uuid_getvar ${ch.uuid} nope`), '_undef_');
  assert.equal(await esl.api('uuid_setvar 00000000-0000-0000-0000-000000000000 a b'), '-ERR No such channel!\n');
  assert.equal(await esl.api('uuid_answer 00000000-0000-0000-0000-000000000000'), '-ERR No such channel!\n');
  const csv = await esl.api('show channels');
  assert.match(csv, /^uuid,direction,created,created_epoch,name,state,/);
  assert.match(csv, new RegExp(`\\n${ch.uuid},inbound,`));
  assert.match(csv, /\n\n1 total\.\n$/);
  const json = JSON.parse(await esl.api('show channels as json')) as {
    row_count: number;
    rows: Array<Record<string, string>>;
  };
  assert.equal(json.row_count, 1);
  assert.equal(json.rows[0]!['uuid'], ch.uuid);
  assert.equal(await esl.api('hupall'), '+OK hangup all channels with cause NORMAL_CLEARING\n');
  await ch.waitDestroyed();
  assert.equal(await esl.api('show channels'), '\n0 total.\n');
  assert.equal(await esl.command('exit'), '+OK bye');
  await esl.waitFor(() => (esl.closed ? true : undefined), 2000, 'close');
});

test('network blip and FreeSWITCH restart', async (t) => {
  const { fs, ws, esl } = await setup(t, { restartDownMs: 200 });
  const ch = fs.placeInboundCall();
  await esl.api(`uuid_audio_stream ${ch.uuid} start ${ws.url('/blip')} mono 8k`);
  const conn = await ws.waitConnection();
  fs.dropEslConnections();
  await esl.waitFor(() => (esl.closed ? true : undefined), 2000, 'ESL close');
  const again = await RawEslClient.connect(fs.eslPort, 'ClueCon');
  t.after(() => again.close());
  assert.equal(await again.api(`uuid_exists ${ch.uuid}`), 'true');
  assert.equal(conn.closed, undefined);

  const restarting = fs.restart();
  await again.waitFor(() => (again.closed ? true : undefined), 2000, 'ESL close');
  await ws.waitFor(() => conn.closed, 2000, 'stream close');
  assert.equal(conn.closed!.code, 1006);
  await assert.rejects(RawEslClient.connect(fs.eslPort, 'ClueCon'));
  await restarting;
  const after = await RawEslClient.connect(fs.eslPort, 'ClueCon');
  t.after(() => after.close());
  assert.equal(await after.api(`uuid_exists ${ch.uuid}`), 'false');
});

test('stop() leaves no sockets, servers or timers behind', async () => {
  const count = () => {
    const counts: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
    return counts;
  };
  await delay(20);
  const before = count();
  const fs = await FreeSwitchEmulator.start();
  const ws = await WsTestServer.start();
  const esl = await RawEslClient.connect(fs.eslPort, 'ClueCon');
  await esl.command(SUBSCRIBE_ALL_CALL_EVENTS);
  const ch = fs.placeInboundCall();
  await esl.api(`uuid_setvar ${ch.uuid} STREAM_HEART_BEAT 1`);
  await esl.api(`uuid_audio_stream ${ch.uuid} start ${ws.url('/leak')} mono 8k`);
  await ws.waitConnection();
  const file = join(fs.tmpDir, 'long.r8');
  writeFileSync(file, pcmBytes(tone(440, 5000)));
  await esl.sendmsg(ch.uuid, {
    'call-command': 'execute',
    'execute-app-name': 'playback',
    'execute-app-arg': file,
    'event-lock': 'true',
  });
  void esl.bgapi('originate {x=1}sofia/external/sip:a@127.0.0.1 &park()');
  const waiting = assert.rejects(fs.waitForEvent('NEVER_HAPPENS', 60_000), /stopped/);
  await ch.waitHeardMs(50);
  await fs.stop();
  await waiting;
  esl.close();
  await ws.close();
  await delay(50);
  const after = count();
  for (const kind of ['TCPSocketWrap', 'TCPServerWrap', 'Timeout']) {
    assert.ok(
      (after[kind] ?? 0) <= (before[kind] ?? 0),
      `${kind}: ${before[kind] ?? 0} before, ${after[kind] ?? 0} after`,
    );
  }
  assert.equal(existsSync(fs.tmpDir), false);
});

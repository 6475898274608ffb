import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallBook } from '../../src/calls/call-book.ts';
import { CallRecorder } from '../../src/calls/call-recording.ts';
import { CALL_VARIABLES, resolveCallSettings, type CallFacts } from '../../src/calls/call-settings.ts';
import { recordStart, recordStop, UnsafeEslValueError } from '../../src/freeswitch/commands.ts';
import { parseRange } from '../../src/http/routes/recordings.ts';
import { noResumptions, type CallRecord } from '../../src/store/call-record.ts';
import { openSqliteCallStore } from '../../src/store/call-store.ts';
import { FreeSwitchEmulator } from '../bed/freeswitch/index.ts';
import { RawEslClient } from '../bed/freeswitch/raw-esl-client.ts';
import { encodeWav } from '../bed/wav.ts';
import { tone } from '../bed/index.ts';
import { Metrics } from '../../src/metrics.ts';
import { captureLogger, until } from '../support/stack.ts';

const ID = '11111111-2222-3333-4444-555555555555';

test('uuid_record commands: the path is validated, a .wav, and nothing else gets through', () => {
  assert.equal(
    recordStart(ID, `/var/lib/callbridge/recordings/${ID}.wav`),
    `uuid_record ${ID} start /var/lib/callbridge/recordings/${ID}.wav`,
  );
  assert.equal(recordStop(ID, `/r/${ID}.wav`), `uuid_record ${ID} stop /r/${ID}.wav`);
  for (const bad of ['/r/a b.wav', '/r/../etc/x.wav', 'r/x.wav', '/r/x.mp3', '/r/x.wav\nhangup', '/r/x;y.wav']) {
    assert.throws(() => recordStart(ID, bad), UnsafeEslValueError, bad);
  }
  assert.throws(() => recordStart('not-a-uuid', `/r/${ID}.wav`), UnsafeEslValueError);
});

test('Range headers: single ranges, suffixes, open ends; several ranges or other units serve the whole file', () => {
  assert.deepEqual(parseRange('bytes=0-99', 1000), [0, 99]);
  assert.deepEqual(parseRange('bytes=900-', 1000), [900, 999]);
  assert.deepEqual(parseRange('bytes=-100', 1000), [900, 999]);
  assert.deepEqual(parseRange('bytes=990-2000', 1000), [990, 999]);
  assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=5-4', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,5-9', 1000), undefined);
  assert.equal(parseRange('items=0-1', 1000), undefined);
  assert.equal(parseRange(undefined, 1000), undefined);
});

function facts(vars: Record<string, string>): CallFacts {
  return { callId: ID, direction: 'inbound', from: '1000', to: '2000', variable: (n) => vars[n] };
}

test('recording by precedence: env default < callback answer < profile < channel variable', async (t) => {
  let answer: Record<string, unknown> = { system_instructions: 'Hi.' };
  const server = createServer((_req, res) => res.end(JSON.stringify(answer)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { logger } = captureLogger();
  const defaults = { pipeline: 'echo' as const, systemInstructions: 'x', voice: 'Puck', language: 'en-US' };
  const profiles = { on: { recording: true }, off: { recording: false } };
  const resolve = (vars: Record<string, string>, callback = true) =>
    resolveCallSettings(facts(vars), {
      defaults,
      profiles,
      logger,
      ...(callback && { callback: { url, timeoutMs: 2000 } }),
    }).then((s) => s.recording);

  assert.equal(await resolve({}, false), undefined, 'nothing said: RECORDING decides');
  answer = { system_instructions: 'Hi.', recording: true };
  assert.equal(await resolve({}), true, 'the callback turns it on');
  assert.equal(await resolve({ [CALL_VARIABLES.profile]: 'off' }), false, 'the profile beats the callback');
  answer = { system_instructions: 'Hi.', recording: false };
  assert.equal(await resolve({ [CALL_VARIABLES.profile]: 'on' }), true);
  const vars = { [CALL_VARIABLES.profile]: 'on', [CALL_VARIABLES.recording]: 'false' };
  assert.equal(await resolve(vars), false, 'the channel variable beats the profile');
  assert.equal(await resolve({ [CALL_VARIABLES.recording]: 'true' }), true);
  assert.equal(await resolve({ [CALL_VARIABLES.recording]: 'yes please' }, false), undefined, 'invalid: ignored');
});

function record(id: string, createdAt: number, recorded: boolean): CallRecord {
  return {
    id,
    direction: 'inbound',
    from: '1',
    to: '2',
    pipeline: 'echo',
    status: 'completed',
    createdAt,
    turns: [],
    transcript: [],
    resumptions: noResumptions(),
    ...(recorded && { recording: { status: 'complete' as const, bytes: 44, durationMs: 0 } }),
  };
}

test('retention: calls pruned from history take their recording files with them', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-rec-'));
  const store = await openSqliteCallStore(':memory:');
  const { logger } = captureLogger();
  const book = new CallBook(store, logger);
  const recorder = new CallRecorder({
    settings: { enabled: true, dir, freeswitchDir: dir, announcementFile: undefined },
    control: () => {
      throw new Error('no calls here');
    },
    book,
    logger,
  });
  t.after(async () => {
    await recorder.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const old = 'aaaaaaaa-0000-0000-0000-000000000001';
  const oldUnrecorded = 'aaaaaaaa-0000-0000-0000-000000000002';
  const fresh = 'aaaaaaaa-0000-0000-0000-000000000003';
  await store.save(record(old, Date.now() - 3 * 86_400_000, true));
  await store.save(record(oldUnrecorded, Date.now() - 3 * 86_400_000, false));
  await store.save(record(fresh, Date.now(), true));
  for (const id of [old, fresh]) await writeFile(recorder.localPath(id), encodeWav([new Int16Array(0)], 8000));

  let removing: Promise<void> | undefined;
  const removed = await store.prune(2, 100, (ids) => {
    assert.deepEqual(ids, [old]);
    removing = recorder.removeFiles(ids);
  });
  await removing;
  assert.equal(removed, 2);
  assert.equal(existsSync(recorder.localPath(old)), false, 'the pruned call lost its file');
  assert.equal(existsSync(recorder.localPath(fresh)), true, 'the kept call kept its file');
  assert.equal((await recorder.file(fresh))?.bytes, 44);

  // Beyond the newest maxRows counts too.
  await store.save(record(old, Date.now() - 1000, true));
  await writeFile(recorder.localPath(old), '');
  await new Promise<void>((resolve) => {
    void store.prune(30, 1, (ids) => {
      assert.deepEqual(ids, [old]);
      void recorder.removeFiles(ids).then(resolve);
    });
  });
  assert.equal(existsSync(recorder.localPath(old)), false);
});

/** The two channels of a 16-bit stereo WAV. */
function channels(b: Buffer): { left: Int16Array; right: Int16Array; count: number } {
  const count = b.readUInt16LE(22);
  const frames = b.readUInt32LE(40) / (2 * count);
  const left = new Int16Array(frames);
  const right = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    left[i] = b.readInt16LE(44 + i * 2 * count);
    right[i] = count === 2 ? b.readInt16LE(46 + i * 4) : 0;
  }
  return { left, right, count };
}

const onset = (pcm: Int16Array) => pcm.findIndex((s) => Math.abs(s) > 2000);

for (const preBuffer of ['0', undefined] as const) {
  test(`emulator uuid_record, RECORD_PRE_BUFFER_FRAMES ${preBuffer ?? 'unset'}: events as captured, stereo WAV, channels ${preBuffer ? 'aligned' : '500 ms apart'}`, async (t) => {
    const fs = await FreeSwitchEmulator.start();
    const esl = await RawEslClient.connect(fs.eslPort, 'ClueCon');
    t.after(async () => {
      esl.close();
      await fs.stop();
    });
    const ch = fs.placeInboundCall();
    await ch.waitForEvent('CHANNEL_ANSWER', 5000).catch(() => undefined);
    const path = join(fs.tmpDir, 'rec', `${ch.uuid}.wav`);
    assert.equal(
      await esl.api(`uuid_record ${ch.uuid} start /proc/self/status/x/${ch.uuid}.wav`),
      '-ERR Cannot record session!\n',
    );
    assert.ok(!ch.events.some((e) => e.name === 'RECORD_START'), 'no event for a refused start');
    const vars = preBuffer ? `RECORD_STEREO=true;RECORD_PRE_BUFFER_FRAMES=${preBuffer}` : 'RECORD_STEREO=true';
    assert.equal(await esl.api(`uuid_setvar_multi ${ch.uuid} ${vars}`), '+OK\n');
    assert.equal(await esl.api(`uuid_record ${ch.uuid} start ${path}`), '+OK Success\n');
    const start = await ch.waitForEvent('RECORD_START', 2000);
    const names = ch.events.slice(ch.events.indexOf(start)).map((e) => e.name);
    assert.deepEqual(names.slice(0, 2), ['RECORD_START', 'MEDIA_BUG_START']);

    // The caller speaks and, at the same time, a file plays to them.
    const file = join(fs.tmpDir, 'agent.wav');
    await writeFile(file, encodeWav([tone(1000, 600, 8000)], 8000));
    await new Promise((r) => setTimeout(r, 700));
    const sayAt = performance.now();
    ch.say(tone(440, 600, 8000), 8000);
    await esl.sendmsg(ch.uuid, { 'call-command': 'execute', 'execute-app-name': 'playback', 'execute-app-arg': file });
    await ch.waitPlaybackIdle(5000);
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(await esl.api(`uuid_record ${ch.uuid} stop /no/such.wav`), '-ERR Cannot stop record session!\n');
    assert.equal(await esl.api(`uuid_record ${ch.uuid} stop ${path}`), '+OK Success\n');
    const stop = await ch.waitForEvent('RECORD_STOP', 2000);
    const header = (name: string) => stop.headers.find(([k]) => k === name)?.[1];
    assert.equal(header('Record-File-Path'), path);
    assert.equal(header('Record-Completion-Cause'), 'success-maxtime');
    assert.equal(ch.events[ch.events.indexOf(stop) + 1]?.name, 'MEDIA_BUG_STOP');

    const wav = await readFile(path);
    const { left, right, count } = channels(wav);
    assert.equal(count, 2);
    assert.equal(header('variable_record_samples'), String(left.length));
    const tolerance = 320; // two 20 ms frames at 8 kHz
    const lag = preBuffer ? 0 : 4000; // 25 frames of 160 samples
    const expectLeft = Math.round((sayAt - start.at) * 8);
    const expectRight = Math.round((ch.heard[0]!.startedAt - start.at) * 8) - lag;
    assert.ok(Math.abs(onset(left) - expectLeft) <= tolerance, `caller at ${onset(left)}, expected ~${expectLeft}`);
    assert.ok(Math.abs(onset(right) - expectRight) <= tolerance, `played at ${onset(right)}, expected ~${expectRight}`);
  });
}

test('no recording without a usable directory or disk space: no command, the record says why, a metric counts it', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'callbridge-rec-'));
  await writeFile(join(base, 'file'), '');
  const { logger, lines } = captureLogger();
  const metrics = new Metrics();
  const book = new CallBook(undefined, logger);
  const sent: string[] = [];
  const control = () => ({
    startRecording: async (path: string) => void sent.push(path),
    play: async () => {},
  });
  const settings = { enabled: false, freeswitchDir: '/fs', announcementFile: undefined };
  const unwritable = new CallRecorder({
    settings: { ...settings, dir: join(base, 'file', 'rec') },
    control,
    book,
    logger,
    metrics,
  });
  t.after(async () => {
    await unwritable.close();
    await rm(base, { recursive: true, force: true });
  });
  await unwritable.prepare();
  assert.ok(
    lines.some((l) => l.msg.startsWith('recording directory unusable')),
    'start-up says so, and goes on',
  );

  book.add({ ...record(ID, Date.now(), false), status: 'ringing' });
  unwritable.decide(ID, true);
  book.setStatus(ID, 'answered');
  await until(() => book.live(ID)?.recording?.status === 'failed', 2000, 'recording failed');
  assert.match(book.live(ID)!.recording!.reason!, /RECORDING_DIR .* is not writable/);

  const other = 'aaaaaaaa-0000-0000-0000-00000000000f';
  const fullRecorder = new CallRecorder({
    settings: { ...settings, dir: base },
    control,
    book,
    logger,
    metrics,
    freeBytes: async () => 1024,
  });
  t.after(() => fullRecorder.close());
  book.add({ ...record(other, Date.now(), false), status: 'answered' });
  fullRecorder.decide(other, undefined); // RECORDING off: nothing
  assert.equal(book.live(other)?.recording, undefined);
  fullRecorder.decide(other, true);
  await until(() => book.live(other)?.recording?.status === 'failed', 2000, 'recording failed');
  assert.match(book.live(other)!.recording!.reason!, /only 1024 bytes free/);

  assert.deepEqual(sent, [], 'no uuid_record was sent');
  const text = await metrics.text();
  assert.match(text, /^callbridge_recording_failures_total\{reason="unwritable"\} 1$/m);
  assert.match(text, /^callbridge_recording_failures_total\{reason="disk-full"\} 1$/m);
});

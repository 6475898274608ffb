import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { estimateFrequency, rms, tone } from '../bed/index.ts';
import type { EmulatedChannel } from '../bed/freeswitch/channel.ts';
import { startStack, until, type Stack } from '../support/stack.ts';

const TOKEN = 'recording-test-token-0123';
const auth = { authorization: `Bearer ${TOKEN}` };

interface Wav {
  channels: number;
  rate: number;
  bits: number;
  left: Int16Array;
  right: Int16Array;
}

/** A 44-byte-header PCM WAV (what FreeSWITCH and the emulator write), split into its two channels. */
function parseStereo(b: Buffer): Wav {
  assert.equal(b.toString('ascii', 0, 4), 'RIFF');
  assert.equal(b.toString('ascii', 8, 12), 'WAVE');
  assert.equal(b.toString('ascii', 36, 40), 'data');
  const channels = b.readUInt16LE(22);
  const frames = b.readUInt32LE(40) / (2 * channels);
  const left = new Int16Array(frames);
  const right = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    left[i] = b.readInt16LE(44 + i * 4);
    right[i] = b.readInt16LE(46 + i * 4);
  }
  return { channels, rate: b.readUInt32LE(24), bits: b.readUInt16LE(34), left, right };
}

const onset = (pcm: Int16Array) => pcm.findIndex((s) => Math.abs(s) > 2000);

async function api(stack: Stack, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${stack.bridge.http.port}${path}`, {
    ...init,
    headers: { ...auth, ...(init.headers as Record<string, string>) },
  });
}

const recordCommands = (stack: Stack, uuid: string) =>
  stack.fs.commands.map((c) => c.line).filter((l) => l.startsWith(`api uuid_record ${uuid} `));

test('a recorded call: stereo WAV with the caller left and the agent right at the right places, Range, DELETE', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-rec-'));
  const completed: Array<[string, string]> = [];
  const stack = await startStack({
    env: { RECORDING: 'true', RECORDING_DIR: dir, API_TOKEN: TOKEN },
    start: { onRecordingComplete: (id, path) => completed.push([id, path]) },
  });
  t.after(async () => {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const { fs, gemini } = stack;
  const call = fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU', answer: false });
  const session = await gemini.nextSession(5000);
  const recStart = await call.waitForEvent('RECORD_START', 5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');

  // Stereo and aligned, then the recording into the shared directory under the call's uuid only.
  const lines = fs.commands.map((c) => c.line);
  const vars = lines.indexOf(`api uuid_setvar_multi ${call.uuid} RECORD_STEREO=true;RECORD_PRE_BUFFER_FRAMES=0`);
  const start = lines.indexOf(`api uuid_record ${call.uuid} start ${dir}/${call.uuid}.wav`);
  assert.ok(vars >= 0 && start > vars, 'variables set before the recording starts');

  const sayAt = performance.now();
  call.say(tone(440, 600, 8000), 8000);
  await call.micIdle(5000);
  await session.sendAudio(tone(1000, 1000, 24000), { chunkMs: 40, paceMs: 5 });
  session.generationComplete();
  session.turnComplete();
  await until(() => call.heard.length > 0 && call.playbackIdle, 8000, 'reply played');

  // While recording: the record says so, and there is nothing to fetch yet.
  const live = (await (await api(stack, `/calls/${call.uuid}`)).json()) as { recording?: { status: string } };
  assert.equal(live.recording?.status, 'recording');
  assert.equal((await api(stack, `/calls/${call.uuid}/recording`)).status, 404);

  await call.hangup();
  await call.waitForEvent('RECORD_STOP', 5000);
  const record = await until(
    async () => {
      const r = (await (await api(stack, `/calls/${call.uuid}`)).json()) as {
        recording?: { status: string; bytes?: number; durationMs?: number; path?: string };
      };
      return r.recording?.status === 'complete' ? r.recording : undefined;
    },
    5000,
    'recording complete',
  );
  assert.equal(record.path, undefined, 'the path is not shown');
  assert.deepEqual(completed, [[call.uuid, join(dir, `${call.uuid}.wav`)]]);

  assert.equal((await fetch(`http://127.0.0.1:${stack.bridge.http.port}/calls/${call.uuid}/recording`)).status, 401);
  const res = await api(stack, `/calls/${call.uuid}/recording`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'audio/wav');
  assert.equal(res.headers.get('accept-ranges'), 'bytes');
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(Number(res.headers.get('content-length')), body.length);
  assert.equal(body.length, record.bytes);
  const wav = parseStereo(body);
  assert.deepEqual([wav.channels, wav.rate, wav.bits], [2, 8000, 16]);
  assert.equal(record.durationMs, Math.round((wav.left.length / 8000) * 1000));

  // Left: the caller's 440 Hz where it was said; right: the agent's 1 kHz where the caller heard it. Positions
  // compare file samples with the emulator's clock (RECORD_START = sample 0), within two 20 ms frames.
  const tolerance = 320;
  const leftAt = onset(wav.left);
  const expectLeft = Math.round((sayAt - recStart.at) * 8);
  assert.ok(Math.abs(leftAt - expectLeft) <= tolerance, `caller audio at sample ${leftAt}, expected ~${expectLeft}`);
  assert.ok(Math.abs(estimateFrequency(wav.left.subarray(leftAt + 400, leftAt + 4000), 8000) - 440) < 15);
  const rightAt = onset(wav.right);
  const expectRight = Math.round((call.heard[0]!.startedAt - recStart.at) * 8);
  assert.ok(Math.abs(rightAt - expectRight) <= tolerance, `agent audio at sample ${rightAt}, expected ~${expectRight}`);
  // The emulator slices what plays per media tick, so tick jitter may repeat or skip a few samples.
  const agentHz = estimateFrequency(wav.right.subarray(rightAt + 400, rightAt + 6000), 8000);
  assert.ok(Math.abs(agentHz - 1000) < 60, `agent audio at ${agentHz} Hz`);
  assert.ok(rms(wav.right.subarray(leftAt + 400, leftAt + 4000)) < 50, 'no caller audio on the agent channel');
  assert.ok(rms(wav.left.subarray(rightAt + 400, rightAt + 6000)) < 50, 'no agent audio on the caller channel');

  // Ranges, as an audio element asks for them.
  const size = body.length;
  const head = await api(stack, `/calls/${call.uuid}/recording`, { headers: { range: 'bytes=0-43' } });
  assert.equal(head.status, 206);
  assert.equal(head.headers.get('content-range'), `bytes 0-43/${size}`);
  assert.deepEqual(Buffer.from(await head.arrayBuffer()), body.subarray(0, 44));
  const tail = await api(stack, `/calls/${call.uuid}/recording`, { headers: { range: 'bytes=-100' } });
  assert.equal(tail.status, 206);
  assert.equal(tail.headers.get('content-range'), `bytes ${size - 100}-${size - 1}/${size}`);
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), body.subarray(size - 100));
  const open = await api(stack, `/calls/${call.uuid}/recording`, { headers: { range: 'bytes=1000-' } });
  assert.equal(open.status, 206);
  assert.equal(Number(open.headers.get('content-length')), size - 1000);
  await open.arrayBuffer();
  const beyond = await api(stack, `/calls/${call.uuid}/recording`, { headers: { range: `bytes=${size}-` } });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get('content-range'), `bytes */${size}`);

  // DELETE removes the file; the record remembers it did.
  assert.equal((await api(stack, `/calls/${call.uuid}/recording`, { method: 'DELETE' })).status, 204);
  assert.deepEqual(await readdir(dir), []);
  assert.equal((await api(stack, `/calls/${call.uuid}/recording`)).status, 404);
  assert.equal((await api(stack, `/calls/${call.uuid}/recording`, { method: 'DELETE' })).status, 404);
  const after = (await (await api(stack, `/calls/${call.uuid}`)).json()) as { recording?: { status: string } };
  assert.equal(after.recording?.status, 'deleted');
});

test('recording on or off by env default, profile and channel variable; POST /calls sets the variable', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-rec-'));
  const stack = await startStack({
    env: {
      AGENT_PIPELINE: 'echo',
      RECORDING: 'true',
      RECORDING_DIR: dir,
      API_TOKEN: TOKEN,
      DEFAULT_GATEWAY: 'gw1',
      AGENT_PROFILES: JSON.stringify({ quiet: { recording: false }, loud: { recording: true } }),
    },
  });
  t.after(async () => {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const place = async (variables: Record<string, string>): Promise<EmulatedChannel> => {
    const call = stack.fs.placeInboundCall({ variables: { callbridge: '1', ...variables }, answer: false });
    await until(() => call.stream?.connected, 5000, 'stream connected');
    return call;
  };
  const byDefault = await place({});
  const offByProfile = await place({ callbridge_profile: 'quiet' });
  const offByVariable = await place({ callbridge_profile: 'loud', callbridge_recording: 'false' });
  const onByVariable = await place({ callbridge_profile: 'quiet', callbridge_recording: 'true' });
  // Recording starts once a call's settings are decided, which can be just after its stream connected.
  await until(() => recordCommands(stack, byDefault.uuid).length === 1, 5000, 'RECORDING=true records');
  await until(() => recordCommands(stack, onByVariable.uuid).length === 1, 5000, 'the channel variable turns it on');
  assert.deepEqual(recordCommands(stack, offByProfile.uuid), [], 'the profile turns it off');
  assert.deepEqual(recordCommands(stack, offByVariable.uuid), [], 'the channel variable beats the profile');
  const records = stack.bridge.callBook;
  assert.equal((await records.get(offByProfile.uuid))?.recording, undefined);
  assert.equal((await records.get(byDefault.uuid))?.recording?.status, 'recording');

  const res = await api(stack, '/calls', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to: '+15551234567', recording: false }),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  const originate = stack.fs.commands.find((c) => c.line.includes(`origination_uuid=${id}`));
  assert.match(originate!.line, /callbridge_recording=false/);
});

test('FreeSWITCH cannot write the recording: the call goes on, the record says why, a metric counts it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-rec-'));
  await writeFile(join(dir, 'not-a-dir'), '');
  const stack = await startStack({
    env: {
      AGENT_PIPELINE: 'echo',
      RECORDING: 'true',
      RECORDING_DIR: dir,
      // As FreeSWITCH sees it: a directory that cannot be created (captured: `-ERR Cannot record session!`).
      RECORDING_DIR_FREESWITCH: `${dir}/not-a-dir/recordings`,
    },
  });
  t.after(async () => {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await until(() => call.stream?.connected, 5000, 'stream connected');
  const record = await until(
    async () => {
      const r = await stack.bridge.callBook.get(call.uuid);
      return r?.recording?.status === 'failed' ? r : undefined;
    },
    5000,
    'recording failed',
  );
  assert.match(record.recording!.reason!, /Cannot record session/);
  await until(() => stack.bridge.calls.active.get(call.uuid)?.state === 'active', 5000, 'the call goes on');
  assert.ok(!call.events.some((e) => e.name === 'RECORD_START'));
  const metrics = await (await fetch(`http://127.0.0.1:${stack.bridge.http.port}/metrics`)).text();
  assert.match(metrics, /^callbridge_recording_failures_total\{reason="unwritable"\} 1$/m);
  await call.hangup();
  await until(async () => (await stack.bridge.callBook.get(call.uuid))?.status === 'completed', 5000, 'call completed');
  assert.equal((await stack.bridge.callBook.get(call.uuid))?.recording?.status, 'failed');
});

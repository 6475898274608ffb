/**
 * `npm run try` as a user runs it: scripts/try.ts in its own process, no vendor keys (the echo agent answers),
 * two caller turns from generated WAV files. Checks the files it leaves, not its timings.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encodeWav, resample, rms } from '../bed/index.ts';

const TRY = new URL('../../scripts/try.ts', import.meta.url).pathname;
const RAW = readFileSync(new URL('../fixtures/speech-8k.raw', import.meta.url));
const SPEECH_8K = new Int16Array(RAW.buffer, RAW.byteOffset, RAW.length >> 1);

const dir = mkdtempSync(join(tmpdir(), 'callbridge-try-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs try.ts in `dir` (no .env there) with every vendor key removed; resolves with its exit code and output. */
function runTry(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !/KEY|TOKEN|SECRET|PASSWORD/.test(k)) env[k] = v;
  env.AGENT_PIPELINE = 'auto';
  const child = spawn(process.execPath, [TRY, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** Channel `ch` of a 16-bit PCM WAV this script wrote (plain 44-byte header). */
function wavChannel(wav: Buffer, ch: number): Int16Array {
  const channels = wav.readUInt16LE(22);
  const frames = (wav.length - 44) / (2 * channels);
  const out = new Int16Array(frames);
  for (let i = 0; i < frames; i++) out[i] = wav.readInt16LE(44 + (i * channels + ch) * 2);
  return out;
}

test('npm run try without keys: the echo agent answers two WAV turns; stereo WAV, transcript and timings are written', async () => {
  // Turn 1 at 16 kHz (the script resamples), turn 2 the first 1.4 s at 8 kHz.
  writeFileSync(join(dir, 'turn1.wav'), encodeWav([resample(SPEECH_8K, 8000, 16000)], 16000));
  writeFileSync(join(dir, 'turn2.wav'), encodeWav([SPEECH_8K.slice(0, 1400 * 8)], 8000));
  const run = await runTry(['--wav', 'turn1.wav', '--wav', 'turn2.wav', '--out', 'out', '--settle-ms', '800']);
  assert.equal(run.code, 0, `exit code; stderr: ${run.stderr}\nstdout: ${run.stdout}`);
  assert.match(run.stdout, /pipeline: echo/);
  const out = join(dir, 'out');

  const wav = readFileSync(join(out, 'conversation.wav'));
  assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
  assert.equal(wav.readUInt16LE(22), 2, 'stereo');
  const rate = wav.readUInt32LE(24);
  const caller = wavChannel(wav, 0);
  const agent = wavChannel(wav, 1);

  const timings = JSON.parse(readFileSync(join(out, 'timings.json'), 'utf8')) as {
    turns: Array<Record<string, number>>;
    pipelineTurns: unknown[];
  };
  assert.equal(timings.turns.length, 2);
  const at = (ms: number) => Math.round((ms * rate) / 1000);
  for (const t of timings.turns) {
    assert.equal(typeof t.replyStartMs, 'number', `turn ${t.turn} got a reply`);
    assert.ok(t.replyStartMs! >= t.callerEndMs!, 'the echo comes after the caller stopped');
    assert.ok(
      rms(agent.subarray(at(t.replyStartMs!), at(t.replyEndMs!))) > 500,
      `turn ${t.turn}: the agent channel carries the echo`,
    );
    assert.ok(
      rms(caller.subarray(at(t.callerStartMs!), at(t.callerEndMs!))) > 500,
      `turn ${t.turn}: the caller channel carries the turn`,
    );
    assert.ok(
      rms(caller.subarray(at(t.replyStartMs!), at(t.replyEndMs!))) < 50,
      `turn ${t.turn}: the caller is silent while the echo plays`,
    );
  }
  assert.ok(timings.pipelineTurns.length >= 2, 'per-reply timings from the calls API');

  const transcript = JSON.parse(readFileSync(join(out, 'transcript.json'), 'utf8')) as {
    pipeline: string;
    status: string;
    transcript: { speaker: string; text: string }[];
  };
  assert.equal(transcript.pipeline, 'echo');
  assert.equal(transcript.status, 'completed');
  assert.equal(transcript.transcript.filter((e) => e.speaker === 'agent' && /echo of/.test(e.text)).length, 2);
  assert.match(readFileSync(join(out, 'transcript.txt'), 'utf8'), /agent +\(echo of/);
  assert.ok(existsSync(join(out, 'callbridge.log')));
});

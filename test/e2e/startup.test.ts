import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../bed/index.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** callbridge as users start it (`node src/main.ts`) in `cwd`, with only the environment given. */
function run(cwd: string, env: Record<string, string>, opts: { uid?: number; gid?: number } = {}): Run {
  const child = spawn(process.execPath, [MAIN], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function stopChild(r: Run): Promise<void> {
  if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  await r.exited;
}

async function waitFor(check: () => boolean, what: string, r: Run, timeoutMs = 20000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (r.child.exitCode !== null)
      assert.fail(`callbridge exited (${r.child.exitCode}) before ${what}: ${r.stderr()}${r.stdout()}`);
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out waiting for ${what}: ${r.stderr()}${r.stdout()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const logLines = (r: Run) =>
  r
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; level: number; [k: string]: unknown });

test('a .env in the working directory is read outside compose; config errors in it never echo the secret', {
  timeout: 60000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-envfile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, '.env'), '# mine\nAPI_TOKEN=short-s3cret\nLOG_LEVEL=loud\n');
  const r = run(dir, {});
  t.after(() => stopChild(r));
  assert.equal(await r.exited, 78);
  assert.match(r.stderr(), /API_TOKEN: use at least 16 characters/);
  assert.match(r.stderr(), /LOG_LEVEL/);
  assert.doesNotMatch(r.stderr(), /short-s3cret/);
});

test('a busy HTTP port ends in one clear line on stderr and a non-zero exit code, not a stack trace', {
  timeout: 60000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-busy-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const blocker = net.createServer();
  await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', res));
  t.after(() => new Promise<void>((res) => blocker.close(() => res())));
  const port = (blocker.address() as net.AddressInfo).port;
  const r = run(dir, {
    HTTP_PORT: String(port),
    PLAYBACK_DIR: join(dir, 'pb'),
    FREESWITCH_ESL_PORT: String(await freePort()),
  });
  t.after(() => stopChild(r));
  const code = await r.exited;
  assert.notEqual(code, 0);
  assert.notEqual(code, null);
  const lines = r.stderr().trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr()}`);
  assert.match(lines[0]!, new RegExp(`HTTP_PORT.*${port}.*in use|${port}.*in use.*HTTP_PORT`));
  assert.doesNotMatch(r.stderr(), /^\s+at /m);
});

test('HTTP_PORT changed without CALLBRIDGE_WS_URL: the stream URL follows it; a URL on another port is warned about', {
  timeout: 60000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-port-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const common = {
    PLAYBACK_DIR: join(dir, 'pb'),
    CALL_HISTORY_PATH: join(dir, 'calls.db'),
    FREESWITCH_ESL_PORT: String(await freePort()),
  };
  const derived = run(dir, { ...common, HTTP_PORT: String(port) });
  t.after(() => stopChild(derived));
  await waitFor(() => logLines(derived).some((l) => l.msg === 'callbridge started'), 'start', derived);
  const started = logLines(derived).find((l) => l.msg === 'callbridge started')!;
  assert.equal(started.streamUrl, `ws://127.0.0.1:${port}`);
  assert.ok(!logLines(derived).some((l) => /CALLBRIDGE_WS_URL/.test(l.msg)), 'no warning when they agree');
  derived.child.kill('SIGTERM');
  assert.equal(await derived.exited, 0);

  const other = run(dir, { ...common, HTTP_PORT: String(port), CALLBRIDGE_WS_URL: 'ws://127.0.0.1:8080' });
  t.after(() => stopChild(other));
  await waitFor(() => logLines(other).some((l) => l.msg === 'callbridge started'), 'start', other);
  const warn = logLines(other).find((l) => /CALLBRIDGE_WS_URL/.test(l.msg));
  assert.ok(warn && warn.level === 40, `a warning names CALLBRIDGE_WS_URL: ${other.stdout()}`);
  assert.match(warn.msg, new RegExp(`${port}`));
  other.child.kill('SIGTERM');
  assert.equal(await other.exited, 0);
});

test('as a non-root user the default PLAYBACK_DIR falls back to a per-user directory in /dev/shm instead of crashing', {
  timeout: 60000,
  skip: process.getuid?.() !== 0 && 'needs root to start a child as another user',
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-nonroot-'));
  await chmod(dir, 0o777);
  const fallback = '/dev/shm/callbridge-65534';
  t.after(() => rm(dir, { recursive: true, force: true }));
  t.after(() => rm(fallback, { recursive: true, force: true }));
  const r = run(
    dir,
    { HTTP_PORT: String(await freePort()), FREESWITCH_ESL_PORT: String(await freePort()) },
    { uid: 65534, gid: 65534 },
  );
  t.after(() => stopChild(r));
  await waitFor(() => logLines(r).some((l) => l.msg === 'callbridge started'), 'start', r);
  const warn = logLines(r).find((l) => l.dir === fallback && /PLAYBACK_DIR/.test(l.msg));
  assert.ok(warn, `the fallback is logged: ${r.stdout()}`);
  assert.doesNotMatch(r.stderr(), /EACCES/);
  r.child.kill('SIGTERM');
  assert.equal(await r.exited, 0);

  // An explicitly chosen directory that cannot be used is one clear line, not a stack trace.
  const explicit = run(
    dir,
    { HTTP_PORT: String(await freePort()), PLAYBACK_DIR: '/root/nope/playback' },
    { uid: 65534, gid: 65534 },
  );
  t.after(() => stopChild(explicit));
  assert.notEqual(await explicit.exited, 0);
  assert.equal(explicit.stderr().trim().split('\n').length, 1, explicit.stderr());
  assert.match(explicit.stderr(), /PLAYBACK_DIR=\/root\/nope\/playback.*(EACCES|permission)/i);
});

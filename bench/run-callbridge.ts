/** The callbridge under test: the production build (dist/main.js) on a free port, pinned, its playback dir on tmpfs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { args, NODE, pin, ROOT } from './run-args.ts';

export interface RunningCallbridge {
  proc: ChildProcess;
  port: number;
  dir: string;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function startCallbridge(env: Record<string, string>): Promise<RunningCallbridge> {
  const port = await freePort();
  // The playback directory on tmpfs, as the compose file mounts it: on disk a file costs 0.4–1.3 ms of
  // CPU (open/write/close/unlink), on tmpfs ~55 µs.
  const dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'callbridge-bench-'));
  const extra = Object.fromEntries(
    (args.env as string[]).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const node = [NODE, ...(args['node-flag'] as string[]), join(ROOT, 'dist/main.js')];
  const [cmd, ...rest] = args['no-pin'] ? node : pin(String(args['callbridge-cpu']), node);
  const proc = spawn(cmd!, rest, {
    stdio: ['ignore', (args['node-flag'] as string[]).length ? 'inherit' : 'ignore', 'inherit'],
    cwd: join(ROOT, 'bench/results'),
    env: {
      ...process.env,
      ...(args['cpu-prof'] ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${join(ROOT, 'bench/results')}` } : {}),
      ...(args['heap-snapshot'] ? { NODE_OPTIONS: '--heapsnapshot-signal=SIGUSR2' } : {}),
      LOG_LEVEL: 'warn',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      CALLBRIDGE_WS_URL: `ws://127.0.0.1:${port}`,
      PLAYBACK_DIR: dir,
      GOOGLE_API_KEY: 'bench',
      ...env,
      ...extra,
    },
  });
  for (let i = 0; i < 100; i++) {
    const h = await fetch(`http://127.0.0.1:${port}/health`)
      .then((r) => r.json() as Promise<{ esl: string }>)
      .catch(() => undefined);
    if (h?.esl === 'connected') return { proc, port, dir };
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error('callbridge did not come up with ESL connected');
}

/** SIGTERM, wait for the exit, remove its playback directory. */
export async function stopCallbridge(cb: RunningCallbridge): Promise<void> {
  cb.proc.kill('SIGTERM');
  await new Promise((r) => (cb.proc.exitCode !== null ? r(null) : cb.proc.once('exit', r)));
  await rm(cb.dir, { recursive: true, force: true });
}

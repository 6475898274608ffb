/**
 * What callbridge adds to a webhook tool call's round trip, at several numbers of concurrent calls:
 *
 *   node bench/tool-roundtrip.ts --calls 1,20,50 --tools 20
 *
 * callbridge runs as its own process (`src/main.ts`, LOG_LEVEL=info to /dev/null, like production), so its CPU
 * can be read apart from the load side; the FreeSWITCH emulator, the Gemini Live fake and a local webhook server
 * that answers at once run in this process. Every call gets one webhook tool from TOOLS_FILE. For each step,
 * `N` inbound calls are placed and streamed (silence, real time); once every Gemini session is set up, each call's
 * fake model fires one first tool call (reported apart as "cold"), then `--tools` calls one after another with a
 * pause of `--gap-ms` (0.5–1.5×, random start) between them, all calls at once; `--gap-ms 0` fires them back to
 * back (callbridge saturates: a throughput test, latencies are then queueing). An unreported step of 10 calls × 10
 * tool calls warms callbridge's JIT first. Per tool call, on this process's clock:
 *
 *   toolCall sent by the fake → webhook request arrives → webhook answers → toolResponse received by the fake
 *
 * overhead = round trip − the webhook's own time (request arrival → answer sent): callbridge's share plus the
 * loopback hops and this process's own event loop (which carries the fake and the webhook server).
 * CPU per tool call: callbridge's CPU (/proc/<pid>/stat) during the measured tool phase, minus what the same
 * calls burn streaming silence (measured for `--baseline-ms` just before), divided by the tool calls.
 * `--cpu-prof DIR` writes callbridge's CPU profile there.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FreeSwitchEmulator, type FakeLiveSession, freePort, GeminiLiveFake } from '../test/bed/index.ts';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '1,20,50' },
    tools: { type: 'string', default: '20' },
    'gap-ms': { type: 'string', default: '250' },
    'baseline-ms': { type: 'string', default: '2000' },
    'cpu-prof': { type: 'string' },
  },
});
const STEPS = args.calls.split(',').map(Number);
const M = Number(args.tools);
const GAP_MS = Number(args['gap-ms']);
const BASELINE_MS = Number(args['baseline-ms']);
if (STEPS.some((n) => !(n > 0)) || !(M > 0)) throw new Error('--calls N[,N…] and --tools M must be positive');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A pause of about `GAP_MS` (0.5–1.5×), so calls do not fire in lockstep; 0 with `--gap-ms 0`. */
const gap = () => (GAP_MS > 0 ? sleep(GAP_MS * (0.5 + Math.random())) : undefined);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? Number.NaN;
const f = (ms: number) => ms.toFixed(2);
const summary = (xs: number[]) => `p50 ${f(pct(xs, 50))} / p99 ${f(pct(xs, 99))} / max ${f(Math.max(...xs))} ms`;

/** utime + stime of a process, in ms (Linux). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}
const selfCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// --- the webhook: answers at once, records arrival and answer times per request (keyed by the `ref` argument).
const hook = new Map<string, { arrived: number; answered: number }>();
const server = createServer((req: IncomingMessage, res) => {
  const arrived = performance.now();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { args?: { ref?: string } };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"shipped","eta_days":2}');
    hook.set(String(body.args?.ref), { arrived, answered: performance.now() });
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;

const gemini = await GeminiLiveFake.start({ apiKey: 'bench-key' });
const fs = await FreeSwitchEmulator.start({ keepEventLog: false, recordHeardAudio: false });
const dir = await mkdtemp(join(tmpdir(), 'callbridge-tools-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const toolsFile = join(dir, 'tools.json');
await writeFile(
  toolsFile,
  JSON.stringify({
    tools: [
      {
        name: 'check_order',
        description: 'Where an order is',
        parameters: { type: 'object', properties: { ref: { type: 'string' } }, required: ['ref'] },
        url: hookUrl,
        timeout_ms: 5000,
      },
    ],
  }),
);
const profFlags = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`] : [];
const child = spawn(process.execPath, [...profFlags, new URL('../src/main.ts', import.meta.url).pathname], {
  env: {
    PATH: process.env.PATH ?? '',
    GOOGLE_API_KEY: 'bench-key',
    GEMINI_BASE_URL: gemini.baseUrl,
    FREESWITCH_ESL_PORT: String(fs.eslPort),
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(port),
    PLAYBACK_DIR: join(dir, 'pb'),
    CALL_HISTORY_PATH: join(dir, 'calls.db'),
    TOOLS_FILE: toolsFile,
    CALLBACK_SECRET: 'bench-tools-secret-0123456789',
    LOG_LEVEL: 'info',
  },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const health = () =>
  fetch(`${base}/health`).then(
    (r) => r.json() as Promise<{ esl: string; activeCalls: number }>,
    () => undefined,
  );
async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** One tool call from `session`'s fake model; resolves with its timings (this process's clock). */
function toolCall(session: FakeLiveSession, ref: string) {
  return new Promise<{ total: number; toHook: number; hookOwn: number; back: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      session.off('clientMessage', on);
      reject(new Error(`no toolResponse for ${ref} within 10 s`));
    }, 10_000);
    let id = '';
    const on = (msg: Record<string, any>) => {
      if (!msg.toolResponse?.functionResponses?.some((r: { id?: string }) => r.id === id)) return;
      const got = performance.now();
      clearTimeout(timer);
      session.off('clientMessage', on);
      const h = hook.get(ref);
      if (!h) return reject(new Error(`toolResponse for ${ref} without a webhook request`));
      resolve({ total: got - sent, toHook: h.arrived - sent, hookOwn: h.answered - h.arrived, back: got - h.answered });
    };
    session.on('clientMessage', on);
    const sent = performance.now();
    id = session.callTool('check_order', { ref });
  });
}

async function step(N: number, tools: number, report: boolean): Promise<void> {
  const sessionsBefore = gemini.sessions.length;
  const calls = Array.from({ length: N }, () => fs.placeInboundCall({ variables: { callbridge: '1' } }));
  await until(
    () =>
      calls.every((c) => c.stream?.connected) &&
      gemini.sessions.slice(sessionsBefore).filter((s) => s.setupCompletedAt > 0).length >= N,
    20_000,
    `${N} calls streaming with their Gemini sessions set up`,
  );
  const sessions = gemini.sessions.slice(sessionsBefore).filter((s) => s.setupCompletedAt > 0);
  // Cold: the first tool call of each call.
  const cold = await Promise.all(sessions.map((s, i) => toolCall(s, `${N}-${i}-cold`)));
  await sleep(200);
  // Baseline: the same calls, streaming silence, no tool calls.
  let c0 = cpuMsOf(child.pid!);
  let s0 = selfCpuMs();
  let t0 = performance.now();
  if (report) await sleep(BASELINE_MS);
  const baseWall = performance.now() - t0;
  const baseRate = (cpuMsOf(child.pid!) - c0) / baseWall;
  const selfBaseRate = (selfCpuMs() - s0) / baseWall;
  // Measured: `tools` tool calls per call, one after another, every call at once.
  c0 = cpuMsOf(child.pid!);
  s0 = selfCpuMs();
  t0 = performance.now();
  const per = await Promise.all(
    sessions.map(async (s, i) => {
      const out = [];
      if (GAP_MS > 0) await sleep(Math.random() * GAP_MS);
      for (let k = 0; k < tools; k++) {
        out.push(await toolCall(s, `${N}-${i}-${k}`));
        if (k < tools - 1) await gap();
      }
      return out;
    }),
  );
  const wall = performance.now() - t0;
  const toolCpu = cpuMsOf(child.pid!) - c0 - baseRate * wall;
  const selfToolCpu = selfCpuMs() - s0 - selfBaseRate * wall;
  await Promise.all(calls.map((c) => c.hangup()));
  await until(async () => (await health())?.activeCalls === 0, 10_000, 'calls to end');
  hook.clear();
  if (!report) return;
  const all = per.flat();
  const n = all.length;
  console.log(
    `\n${N} concurrent calls, ${n} tool calls in ${(wall / 1000).toFixed(2)} s (${Math.round(n / (wall / 1000))}/s):`,
  );
  console.log(`  overhead (round trip − webhook):  ${summary(all.map((r) => r.total - r.hookOwn))}`);
  console.log(`    toolCall → webhook request:     ${summary(all.map((r) => r.toHook))}`);
  console.log(`    webhook answer → toolResponse:  ${summary(all.map((r) => r.back))}`);
  console.log(`    webhook's own time:             ${summary(all.map((r) => r.hookOwn))}`);
  console.log(`  cold (first per call) overhead:   ${summary(cold.map((r) => r.total - r.hookOwn))}`);
  console.log(
    `  callbridge CPU per tool call: ${((toolCpu / n) * 1000).toFixed(0)} µs (tool phase ${toolCpu.toFixed(0)} ms over a streaming baseline of ${(baseRate * 100).toFixed(1)}% of a core; /proc resolution 10 ms)`,
  );
  console.log(`  load side (emulator, fake, webhook) CPU per tool call: ${((selfToolCpu / n) * 1000).toFixed(0)} µs`);
}

try {
  await until(async () => (await health())?.esl === 'connected', 15_000, 'callbridge to start');
  console.log(
    `tool round trip: ${M} tool calls per call (+1 cold), ${GAP_MS} ms apart (0.5–1.5×), Node ${process.version}`,
  );
  await step(10, 10, false);
  for (const N of STEPS) await step(N, M, true);
} finally {
  // SIGTERM (a clean exit writes the --cpu-prof profile), SIGKILL if it lingers.
  const exited = new Promise((r) => child.once('exit', r));
  if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await fs.stop();
  await gemini.stop();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
}

/**
 * `npm run bench`: how many calls one callbridge process carries, at what latency and memory.
 *
 * For each step (number of concurrent calls) a fresh callbridge (the production build, dist/main.js) runs
 * pinned to CPU 0 while the load generator (bench/loadgen.ts: FreeSWITCH emulator + Gemini Live fake) runs
 * pinned to CPU 1. Calls are placed, warmed up, then measured over a hold window from callbridge's own
 * /metrics (CPU, RSS, event-loop delay, frame ingest, model audio → playback command, barge-in) and from the
 * emulator (silence inserted into each reply, late frames). Prints a table, writes JSON to bench/results/.
 *
 *   npm run bench -- --steps 50,100,200,400 --hold 20 --repeats 3
 *   npm run bench -- --churn 10000            # memory after 10,000 short calls (leak check)
 *   npm run bench -- --steps 50 --reconnect-every 10   # Gemini Live: every connection retired after 10 s
 *
 * --reconnect-every N: each step runs twice, without and with the fake retiring every connection N s after
 * its setup (goAway, 1011 after 5 s); prints per reconnect the switch time, the caller-audio gap the fake saw,
 * the reply-audio gap the caller heard, lost/repeated caller frames, and CPU per reconnect (the difference).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { blameLate, type LagSpread } from './callers.ts';
import type { LoadgenRequest, LoadgenStats, ReconnectStats } from './loadgen.ts';
import { loadConfig } from '../src/config.ts';

type LoadgenRole = 'all' | 'emulator' | 'vendors';

// --whole-stack hands the command line to bench/whole-stack.ts, which has options of its own
const WHOLE_STACK = process.argv.includes('--whole-stack');
const { values: args } = parseArgs({
  args: WHOLE_STACK ? [] : process.argv.slice(2),
  options: {
    steps: { type: 'string', default: '50,100,200,400,600,800' },
    hold: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    repeats: { type: 'string', default: '1' },
    'reply-ms': { type: 'string', default: '2000' },
    // how the Gemini fake streams each reply: burst (4× real time) or realtime (as a model streams a long answer)
    'reply-pace': { type: 'string', default: 'burst' },
    'barge-in': { type: 'string', default: '0.2' },
    churn: { type: 'string' },
    'keep-going': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    'heap-snapshot': { type: 'boolean', default: false },
    idle: { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
    // flags for callbridge's node, e.g. --node-flag=--trace-gc (NODE_OPTIONS refuses some); its stdout is shown then
    'node-flag': { type: 'string', multiple: true, default: [] },
    cascade: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '50' },
    'reconnect-every': { type: 'string', default: '0' },
    // load generator processes: 1 (emulator and vendor fakes together) or 2 (the emulator apart from the fakes)
    'loadgen-procs': { type: 'string', default: '1' },
    'callbridge-cpu': { type: 'string', default: '0' },
    'loadgen-cpu': { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const HELP = `node bench/run.ts [options]   (npm run build first: the bench runs dist/main.js)
  --steps 50,100,200       concurrent calls per step (stops at the first failing step unless --keep-going)
  --hold 20 --warmup 5     seconds measured per step, after a warm-up
  --repeats 1              runs per step (the median by CPU stands for it)
  --reply-ms 2000          length of each Gemini Live reply
  --reply-pace burst       burst (4× real time) or realtime (as a model streams a long answer)
  --barge-in 0.2           share of turns the caller talks over
  --idle                   callers stream but never speak
  --cascade                Deepgram → Gemini → Cartesia instead of Gemini Live
  --env K=V                extra environment for callbridge (repeatable), e.g. --env STREAM_FRAME_MS=20
  --node-flag F            a flag for callbridge's node (repeatable)
  --cpu-prof               profile callbridge (bench/results/); LOADGEN_PROF=1 profiles the load generator
  --heap-snapshot          heap snapshot half-way through the hold (SIGUSR2)
  --loadgen-procs 1|2      2: the FreeSWITCH emulator and the vendor fakes in separate processes
  --callbridge-cpu 0 --loadgen-cpu 1   taskset pinning (a CPU or a list); --no-pin leaves callbridge unpinned;
                           --loadgen-cpu 0,1 lets the load generator use what callbridge leaves of its CPU
  --churn N [--concurrency 50]         memory after N short calls (leak check)
  --reconnect-every N      Gemini Live connections retired every N s (reconnect bench)
  --whole-stack ...        a real FreeSWITCH with SIPp callers: node bench/run.ts --whole-stack --help
Late caller frames are split "cb/lg": callbridge's, and the load generator's (seen while one of its processes
had stalled > 10 ms); lgLag is the load generator's own event-loop p99 (ms), load the 1-minute load average.`;

const TARGETS = {
  eventLoopP99Ms: 10,
  ingestP99Ms: 5,
  firstCommandP99Ms: 5,
  bargeInP99Ms: 5,
  rssPerCallMb: 1,
  silenceShareP99: 0.01,
};
const ROOT = new URL('..', import.meta.url).pathname;
const NODE = process.execPath;
/** callbridge's own STREAM_FRAME_MS default (late-frame threshold when the run does not set one). */
const DEFAULT_FRAME_MS = loadConfig({ GOOGLE_API_KEY: 'bench' }).STREAM_FRAME_MS;
/** `taskset -c <cpus>`: one CPU ("1") or a list ("0,1"); checked so a typo fails here, not as a bench of nothing. */
const pin = (cpus: string, cmd: string[]) => {
  if (!/^\d+(,\d+)*$/.test(cpus)) throw new Error(`not a CPU list: ${cpus}`);
  return os.cpus().length > 1 ? ['taskset', '-c', cpus, ...cmd] : cmd;
};

// ---------------------------------------------------------------- processes
class Loadgen {
  readonly role: LoadgenRole;
  #proc: ChildProcess;
  #next = 1;
  #pending = new Map<number, (v: { result?: unknown; error?: string }) => void>();
  ready: Promise<void>;
  constructor(role: LoadgenRole = 'all') {
    this.role = role;
    const [cmd, ...rest] = pin(String(args['loadgen-cpu']), [
      NODE,
      ...(process.env.LOADGEN_PROF
        ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, `bench/results/loadgen-${role}`)}`]
        : []),
      join(ROOT, 'bench/loadgen.ts'),
    ]);
    this.#proc = spawn(cmd!, rest, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((r) => this.#proc.once('message', () => r()));
    this.#proc.on('message', (m: { id?: number; result?: unknown; error?: string }) => {
      if (m.id) {
        this.#pending.get(m.id)?.(m);
        this.#pending.delete(m.id);
      }
    });
  }
  call<T>(req: LoadgenRequest): Promise<T> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (m) => (m.error ? reject(new Error(m.error)) : resolve(m.result as T)));
      this.#proc.send({ ...req, id });
    });
  }
  async stop(): Promise<void> {
    await this.call({ cmd: 'stop' }).catch(() => {});
    await new Promise((r) => (this.#proc.exitCode !== null ? r(null) : this.#proc.once('exit', r)));
  }
}

/** One load generator process, or two (`--loadgen-procs 2`: the emulator apart from the vendor fakes). */
class Loadgens {
  readonly all: Loadgen[];
  /** Places calls, hangs up: the process that runs the FreeSWITCH emulator. */
  readonly emulator: Loadgen;
  constructor(procs: number) {
    this.all = procs > 1 ? [new Loadgen('emulator'), new Loadgen('vendors')] : [new Loadgen('all')];
    this.emulator = this.all[0]!;
  }
  get ready(): Promise<void> {
    return Promise.all(this.all.map((l) => l.ready)).then(() => {});
  }
  call<T>(req: LoadgenRequest): Promise<T> {
    return this.emulator.call<T>(req);
  }
  /** The same request to every process. */
  each<T>(req: LoadgenRequest): Promise<T[]> {
    return Promise.all(this.all.map((l) => l.call<T>(req)));
  }
  /** Init with each process's role; the merged addresses. */
  async init(req: Extract<LoadgenRequest, { cmd: 'init' }>): Promise<Record<string, string | number>> {
    const parts = await Promise.all(
      this.all.map((l) => l.call<Record<string, string | number>>({ ...req, role: l.role })),
    );
    return Object.assign({}, ...parts);
  }
  /** Stats of the emulator's side (what the caller heard) and the fakes' side (late caller audio), merged. */
  async stats(): Promise<LoadgenRun> {
    const parts = await this.each<LoadgenStats>({ cmd: 'stats' });
    const byRole = (r: LoadgenRole) => parts[this.all.findIndex((l) => l.role === r || l.role === 'all')]!;
    const em = byRole('emulator');
    const ve = byRole('vendors');
    const stalls = parts.flatMap((p) => p.stalls);
    const blame = blameLate(ve.lateGaps, stalls);
    const cpuMs = parts.reduce((a, p) => a + p.cpuMs, 0);
    const wallMs = Math.max(...parts.map((p) => p.wallMs));
    return {
      ...em,
      lateAudioFrames: ve.lateAudioFrames,
      maxAudioGapMs: ve.maxAudioGapMs,
      cpuMs,
      wallMs,
      cpuPct: (cpuMs / wallMs) * 100,
      loopLag: worst(parts.map((p) => p.loopLag)),
      stalls: [],
      lateGaps: [],
      // gaps the fake recorded but did not log (a connection opened after the window started) count as callbridge's
      lateBlame: { loadgen: blame.loadgen, callbridge: ve.lateAudioFrames - blame.loadgen },
      processes: parts.map((p, i) => ({
        role: this.all[i]!.role,
        cpuPct: (p.cpuMs / p.wallMs) * 100,
        loopLag: p.loopLag,
        stalls: p.stalls.length,
      })),
    };
  }
  async stop(): Promise<void> {
    await Promise.all(this.all.map((l) => l.stop()));
  }
}

/** The load generator over the window: its processes together, and whose fault each late caller frame was. */
type LoadgenRun = LoadgenStats & {
  cpuPct: number;
  lateBlame: { loadgen: number; callbridge: number };
  processes: { role: LoadgenRole; cpuPct: number; loopLag: LagSpread; stalls: number }[];
};

function worst(spreads: LagSpread[]): LagSpread {
  const max = (k: keyof LagSpread) => Math.max(...spreads.map((s) => (Number.isFinite(s[k]) ? s[k] : 0)));
  return { p50: max('p50'), p99: max('p99'), max: max('max') };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function startCallbridge(
  env: Record<string, string>,
): Promise<{ proc: ChildProcess; port: number; dir: string }> {
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- metrics
type Scrape = Map<string, number>;
async function scrape(port: number): Promise<Scrape> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}
const ms = (s: Scrape, name: string, q: string) => (s.get(`${name}{quantile="${q}"}`) ?? NaN) * 1000;

interface StepResult {
  calls: number;
  cpuPct: number;
  rssMb: number;
  idleRssMb: number;
  rssPerCallMb: number;
  eventLoop: { p50: number; p99: number; max: number };
  ingest: { p50: number; p99: number; max: number };
  firstCommand: { p50: number; p99: number; max: number };
  bargeIn: { p50: number; p99: number; max: number };
  loadgen: LoadgenRun;
  /** 1-minute load average of the machine when the step ended (other work on it skews every figure). */
  loadAverage: number;
  /** callbridge CPU seconds over the hold window. */
  cpuSeconds: number;
  reconnect?: ReconnectStats;
  filesLeft: number;
  pass: boolean;
  failures: string[];
}

/** Start the fakes; the environment that points callbridge at them. */
async function initLoadgen(lg: Loadgens, reconnectEveryS = 0): Promise<Record<string, string>> {
  const r = (await lg.init({
    cmd: 'init',
    replyMs: Number(args['reply-ms']),
    bargeInShare: Number(args['barge-in']),
    cascade: Boolean(args.cascade),
    replyPace: args['reply-pace'] === 'realtime' ? 'realtime' : 'burst',
    reconnectEveryMs: reconnectEveryS * 1000,
  })) as { eslPort: number; geminiUrl: string; deepgramUrl?: string; cartesiaUrl?: string };
  const env: Record<string, string> = { FREESWITCH_ESL_PORT: String(r.eslPort), GEMINI_BASE_URL: r.geminiUrl };
  if (args.cascade)
    Object.assign(env, {
      AGENT_PIPELINE: 'cascade',
      DEEPGRAM_API_KEY: 'bench',
      DEEPGRAM_BASE_URL: r.deepgramUrl!,
      CARTESIA_API_KEY: 'bench',
      CARTESIA_BASE_URL: r.cartesiaUrl!,
    });
  return env;
}

async function runStep(calls: number, reconnectEveryS = 0): Promise<StepResult> {
  // the reconnect bench pairs each call with its Gemini session: one process
  const lg = new Loadgens(reconnectEveryS > 0 ? 1 : Number(args['loadgen-procs']));
  await lg.ready;
  const cb = await startCallbridge(await initLoadgen(lg, reconnectEveryS));
  try {
    await sleep(1000);
    const idle = await scrape(cb.port);
    const placed = await lg.call<{ streaming: number }>({
      cmd: 'place',
      calls,
      staggerMs: 10,
      idle: Boolean(args.idle),
    });
    if (placed.streaming < calls) console.warn(`  only ${placed.streaming}/${calls} calls streaming`);
    await sleep(Number(args.warmup) * 1000);
    // The frame size callbridge streams with: --env, else the environment, else its own default.
    const frameMs = Number(
      (args.env as string[]).find((e) => e.startsWith('STREAM_FRAME_MS='))?.split('=')[1] ??
        process.env.STREAM_FRAME_MS ??
        DEFAULT_FRAME_MS,
    );
    await lg.each({ cmd: 'window', frameMs });
    const a = await scrape(cb.port);
    const t0 = performance.now();
    if (args['heap-snapshot']) {
      await sleep((Number(args.hold) * 1000) / 2);
      cb.proc.kill('SIGUSR2'); // written into bench/results/ (takes a few seconds, the process pauses)
      await sleep(Number(args.hold) * 500 + 15000);
    } else await sleep(Number(args.hold) * 1000);
    const b = await scrape(cb.port);
    const wall = (performance.now() - t0) / 1000;
    const lgs = await lg.stats();
    const reconnect = reconnectEveryS > 0 ? await lg.call<ReconnectStats>({ cmd: 'reconnects' }) : undefined;
    await lg.call({ cmd: 'hangupAll' });
    for (let i = 0; i < 50 && (await scrape(cb.port)).get('callbridge_calls_active') !== 0; i++) await sleep(100);
    const filesLeft = (await readdir(cb.dir)).length;
    const gcOver10 = ['major', 'minor', 'incremental', 'weakcb'].map(
      (k) =>
        `${k} ${(b.get(`nodejs_gc_duration_seconds_count{kind="${k}"}`) ?? 0) - (a.get(`nodejs_gc_duration_seconds_count{kind="${k}"}`) ?? 0)}/${(b.get(`nodejs_gc_duration_seconds_count{kind="${k}"}`) ?? 0) - (b.get(`nodejs_gc_duration_seconds_bucket{le="0.01",kind="${k}"}`) ?? 0) - ((a.get(`nodejs_gc_duration_seconds_count{kind="${k}"}`) ?? 0) - (a.get(`nodejs_gc_duration_seconds_bucket{le="0.01",kind="${k}"}`) ?? 0))}`,
    );
    console.log(
      `  gc count/over 10 ms: ${gcOver10.join(', ')}; heap used ${((b.get('nodejs_heap_size_used_bytes') ?? 0) / 1e6).toFixed(0)} MB`,
    );
    console.log(
      `  chunk write ms p50/p99/max ${['0.5', '0.99', '1'].map((q) => ms(b, 'callbridge_chunk_write_seconds', q).toFixed(2)).join('/')}; first PLAYBACK_START ms ${['0.5', '0.99'].map((q) => ms(b, 'callbridge_first_playback_start_seconds', q).toFixed(1)).join('/')}`,
    );
    console.log(
      `  converters leased/free ${b.get('callbridge_resamplers{state="leased"}')}/${b.get('callbridge_resamplers{state="free"}')}; external MB ${((b.get('nodejs_external_memory_bytes') ?? 0) / 1e6).toFixed(0)}`,
    );
    console.log(
      `  chunks/s ${((b.get('callbridge_playback_chunks_total')! - a.get('callbridge_playback_chunks_total')!) / wall).toFixed(0)}, replies in window ${lgs.replies}, files per reply p50/p99/max ${lgs.filesPerReply.p50}/${lgs.filesPerReply.p99}/${lgs.filesPerReply.max}, inserted silence mean ${(lgs.silenceShare.total * 100).toFixed(2)}%`,
    );
    const cpu = ((b.get('process_cpu_seconds_total')! - a.get('process_cpu_seconds_total')!) / wall) * 100;
    const rssMb = b.get('process_resident_memory_bytes')! / 1e6;
    const idleRssMb = idle.get('process_resident_memory_bytes')! / 1e6;
    const q = (name: string) => ({ p50: ms(b, name, '0.5'), p99: ms(b, name, '0.99'), max: ms(b, name, '1') });
    const r: StepResult = {
      calls,
      cpuPct: cpu,
      rssMb,
      idleRssMb,
      rssPerCallMb: (rssMb - idleRssMb) / calls,
      eventLoop: q('callbridge_event_loop_delay_seconds'),
      ingest: q('callbridge_frame_ingest_seconds'),
      firstCommand: q('callbridge_first_playback_command_seconds'),
      bargeIn: q('callbridge_barge_in_seconds'),
      loadgen: lgs,
      loadAverage: os.loadavg()[0]!,
      cpuSeconds: b.get('process_cpu_seconds_total')! - a.get('process_cpu_seconds_total')!,
      reconnect,
      filesLeft,
      pass: true,
      failures: [],
    };
    const f = r.failures;
    if (!(r.eventLoop.p99 < TARGETS.eventLoopP99Ms)) f.push(`event-loop p99 ${r.eventLoop.p99.toFixed(1)} ms`);
    if (!(r.ingest.p99 <= TARGETS.ingestP99Ms)) f.push(`ingest p99 ${r.ingest.p99.toFixed(2)} ms`);
    // --idle: nobody speaks, so there is no reply to time
    if (!args.idle && !(r.firstCommand.p99 <= TARGETS.firstCommandP99Ms))
      f.push(`first command p99 ${r.firstCommand.p99.toFixed(1)} ms`);
    if (r.bargeIn.p99 > TARGETS.bargeInP99Ms) f.push(`barge-in p99 ${r.bargeIn.p99.toFixed(1)} ms`);
    if (r.rssPerCallMb > TARGETS.rssPerCallMb) f.push(`RSS ${r.rssPerCallMb.toFixed(2)} MB/call`);
    if (lgs.lateBlame.callbridge > 0)
      f.push(`${lgs.lateBlame.callbridge} late frames (max gap ${lgs.maxAudioGapMs.toFixed(0)} ms)`);
    if (lgs.silenceShare.p99 > TARGETS.silenceShareP99)
      f.push(`inserted silence p99 ${(lgs.silenceShare.p99 * 100).toFixed(2)}%`);
    if (lgs.streaming < calls) f.push(`${calls - lgs.streaming} calls not streaming`);
    if (filesLeft > 0) f.push(`${filesLeft} playback files left`);
    // The load generator's own lag: its late frames are not callbridge's, but the step proves nothing either.
    if (lgs.clock.over10ms > lgs.clock.ticks * 0.01 || !(lgs.loopLag.p99 < TARGETS.eventLoopP99Ms))
      f.push(
        `load generator fell behind (loop p99 ${lgs.loopLag.p99.toFixed(1)} ms, ${lgs.clock.over10ms} late ticks, ${lgs.lateBlame.loadgen} late frames during its stalls)`,
      );
    r.pass = f.length === 0;
    return r;
  } finally {
    cb.proc.kill('SIGTERM');
    await new Promise((r) => (cb.proc.exitCode !== null ? r(null) : cb.proc.once('exit', r)));
    await rm(cb.dir, { recursive: true, force: true });
    await lg.stop();
  }
}

function median<T>(runs: T[], pick: (r: T) => number): number {
  const v = runs.map(pick).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
}

function row(r: StepResult): string {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
  return [
    String(r.calls).padStart(5),
    f(r.cpuPct).padStart(6),
    f(r.cpuPct / r.calls, 3).padStart(7),
    f(r.rssMb, 0).padStart(6),
    f(r.rssPerCallMb, 2).padStart(6),
    `${f(r.eventLoop.p50)}/${f(r.eventLoop.p99)}/${f(r.eventLoop.max)}`.padStart(15),
    `${f(r.ingest.p50, 3)}/${f(r.ingest.p99, 3)}`.padStart(13),
    `${f(r.firstCommand.p50, 2)}/${f(r.firstCommand.p99, 2)}`.padStart(12),
    `${f(r.bargeIn.p50, 2)}/${f(r.bargeIn.p99, 2)}`.padStart(12),
    `${f(r.loadgen.silenceShare.p50 * 100, 2)}/${f(r.loadgen.silenceShare.p99 * 100, 2)}`.padStart(11),
    `${r.loadgen.lateBlame.callbridge}/${r.loadgen.lateBlame.loadgen}`.padStart(9),
    String(r.loadgen.replies).padStart(7),
    f(r.loadgen.cpuPct, 0).padStart(5),
    f(r.loadgen.loopLag.p99).padStart(6),
    f(r.loadAverage, 2).padStart(5),
    r.pass ? 'ok' : `FAIL: ${r.failures.join('; ')}`,
  ].join(' ');
}

/** --churn N: memory after N short calls must come back to the idle figure; no file may be left. */
async function churn(total: number): Promise<void> {
  const lg = new Loadgens(1);
  await lg.ready;
  const cb = await startCallbridge(await initLoadgen(lg));
  try {
    await sleep(2000);
    const idle = await scrape(cb.port);
    const t0 = performance.now();
    // Two halves: memory that keeps growing from the first half to the second is a leak; a pool that grew
    // once (converters, buffers) is not.
    const half = Math.floor(total / 2);
    const r1 = await lg.call<{ done: number; left: number }>({
      cmd: 'churn',
      calls: half,
      concurrency: Number(args.concurrency),
    });
    await sleep(5000);
    const mid = await scrape(cb.port);
    // A heap snapshot runs a full GC first: comparing the two halves' snapshots tells garbage from a leak.
    if (args['heap-snapshot']) {
      cb.proc.kill('SIGUSR2');
      await sleep(15000);
    }
    const r2 = await lg.call<{ done: number; left: number }>({
      cmd: 'churn',
      calls: total - half,
      concurrency: Number(args.concurrency),
    });
    const r = { done: r1.done + r2.done };
    const secs = (performance.now() - t0) / 1000;
    const busy = await scrape(cb.port);
    await sleep(10000); // let timers run out and the GC catch up
    const after = await scrape(cb.port);
    if (args['heap-snapshot']) {
      cb.proc.kill('SIGUSR2');
      await sleep(15000);
    }
    console.log(
      `after the first ${half} calls: RSS ${((mid.get('process_resident_memory_bytes') ?? 0) / 1e6).toFixed(1)} MB, JS heap ${((mid.get('nodejs_heap_size_used_bytes') ?? 0) / 1e6).toFixed(1)} MB`,
    );
    const mb = (s: Scrape, k: string) => ((s.get(k) ?? 0) / 1e6).toFixed(1);
    const files = (await readdir(cb.dir)).filter((f) => f !== 'data').length;
    console.log(
      `${r.done} calls in ${secs.toFixed(0)} s (${args.concurrency} at a time), ${after.get('callbridge_calls_active')} still active, ${files} playback files left`,
    );
    console.log(
      `RSS MB: idle ${mb(idle, 'process_resident_memory_bytes')}, right after ${mb(busy, 'process_resident_memory_bytes')}, 10 s later ${mb(after, 'process_resident_memory_bytes')}`,
    );
    console.log(
      `JS heap used MB: idle ${mb(idle, 'nodejs_heap_size_used_bytes')}, right after ${mb(busy, 'nodejs_heap_size_used_bytes')}, 10 s later ${mb(after, 'nodejs_heap_size_used_bytes')}`,
    );
    console.log(
      `handles: idle ${idle.get('nodejs_active_handles_total')}, 10 s later ${after.get('nodejs_active_handles_total')}`,
    );
    await writeFile(
      join(ROOT, `bench/results/churn-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
      JSON.stringify({ total, secs, files, idle: Object.fromEntries(idle), after: Object.fromEntries(after) }, null, 2),
    );
  } finally {
    cb.proc.kill('SIGTERM');
    await new Promise((r) => (cb.proc.exitCode !== null ? r(null) : cb.proc.once('exit', r)));
    await rm(cb.dir, { recursive: true, force: true });
    await lg.stop();
  }
}

/** Targets of the reconnect mode: no caller frame lost, no audible gap in queued audio, switched within 1 s. */
const RECONNECT_TARGETS = { replyGapMs: 40, resumeP99Ms: 1000 };

/** --reconnect-every N: each step without reconnects, then with; the CPU difference is the reconnects' cost. */
async function reconnectBench(everyS: number): Promise<void> {
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');
  const sp = (s: { p50: number; p99: number; max: number }) => `${f(s.p50)}/${f(s.p99)}/${f(s.max)}`;
  const out: unknown[] = [];
  console.log(`Gemini Live reconnect bench: every connection retired ${everyS} s after setup (goAway, 1011 5 s later)`);
  for (const calls of String(args.steps).split(',').map(Number)) {
    const base = await runStep(calls);
    const r = await runStep(calls, everyS);
    const rc = r.reconnect!;
    const cpuPerReconnectMs = rc.reconnects > 0 ? ((r.cpuSeconds - base.cpuSeconds) * 1000) / rc.reconnects : NaN;
    const fails: string[] = [];
    if (rc.lostFrames > 0) fails.push(`${rc.lostFrames} caller frames lost`);
    if (rc.extraFrames > 0) fails.push(`${rc.extraFrames} caller frames repeated`);
    if (rc.replyGapMs.max > RECONNECT_TARGETS.replyGapMs) fails.push(`reply gap ${f(rc.replyGapMs.max)} ms`);
    if (!(rc.resumeMs.p99 <= RECONNECT_TARGETS.resumeP99Ms)) fails.push(`resume p99 ${f(rc.resumeMs.p99)} ms`);
    if (rc.reconnects < rc.goAways) fails.push(`${rc.goAways - rc.reconnects} goAways not followed by a reconnect`);
    console.log(
      `${calls} calls: ${rc.reconnects}/${rc.goAways} reconnects in ${args.hold} s; goAway→resumed ms ${sp(rc.resumeMs)}; ` +
        `caller-audio gap ms ${sp(rc.callerGapMs)}; reply gap ms ${sp(rc.replyGapMs)} over ${rc.repliesAcross} replies ` +
        `playing across a switch; caller frames lost ${rc.lostFrames}, repeated ${rc.extraFrames}; ` +
        `CPU ${f(base.cpuPct)}% → ${f(r.cpuPct)}%, ${f(cpuPerReconnectMs)} ms per reconnect; ` +
        `event loop p99 ${f(r.eventLoop.p99)} ms — ${fails.length ? `FAIL: ${fails.join('; ')}` : 'ok'}`,
    );
    out.push({ calls, everyS, base, result: r, cpuPerReconnectMs, fails });
  }
  const file = join(ROOT, `bench/results/reconnect-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ args, targets: RECONNECT_TARGETS, out }, null, 2));
  console.log(`results: ${file}`);
}

async function main(): Promise<void> {
  await mkdir(join(ROOT, 'bench/results'), { recursive: true });
  if (WHOLE_STACK) return (await import('./whole-stack.ts')).wholeStack(process.argv.slice(2));
  if (args.help) return void console.log(HELP);
  if (args.churn) return churn(Number(args.churn));
  if (Number(args['reconnect-every']) > 0) return reconnectBench(Number(args['reconnect-every']));
  const machine = {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    memGb: Math.round(os.totalmem() / 1e9),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
  };
  console.log(
    `callbridge bench — ${machine.cpus} CPUs (${machine.model}), ${machine.memGb} GB, Node ${machine.node}; callbridge on CPU ${args['callbridge-cpu']}, load generator (${args['loadgen-procs']} process(es)) on CPU ${args['loadgen-cpu']}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `hold ${args.hold} s after ${args.warmup} s warm-up, replies ${args['reply-ms']} ms streamed ${args['reply-pace'] === 'realtime' ? 'in real time' : 'in bursts (4× real time)'}, ${Number(args['barge-in']) * 100}% of turns barged in; ms figures are p50/p99(/max)`,
  );
  console.log(
    'calls   cpu% %/call  rssMB MB/call   loop p50/p99/max  ingest p50/p99  first cmd    barge-in   silence%  late cb/lg replies  lg%  lgLag  load  verdict',
  );
  const results: StepResult[] = [];
  let best = 0;
  for (const calls of String(args.steps).split(',').map(Number)) {
    const runs: StepResult[] = [];
    for (let k = 0; k < Number(args.repeats); k++) runs.push(await runStep(calls));
    // The median run by CPU stands for the step; a step passes when the majority of its runs pass.
    const sorted = [...runs].sort((x, y) => x.cpuPct - y.cpuPct);
    const mid = sorted[Math.floor(sorted.length / 2)]!;
    mid.pass = runs.filter((r) => r.pass).length * 2 > runs.length;
    results.push(mid);
    console.log(
      row(mid) +
        (runs.length > 1 ? `  (median of ${runs.length}; cpu ${runs.map((r) => r.cpuPct.toFixed(0)).join('/')})` : ''),
    );
    if (mid.pass) best = calls;
    else if (!args['keep-going']) break;
  }
  console.log(`\nlargest step meeting every target: ${best || 'none'} concurrent calls`);
  void median;
  const file = join(ROOT, `bench/results/bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ machine, args, targets: TARGETS, results, best }, null, 2));
  console.log(`results: ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * The load generator (bench/loadgen.ts: FreeSWITCH emulator + vendor fakes) as child processes driven over IPC:
 * one process, or two with `--loadgen-procs 2`, and their stats merged into one view of the window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { blameLate, type LagSpread } from './callers.ts';
import type { LoadgenRequest, LoadgenStats } from './loadgen.ts';
import { args, NODE, pin, ROOT } from './run-args.ts';

type LoadgenRole = 'all' | 'emulator' | 'vendors';

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
      ...(args['loadgen-node-flag'] as string[]),
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
export class Loadgens {
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
export type LoadgenRun = LoadgenStats & {
  cpuPct: number;
  lateBlame: { loadgen: number; callbridge: number };
  processes: { role: LoadgenRole; cpuPct: number; loopLag: LagSpread; stalls: number }[];
};

function worst(spreads: LagSpread[]): LagSpread {
  const max = (k: keyof LagSpread) => Math.max(...spreads.map((s) => (Number.isFinite(s[k]) ? s[k] : 0)));
  return { p50: max('p50'), p99: max('p99'), max: max('max') };
}

/** Start the fakes; the environment that points callbridge at them. */
export async function initLoadgen(lg: Loadgens, reconnectEveryS = 0): Promise<Record<string, string>> {
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

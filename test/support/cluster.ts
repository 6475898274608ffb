import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import {
  type EmulatedChannel,
  type EmulatorOptions,
  FreeSwitchEmulator,
  freePort,
  GeminiLiveFake,
  type GeminiLiveFakeOptions,
} from '../bed/index.ts';
import type { LogLine } from './stack.ts';

/**
 * Several callbridge processes (`node src/main.ts`, configured through the environment as in production) against
 * FreeSWITCH emulators and a Gemini Live fake that run in the test process, sharing a real Redis (fresh
 * CLUSTER_PREFIX per cluster) and optionally a PostgreSQL schema. Each instance's pino JSON lines are kept for
 * assertions and failure messages; every process is SIGKILLed in stop() whatever state it is in.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE = join(ROOT, 'node_modules/.bin/node');
const MAIN = join(ROOT, 'src/main.ts');

/** The Redis the tests use (scripts/test-services.sh starts it on a fresh machine). */
export const TEST_REDIS_URL = process.env.CALLBRIDGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Kernel clock ticks per second (the unit of /proc/<pid>/stat utime and stime). */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A Redis connection, or an error that says how to get one (the cluster tests fail, never skip, without it). */
export async function connectRedis(url = TEST_REDIS_URL): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => {}); // connect() rejects with it; later ones: the commands fail
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (err) {
    redis.disconnect();
    throw new Error(
      `Redis for the tests is not reachable at ${new URL(url).host} (${err instanceof Error ? err.message : String(err)}): ` +
        'start it with scripts/test-services.sh, or point CALLBRIDGE_TEST_REDIS_URL at one',
    );
  }
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface HttpAnswer {
  status: number;
  /** Parsed JSON (the text when it is not JSON): tests check it field by field. */
  body: any;
}

/** One callbridge child process. */
export class Instance {
  readonly id: string;
  readonly port: number;
  readonly baseUrl: string;
  /** The URL this instance's calls stream to (every node's `|ws://…` in FREESWITCH_NODES). */
  readonly wsUrl: string;
  readonly pid: number;
  /** Parsed stdout lines (pino JSON); lines that are not JSON come as `{ msg: <line> }`. */
  readonly lines: LogLine[] = [];
  stderr = '';
  /** Set once the process has exited. */
  exit: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;
  readonly #proc: ChildProcess;
  readonly #dir: string;

  constructor(id: string, port: number, proc: ChildProcess, dir: string) {
    this.id = id;
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.wsUrl = `ws://127.0.0.1:${port}`;
    this.#proc = proc;
    this.#dir = dir;
    if (proc.pid === undefined) throw new Error(`instance ${id} did not start`);
    this.pid = proc.pid;
    let partial = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      for (const l of parts) if (l.trim()) this.lines.push(parseLine(l));
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-20000);
    });
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /** The directory of its playback files and SQLite history. */
  get dir(): string {
    return this.#dir;
  }

  get(path: string): Promise<HttpAnswer> {
    return this.#request('GET', path);
  }

  post(path: string, body: unknown): Promise<HttpAnswer> {
    return this.#request('POST', path, body);
  }

  del(path: string): Promise<HttpAnswer> {
    return this.#request('DELETE', path);
  }

  /** SIGKILL: no drain, no goodbye to Redis, sockets closed by the kernel. Resolves when it has exited. */
  async kill(): Promise<ExitInfo> {
    if (this.alive) this.#proc.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then wait for the exit; SIGKILL and throw if it has not exited within `timeoutMs`. */
  async terminate(timeoutMs: number): Promise<ExitInfo> {
    if (!this.alive) return this.exit!;
    this.#proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), timeoutMs);
    });
    const done = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (done === 'late') {
      await this.kill();
      throw new Error(`instance ${this.id} did not exit within ${timeoutMs} ms of SIGTERM\n${this.tail()}`);
    }
    return done;
  }

  /** CPU time (user + system) the process has used so far, ms, from /proc/<pid>/stat. */
  cpuMs(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may hold spaces): utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  }

  /** Log lines whose message matches. */
  logged(msg: string | RegExp): LogLine[] {
    return this.lines.filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
  }

  /** The last log lines and stderr, for failure messages. */
  tail(n = 25): string {
    const state = this.alive ? 'running' : `exited ${JSON.stringify(this.exit)}`;
    const lines = this.lines.slice(-n).map((l) => `    ${JSON.stringify(l).slice(0, 400)}`);
    const err = this.stderr.trim() ? `\n  stderr: ${this.stderr.trim().slice(-2000)}` : '';
    return `  instance ${this.id} (pid ${this.pid}, port ${this.port}, ${state}):\n${lines.join('\n')}${err}`;
  }

  async #request(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    const res = await fetch(this.baseUrl + path, {
      method,
      ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed };
  }
}

function parseLine(line: string): LogLine {
  try {
    const v = JSON.parse(line) as unknown;
    if (v && typeof v === 'object' && typeof (v as LogLine).msg === 'string') return v as LogLine;
  } catch {}
  return { level: 30, msg: line };
}

export interface ClusterOptions {
  /** FreeSWITCH emulators, by node name (default `a`, `b`). */
  nodes?: string[];
  /** Instances started at once (default 3); more with `add()`. */
  instances?: number;
  /** Share Redis (default true: TEST_REDIS_URL; a string: that URL); false: instances without REDIS_URL. */
  redis?: boolean | string;
  /** A shared DATABASE_URL (e.g. a TestSchemas schema); otherwise each instance keeps SQLite in its own dir. */
  databaseUrl?: string;
  /** Settings for every instance (after the harness's own, so they win). */
  env?: Record<string, string>;
  emulator?: EmulatorOptions;
  gemini?: GeminiLiveFakeOptions;
  /** How long to wait for each instance's /health with every node connected. Default 30 s. */
  startTimeoutMs?: number;
}

/** Emulators + Gemini fake in this process, callbridge instances as child processes. */
export class TestCluster {
  readonly nodes: Map<string, FreeSwitchEmulator>;
  readonly gemini: GeminiLiveFake;
  /** Every instance started, alive or not, in start order. */
  readonly instances: Instance[] = [];
  /** CLUSTER_PREFIX of this cluster (fresh, so runs never see each other's keys). */
  readonly prefix = `cbtest-${randomBytes(5).toString('hex')}`;
  readonly redisUrl: string | undefined;
  /** A connection to the shared Redis (undefined without one), for checks on keys. */
  readonly redis: Redis | undefined;
  readonly #opts: ClusterOptions;
  #next = 1;
  #stopped = false;

  private constructor(
    opts: ClusterOptions,
    nodes: Map<string, FreeSwitchEmulator>,
    gemini: GeminiLiveFake,
    redis: Redis | undefined,
    redisUrl: string | undefined,
  ) {
    this.#opts = opts;
    this.nodes = nodes;
    this.gemini = gemini;
    this.redis = redis;
    this.redisUrl = redisUrl;
  }

  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const redisUrl = opts.redis === false ? undefined : typeof opts.redis === 'string' ? opts.redis : TEST_REDIS_URL;
    const redis = redisUrl ? await connectRedis(redisUrl) : undefined;
    const nodes = new Map<string, FreeSwitchEmulator>();
    let gemini: GeminiLiveFake | undefined;
    try {
      gemini = await GeminiLiveFake.start({ apiKey: 'test-key', ...opts.gemini });
      for (const name of opts.nodes ?? ['a', 'b']) nodes.set(name, await FreeSwitchEmulator.start(opts.emulator));
    } catch (err) {
      for (const n of nodes.values()) await n.stop();
      await gemini?.stop();
      redis?.disconnect();
      throw err;
    }
    const cluster = new TestCluster(opts, nodes, gemini, redis, redisUrl);
    try {
      await Promise.all(Array.from({ length: opts.instances ?? 3 }, () => cluster.add()));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Instances still running. */
  get live(): Instance[] {
    return this.instances.filter((i) => i.alive);
  }

  /** Starts one more instance and waits until its /health answers with every node connected. */
  async add(o: { id?: string; env?: Record<string, string> } = {}): Promise<Instance> {
    if (this.#stopped) throw new Error('cluster stopped');
    const id = o.id ?? `i${this.#next++}`;
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), `callbridge-${id}-`));
    const wsUrl = `ws://127.0.0.1:${port}`;
    const nodeList = [...this.nodes].map(([name, fs]) => `${name}=127.0.0.1:${fs.eslPort}|${wsUrl}`).join(',');
    const env: Record<string, string> = {
      // Only what a process needs from ours: a callbridge setting in the test runner's environment must not leak in.
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? dir,
      TMPDIR: process.env.TMPDIR ?? tmpdir(),
      GOOGLE_API_KEY: 'test-key',
      GEMINI_BASE_URL: this.gemini.baseUrl,
      FREESWITCH_NODES: nodeList,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(port),
      CALLBRIDGE_WS_URL: wsUrl,
      PLAYBACK_DIR: dir,
      CALL_HISTORY_PATH: join(dir, 'history', 'calls.db'),
      ESL_RECONNECT_MAX_MS: '300',
      SHUTDOWN_TIMEOUT_MS: '3000',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      DSP_THREADS: '0',
      INSTANCE_ID: id,
      ...(this.redisUrl && { REDIS_URL: this.redisUrl, CLUSTER_PREFIX: this.prefix }),
      ...(this.#opts.databaseUrl && { DATABASE_URL: this.#opts.databaseUrl }),
      ...this.#opts.env,
      ...o.env,
    };
    // cwd: the instance's own directory, so a ./.env of the checkout is not read (main.ts loads one if present).
    const proc = spawn(NODE, [MAIN], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const instance = new Instance(id, port, proc, dir);
    this.instances.push(instance);
    const deadline = Date.now() + (this.#opts.startTimeoutMs ?? 30000);
    for (;;) {
      if (!instance.alive) throw new Error(`instance ${id} exited while starting\n${instance.tail()}`);
      const health = await instance.get('/health').catch(() => undefined);
      const nodes = health?.body?.nodes as { esl: string }[] | undefined;
      if (health?.status === 200 && (nodes ?? [health.body]).every((n) => n.esl === 'connected')) return instance;
      if (Date.now() > deadline) {
        await instance.kill();
        throw new Error(`instance ${id} not healthy (every node connected) in time\n${instance.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The instance a stream URL points at (by its port), e.g. of `channel.stream.url`. */
  instanceFor(url: string | undefined): Instance | undefined {
    if (!url) return undefined;
    const port = Number(new URL(url).port);
    return this.instances.find((i) => i.port === port);
  }

  /** The instance the call's latest audio stream goes to. */
  ownerOf(ch: EmulatedChannel): Instance | undefined {
    return this.instanceFor(ch.stream?.url);
  }

  /** Every ESL command line, on every node, that mentions `uuid` (with the node's name). */
  commandsAbout(uuid: string): { node: string; line: string; at: number }[] {
    const out: { node: string; line: string; at: number }[] = [];
    for (const [node, fs] of this.nodes)
      for (const c of fs.commands) if (c.line.includes(uuid)) out.push({ node, line: c.line, at: c.at });
    return out.sort((a, b) => a.at - b.at);
  }

  /** Log tails of every instance (for assertion messages). */
  describe(): string {
    return this.instances.map((i) => i.tail()).join('\n');
  }

  /** Poll `check` until it returns truthy; on timeout the error names `what` and carries every instance's log tail. */
  async waitFor<T>(check: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v) return v as NonNullable<T>;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Keys under this cluster's prefix in Redis. */
  async keys(): Promise<string[]> {
    if (!this.redis) return [];
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', 1000);
      cursor = next;
      out.push(...batch);
    } while (cursor !== '0');
    return out;
  }

  /** Kills every instance, stops the emulators and the fake, removes this cluster's Redis keys and directories. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.instances.map((i) => i.kill()));
    for (const fs of this.nodes.values()) await fs.stop();
    await this.gemini.stop();
    if (this.redis) {
      const keys = await this.keys().catch(() => []);
      if (keys.length) await this.redis.del(...keys).catch(() => {});
      this.redis.disconnect();
    }
    for (const i of this.instances) await rm(i.dir, { recursive: true, force: true });
  }
}

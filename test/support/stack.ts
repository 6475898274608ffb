import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startCallbridge, type Callbridge, type StartOptions } from '../../src/callbridge.ts';
import { loadConfig } from '../../src/config.ts';
import {
  FreeSwitchEmulator,
  freePort,
  type EmulatorOptions,
  GeminiLiveFake,
  type GeminiLiveFakeOptions,
} from '../bed/index.ts';

export interface LogLine {
  level: number;
  msg: string;
  call?: string;
  [k: string]: unknown;
}

/** A pino logger whose lines land in an array (parsed), so tests can assert what was logged. */
export function captureLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

export interface Stack {
  /** The emulator of the first FreeSWITCH node (the only one unless `nodes` was given). */
  fs: FreeSwitchEmulator;
  /** Every node's emulator by node name (`default` for the single node). */
  nodes: Map<string, FreeSwitchEmulator>;
  gemini: GeminiLiveFake;
  bridge: Callbridge;
  logs: LogLine[];
  playbackDir: string;
  /** Files still in the playback directory. */
  playbackFiles(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * callbridge in this process, talking to the FreeSWITCH emulator over real TCP/WebSockets and to the Gemini
 * Live fake through the SDK's base URL: the production code paths, nothing mocked inside.
 */
export async function startStack(
  opts: {
    env?: Record<string, string>;
    emulator?: EmulatorOptions;
    gemini?: GeminiLiveFakeOptions;
    start?: Partial<StartOptions>;
    dir?: string;
    keepDir?: boolean;
    /** Several FreeSWITCH nodes: one emulator each, listed in FREESWITCH_NODES under these names. */
    nodes?: string[];
    /** Stream URLs of some of those nodes (the others stream to CALLBRIDGE_WS_URL). */
    streamUrls?: Record<string, string>;
  } = {},
): Promise<Stack> {
  const gemini = await GeminiLiveFake.start({ apiKey: 'test-key', ...opts.gemini });
  const nodes = new Map<string, FreeSwitchEmulator>();
  for (const name of opts.nodes ?? ['default']) nodes.set(name, await FreeSwitchEmulator.start(opts.emulator));
  const fs = nodes.values().next().value!;
  const nodeList =
    opts.nodes &&
    [...nodes]
      .map(([name, node]) => {
        const url = opts.streamUrls?.[name];
        return `${name}=127.0.0.1:${node.eslPort}${url ? `|${url}` : ''}`;
      })
      .join(',');
  const playbackDir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'callbridge-pb-')));
  const port = await freePort();
  const { logger, lines } = captureLogger();
  const config = loadConfig({
    GOOGLE_API_KEY: 'test-key',
    GEMINI_BASE_URL: gemini.baseUrl,
    FREESWITCH_ESL_PORT: String(fs.eslPort),
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(port),
    CALLBRIDGE_WS_URL: `ws://127.0.0.1:${port}`,
    PLAYBACK_DIR: playbackDir,
    CALL_HISTORY_PATH: join(playbackDir, 'history', 'calls.db'),
    ESL_RECONNECT_MAX_MS: '300',
    SHUTDOWN_TIMEOUT_MS: '500',
    ...(nodeList && { FREESWITCH_NODES: nodeList }),
    ...opts.env,
  });
  const bridge = await startCallbridge(config, { logger, ...opts.start });
  await Promise.all(bridge.calls.nodes.map((n) => n.esl.waitConnected(3000)));
  return {
    fs,
    nodes,
    gemini,
    bridge,
    logs: lines,
    playbackDir,
    playbackFiles: async () => (await readdir(playbackDir)).filter((f) => f !== 'history'),
    async stop() {
      await bridge.stop();
      for (const node of nodes.values()) await node.stop();
      await gemini.stop();
      if (!opts.keepDir) await rm(playbackDir, { recursive: true, force: true });
    },
  };
}

/** Poll `check` until it returns truthy (or throw after `timeoutMs`). */
export async function until<T>(
  check: () => T | Promise<T>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

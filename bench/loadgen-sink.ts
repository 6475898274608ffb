/**
 * The load generator alone: how many talking callers one core of it drives before its own event loop lags.
 * The FreeSWITCH emulator's channels stream their caller audio (mod_audio_stream, 16 kHz, STREAM_BUFFER_SIZE 40
 * as callbridge asks) to a sink in another process (a WebSocket server that discards), callers talk as in
 * bench/run.ts; per step: the generator's CPU (% of a core, and per call), its event-loop lag p50/p99/max, the
 * media clock's late ticks, and the bytes the sink got (so a generator that silently sends less is caught).
 *
 *   node bench/loadgen-sink.ts --steps 200,400,600,800 --hold 10            # today's callers
 *   node bench/loadgen-sink.ts --steps 200,400 --legacy                     # the callers before bench/callers.ts
 *   node bench/loadgen-sink.ts --no-pin                                     # default: generator on CPU 0, sink on CPU 1
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import { type EmulatedChannel, FreeSwitchEmulator } from '../test/bed/index.ts';
import { loadConfig } from '../src/config.ts';
import { converse, LoopLag, TurnClock } from './callers.ts';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '200,400,600,800,1000' },
    hold: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    // callbridge's own default message size unless given
    'frame-ms': { type: 'string', default: String(loadConfig({ GOOGLE_API_KEY: 'bench' }).STREAM_FRAME_MS) },
    'barge-in': { type: 'string', default: '0.2' },
    'reply-ms': { type: 'string', default: '2000' },
    legacy: { type: 'boolean', default: false },
    'keep-going': { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    sink: { type: 'boolean', default: false },
  },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pinSelf = (cpu: number) => {
  if (args['no-pin'] || os.cpus().length < 2) return;
  execFileSync('taskset', ['-pc', String(cpu), String(process.pid)], { stdio: 'ignore' });
};

async function drive(): Promise<void> {
  pinSelf(0);
  const sink: ChildProcess = fork(new URL(import.meta.url).pathname, [
    '--sink',
    ...(args['no-pin'] ? ['--no-pin'] : []),
  ]);
  const ask = <T>(cmd: string) =>
    new Promise<T>((r) => {
      sink.once('message', (m) => r(m as T));
      sink.send({ cmd });
    });
  const { port } = await new Promise<{ port: number }>((r) => sink.once('message', (m) => r(m as { port: number })));
  const legacy = args.legacy;
  console.log(
    `load generator alone → discarding sink; ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )}; callers: ${legacy ? 'legacy (8 kHz speech interpolated per frame, a timer per turn)' : 'precomputed 16 kHz speech, one turn clock'}`,
  );
  console.log('calls  cpu%  cpu%/call  lag p50/p99/max ms  late ticks  sink MB/s  verdict');
  try {
    for (const calls of String(args.steps).split(',').map(Number)) {
      const r = await step(calls, port, ask);
      const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
      const ok = r.lag.p99 < 10;
      console.log(
        `${String(calls).padStart(5)} ${f(r.cpuPct).padStart(5)} ${f(r.cpuPct / calls, 3).padStart(10)} ${`${f(r.lag.p50)}/${f(r.lag.p99)}/${f(r.lag.max)}`.padStart(19)} ${String(r.lateTicks).padStart(11)} ${f(r.sinkMBps, 2).padStart(10)}  ${ok ? 'ok' : 'LAG'} (load ${os.loadavg()[0]!.toFixed(2)})`,
      );
      if (!ok && !args['keep-going']) break;
    }
  } finally {
    sink.send({ cmd: 'stop' });
  }
}

async function step(
  calls: number,
  port: number,
  ask: <T>(cmd: string) => Promise<T>,
): Promise<{ cpuPct: number; lag: { p50: number; p99: number; max: number }; lateTicks: number; sinkMBps: number }> {
  const fs = await FreeSwitchEmulator.start({ keepEventLog: false, recordHeardAudio: false });
  const clock = new TurnClock();
  const timers = new Set<NodeJS.Timeout>();
  const lag = new LoopLag();
  try {
    const channels: EmulatedChannel[] = [];
    for (let i = 0; i < calls; i++) {
      const ch = fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
      ch.setVar('STREAM_BUFFER_SIZE', args['frame-ms']);
      ch.startAudioStream({ url: `ws://127.0.0.1:${port}`, mix: 'mono', rate: 16000, metadata: '{}' });
      if (args.legacy) legacyConverse(ch, timers);
      else converse(ch, clock, Number(args['reply-ms']), Number(args['barge-in']));
      channels.push(ch);
      if (i % 20 === 19) await sleep(5);
    }
    for (let i = 0; i < 300 && channels.some((c) => !c.stream?.connected); i++) await sleep(100);
    await sleep(Number(args.warmup) * 1000);
    fs.clockLateness(true);
    lag.reset();
    const c0 = process.cpuUsage();
    const s0 = await ask<{ bytes: number }>('count');
    const t0 = performance.now();
    await sleep(Number(args.hold) * 1000);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const s1 = await ask<{ bytes: number }>('count');
    return {
      cpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
      lag: lag.spread,
      lateTicks: fs.clockLateness().over10ms,
      sinkMBps: (s1.bytes - s0.bytes) / 1e6 / (wall / 1000),
    };
  } finally {
    lag.stop();
    clock.stop();
    for (const t of timers) clearTimeout(t);
    await fs.stop();
  }
}

// The callers as bench/loadgen.ts had them before bench/callers.ts: for the before → after figure.
const LEGACY_8K = (() => {
  const raw = readFileSync(new URL('../test/fixtures/speech-8k.raw', import.meta.url));
  const all = new Int16Array(raw.buffer, raw.byteOffset, raw.length >> 1);
  return { speech: all.slice(0, 1400 * 8), short: all.slice(1400 * 8, 1900 * 8) };
})();
function legacyConverse(ch: EmulatedChannel, timers: Set<NodeJS.Timeout>): void {
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const replyMs = Number(args['reply-ms']);
  const turn = () => {
    if (ch.hungUp) return;
    ch.say(LEGACY_8K.speech, 8000);
    if (Math.random() < Number(args['barge-in'])) {
      later(2700, () => !ch.hungUp && ch.say(LEGACY_8K.short, 8000));
      later(4700, turn);
    } else later(2000 + replyMs + 1000, turn);
  };
  later(Math.random() * 3000, turn);
}

// ---------------------------------------------------------------- the sink (child process)
function runSink(): void {
  pinSelf(1);
  let bytes = 0;
  let messages = 0;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (ws) =>
    ws.on('message', (data: Buffer) => {
      bytes += data.length;
      messages++;
    }),
  );
  wss.on('listening', () => process.send!({ port: (wss.address() as { port: number }).port }));
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'count') process.send!({ bytes, messages });
    if (m.cmd === 'stop') process.exit(0);
  });
}

if (args.sink) runSink();
else await drive();

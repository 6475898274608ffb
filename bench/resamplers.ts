/**
 * Resamplers for agent audio (24 kHz → 8 and 16 kHz), side by side: CPU, memory, quality.
 *
 *   node --expose-gc bench/resamplers.ts [--seconds 60] [--converters SINC_FASTEST,SPEEX_3]
 *
 * - CPU: µs of process CPU per second of 24 kHz audio, fed in random 20–100 ms chunks (as agent audio comes),
 *   median of 5 runs; and the p99 time of one chunk (what one piece of a burst blocks the event loop for).
 * - Create: µs to create one converter (a fresh one, not warmed).
 * - Memory: bytes per converter, from RSS and from V8 external memory (where WASM memory lives) with 100
 *   converters alive, each having converted 100 ms.
 * - Quality at 8 kHz: gain of pass-band tones (300–3000 Hz: ripple = max − min; 3400 Hz, the telephone band's edge, apart) and what is left of tones
 *   above the output's Nyquist (4.5, 5, 7, 10 kHz), in dB relative to the input tone: a real low-pass leaves
 *   −40 dB or less. The same at 16 kHz (pass 300–6000 Hz, edge 7000 Hz, stop 8.5, 9, 10, 11 kHz).
 * - SNR: speech-like audio with fricative-like noise bursts up to 11 kHz, against SINC_BEST_QUALITY.
 * - Bursts vs pacing: `--calls` streams (24 → 8 kHz) each converting one piece in the same event-loop turn,
 *   as when replies arrive 4× faster than real time (80 ms of audio per 20 ms) or paced to real time (20 ms
 *   per 20 ms): the turn's length (how long the loop is blocked) and the share of a core while it lasts.
 *   libsamplerate at most 100 streams (~1.6 MB each), scaled to `--calls`.
 * - Inline vs DSP worker (DSP_THREADS): the same streams fed 20 ms of audio every 20 ms for 3 s through
 *   InlineResampling and WorkerResampling: the main thread's busy share (event-loop utilisation) and the
 *   process's CPU (both threads), per 100 streams.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { speechLike } from './speech.ts';
import { convertInChunks } from '../test/bed/audio.ts';
import { CONVERTER_NAMES, type ConverterName } from '../src/media/resampling/converter-names.ts';
import { createResampler, type Resampler } from '../src/media/resampling/converter.ts';
import { ResamplerPools } from '../src/media/resampling/converter-pool.ts';
import { InlineResampling } from '../src/media/resampling/inline-resampling.ts';
import type { Resampling } from '../src/media/resampling/resampling.ts';
import { WorkerResampling } from '../src/media/resampling/worker-resampling.ts';
import { silentLogger } from '../src/log.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    converters: {
      type: 'string',
      default: 'SINC_FASTEST,SINC_MEDIUM_QUALITY,LINEAR,SPEEX_1,SPEEX_3,SPEEX_5,SPEEX_7',
    },
    /** Internal: measure memory of one converter in this (fresh) process and print it as JSON. */
    memory: { type: 'string' },
    out: { type: 'string', default: '8000' },
    calls: { type: 'string', default: '500' },
  },
});
const SECONDS = Number(args.seconds);
const NAMES = args.converters.split(',') as ConverterName[];
for (const n of NAMES) if (!CONVERTER_NAMES.includes(n)) throw new Error(`unknown converter ${n}`);
const IN = 24000;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.warn('run with --expose-gc for memory figures');

/** Deterministic PRNG (mulberry32): every run feeds the same chunks. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Speech-like audio plus noise bursts (fricatives) that reach up to the 24 kHz input's Nyquist. */
function speech(seconds: number): Int16Array {
  const s = speechLike(seconds * 1000, IN);
  const rand = rng(7);
  for (let i = 0; i < s.length; i++) {
    const burst = Math.sin((2 * Math.PI * 1.3 * i) / IN) > 0.6 ? 3000 : 0;
    s[i] = Math.max(-32768, Math.min(32767, s[i]! + Math.round((rand() * 2 - 1) * burst)));
  }
  return s;
}

function tone(hz: number, seconds: number, amplitude = 16000): Int16Array {
  const n = IN * seconds;
  const s = new Int16Array(n);
  for (let i = 0; i < n; i++) s[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / IN));
  return s;
}

/** Chunk sizes (samples) of 20–100 ms, in 10 ms steps, from a fixed seed. */
function chunkSizes(total: number, seed = 1): number[] {
  const rand = rng(seed);
  const sizes: number[] = [];
  for (let left = total; left > 0; ) {
    const n = Math.min(left, (2 + Math.floor(rand() * 9)) * (IN / 100));
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

const rms = (s: Int16Array, from = 0, to = s.length) => {
  let e = 0;
  for (let i = from; i < to; i++) e += s[i]! * s[i]!;
  return Math.sqrt(e / Math.max(1, to - from));
};
/** dB; a tone that comes out below half an LSB reads as the 16-bit floor. */
const db = (x: number) => Math.max(20 * Math.log10(Math.max(x, 1e-9)), -99);
const dbText = (x: number) => (x <= -99 ? '< −90' : x.toFixed(1));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function cpu(name: ConverterName, out: number, input: Int16Array, sizes: number[]) {
  const runs: number[] = [];
  const chunkUs: number[] = [];
  for (let run = 0; run < 6; run++) {
    const r = await createResampler(IN, out, name);
    for (let i = 0; i < 8; i++) r.flush(); // warm-up (libsamplerate instances compile lazily)
    const c0 = process.cpuUsage();
    let at = 0;
    for (const n of sizes) {
      const t0 = performance.now();
      r.process(input.subarray(at, at + n));
      if (run > 0) chunkUs.push((performance.now() - t0) * 1000);
      at += n;
    }
    const c = process.cpuUsage(c0);
    r.destroy();
    if (run > 0) runs.push((c.user + c.system) / (input.length / IN));
  }
  chunkUs.sort((a, b) => a - b);
  return { usPerSecond: median(runs), p99ChunkUs: chunkUs[Math.floor(chunkUs.length * 0.99)]! };
}

/** Memory of one converter type, measured in a fresh process (WASM memory of earlier runs would blur it). */
function memoryInChild(name: ConverterName, out: number): { rss: number; external: number; createUs: number } {
  const json = execFileSync(
    process.execPath,
    ['--expose-gc', import.meta.filename, '--memory', name, '--out', String(out)],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(json);
}

async function memory(name: ConverterName, out: number) {
  const N = 100;
  const chunk = tone(1000, 0.1);
  // One converter first: a module shared by all converters (Speex) is loaded once, not per converter.
  const first = await createResampler(IN, out, name);
  first.process(chunk);
  gc?.();
  const m0 = process.memoryUsage();
  const list: Resampler[] = [];
  const t0 = performance.now();
  for (let i = 0; i < N; i++) list.push(await createResampler(IN, out, name));
  const createUs = ((performance.now() - t0) * 1000) / N;
  for (const r of list) r.process(chunk);
  gc?.();
  const m1 = process.memoryUsage();
  for (const r of list) r.destroy();
  first.destroy();
  list.length = 0;
  gc?.();
  return { rss: (m1.rss - m0.rss) / N, external: (m1.external - m0.external) / N, createUs };
}

/** Output level of a tone relative to the input's, in dB (steady state: the first and last 100 ms skipped). */
async function gainDb(name: ConverterName, out: number, hz: number): Promise<number> {
  const input = tone(hz, 1);
  const r = await createResampler(IN, out, name);
  const y = convertInChunks(r, input, chunkSizes(input.length, 3));
  r.destroy();
  const skip = out / 10;
  return db(rms(y, skip, y.length - skip) / rms(input));
}

/** SNR of `y` against `ref`, at the integer lag (±64 samples) that fits best. */
function snrDb(ref: Int16Array, y: Int16Array): number {
  let best = -Infinity;
  const from = 2000;
  const to = Math.min(ref.length, y.length) - 2000;
  for (let lag = -64; lag <= 64; lag++) {
    let sig = 0;
    let err = 0;
    for (let i = from; i < to; i++) {
      const d = ref[i]! - y[i + lag]!;
      sig += ref[i]! * ref[i]!;
      err += d * d;
    }
    best = Math.max(best, 10 * Math.log10(sig / Math.max(err, 1e-9)));
  }
  return best;
}

if (args.memory) {
  console.log(JSON.stringify(await memory(args.memory as ConverterName, Number(args.out))));
  process.exit(0);
}

const input = speech(SECONDS);
const sizes = chunkSizes(input.length);
const quality = speech(5);
const qualitySizes = chunkSizes(quality.length, 5);
const refs = new Map<number, Int16Array>();
for (const out of [8000, 16000]) {
  const r = await createResampler(IN, out, 'SINC_BEST_QUALITY');
  refs.set(out, convertInChunks(r, quality, qualitySizes));
  r.destroy();
}

const bands = {
  8000: { pass: [300, 1000, 2000, 3000], edge: 3400, stop: [4500, 5000, 7000, 10000] },
  16000: { pass: [300, 1000, 3500, 6000], edge: 7000, stop: [8500, 9000, 10000, 11000] },
} as const;

console.log(`node ${process.version}, ${SECONDS} s of 24 kHz speech-like audio in 20–100 ms chunks per CPU run`);
for (const out of [8000, 16000] as const) {
  console.log(`\n24 kHz → ${out / 1000} kHz`);
  console.log(
    `| converter | CPU µs per audio-second | p99 chunk µs | create µs | RSS bytes/converter | external bytes/converter | ripple dB ${bands[out].pass[0]}–${bands[out].pass.at(-1)} Hz | gain dB at ${bands[out].edge} Hz | ` +
      bands[out].stop.map((f) => `${f / 1000} kHz left, dB`).join(' | ') +
      ' | speech SNR dB vs SINC_BEST |',
  );
  console.log(`|${' --- |'.repeat(9 + bands[out].stop.length)}`);
  for (const name of NAMES) {
    const c = await cpu(name, out, input, sizes);
    const m = memoryInChild(name, out);
    const pass: number[] = [];
    for (const f of bands[out].pass) pass.push(await gainDb(name, out, f));
    const stop: number[] = [];
    for (const f of bands[out].stop) stop.push(await gainDb(name, out, f));
    const r = await createResampler(IN, out, name);
    const snr = snrDb(refs.get(out)!, convertInChunks(r, quality, qualitySizes));
    r.destroy();
    const ripple = Math.max(...pass) - Math.min(...pass);
    const edge = await gainDb(name, out, bands[out].edge);
    console.log(
      `| ${name} | ${c.usPerSecond.toFixed(0)} | ${c.p99ChunkUs.toFixed(0)} | ${m.createUs.toFixed(0)} | ${m.rss.toFixed(0)} | ${m.external.toFixed(0)} | ${ripple.toFixed(2)} | ${edge.toFixed(1)} | ${stop.map(dbText).join(' | ')} | ${snr.toFixed(1)} |`,
    );
  }
}

/** One turn: every stream converts `ms` of audio; the median of 20 turns, in ms, scaled to `calls` streams. */
async function turnMs(name: ConverterName, calls: number, ms: number): Promise<number> {
  const n = name.startsWith('SPEEX_') ? calls : Math.min(calls, 100);
  const streams: Resampler[] = [];
  for (let i = 0; i < n; i++) streams.push(await createResampler(IN, 8000, name));
  const piece = input.subarray(0, (IN * ms) / 1000);
  for (const r of streams) for (let i = 0; i < 4; i++) r.process(piece); // warm
  const turns: number[] = [];
  for (let t = 0; t < 20; t++) {
    const t0 = performance.now();
    for (const r of streams) r.process(piece);
    turns.push(performance.now() - t0);
  }
  for (const r of streams) r.destroy();
  return (median(turns) * calls) / n;
}

const CALLS = Number(args.calls);
console.log(`\n${CALLS} streams 24 → 8 kHz, all converting in the same event-loop turn, every 20 ms`);
console.log(
  '| converter | burst 4× (80 ms each): turn ms | share of a core | paced (20 ms each): turn ms | share of a core |',
);
console.log('| --- | --- | --- | --- | --- |');
for (const name of NAMES) {
  const burst = await turnMs(name, CALLS, 80);
  const paced = await turnMs(name, CALLS, 20);
  console.log(
    `| ${name} | ${burst.toFixed(2)} | ${((burst / 20) * 100).toFixed(0)}% | ${paced.toFixed(2)} | ${((paced / 20) * 100).toFixed(0)}% |`,
  );
}

/** Main-thread busy share and process CPU share (per 100 streams) for `n` streams fed in real time. */
async function threadShare(resampling: Resampling, n: number): Promise<{ main: number; process: number }> {
  const piece = input.subarray(0, IN / 50);
  let outSamples = 0;
  const streams = Array.from({ length: n }, () => resampling.open(IN, 8000, (s) => (outSamples += s.length))!);
  const tick = () => {
    for (const s of streams) s.push(piece);
  };
  for (let i = 0; i < 10; i++) tick(); // warm
  await new Promise((r) => setTimeout(r, 200));
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    let ticks = 0;
    const timer = setInterval(() => {
      tick();
      if (++ticks === 150) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
  await new Promise((r) => setTimeout(r, 100)); // the worker's last outputs
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  for (const s of streams) s.drop();
  if (outSamples === 0) throw new Error('no output');
  const per100 = 100 / n;
  return { main: elu.utilization * 100 * per100, process: ((cpu.user + cpu.system) / 1000 / wall) * 100 * per100 };
}

console.log('\nInline vs DSP worker, 24 → 8 kHz, 20 ms every 20 ms for 3 s; % of a core per 100 streams');
console.log('| converter | streams | inline: main thread | inline: process | worker: main thread | worker: process |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const name of NAMES.filter((n) => n === 'SINC_FASTEST' || n === 'SPEEX_3')) {
  const n = name.startsWith('SPEEX_') ? CALLS : Math.min(CALLS, 100);
  const pools = new ResamplerPools({ converter: name, max: n + 1 });
  await pools.warm([[IN, 8000, n]]);
  const inline = await threadShare(new InlineResampling(pools), n);
  pools.destroy();
  const worker = new WorkerResampling({ converter: name, warm: [[IN, 8000, n]], max: n + 1, logger: silentLogger() });
  await worker.ready();
  const off = await threadShare(worker, n);
  await worker.close();
  const f = (x: number) => `${x.toFixed(2)}%`;
  console.log(`| ${name} | ${n} | ${f(inline.main)} | ${f(inline.process)} | ${f(off.main)} | ${f(off.process)} |`);
}

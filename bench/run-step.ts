/**
 * One bench step: a fresh callbridge and load generator, N calls placed and warmed up, then measured over the hold
 * window from callbridge's /metrics and the emulator, and judged against the targets.
 */
import os from 'node:os';
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReconnectStats } from './loadgen.ts';
import { args } from './run-args.ts';
import { startCallbridge, stopCallbridge } from './run-callbridge.ts';
import { initLoadgen, Loadgens, type LoadgenRun } from './run-loadgens.ts';
import { ms, type Scrape, scrape } from './run-metrics.ts';
import { loadConfig } from '../src/config.ts';

export const TARGETS = {
  eventLoopP99Ms: 10,
  ingestP99Ms: 5,
  firstCommandP99Ms: 5,
  bargeInP99Ms: 5,
  rssPerCallMb: 1,
  silenceShareP99: 0.01,
};

/** callbridge's own STREAM_FRAME_MS default (late-frame threshold when the run does not set one). */
const DEFAULT_FRAME_MS = loadConfig({ GOOGLE_API_KEY: 'bench' }).STREAM_FRAME_MS;

export interface StepResult {
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

export async function runStep(calls: number, reconnectEveryS = 0): Promise<StepResult> {
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
    // Pause time of every kind summed: what GC took from callbridge's loop in the window.
    const gcSum = (m: Scrape) =>
      ['major', 'minor', 'incremental', 'weakcb'].reduce(
        (t, k) => t + (m.get(`nodejs_gc_duration_seconds_sum{kind="${k}"}`) ?? 0),
        0,
      );
    const gcMsPerS = ((gcSum(b) - gcSum(a)) * 1000) / wall;
    console.log(
      `  gc count/over 10 ms: ${gcOver10.join(', ')}; paused ${gcMsPerS.toFixed(1)} ms/s; heap used ${((b.get('nodejs_heap_size_used_bytes') ?? 0) / 1e6).toFixed(0)} MB`,
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
    await stopCallbridge(cb);
    await lg.stop();
  }
}

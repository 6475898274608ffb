/**
 * Silero VAD cost per talking call: N barge-in detectors, armed (as while the agent speaks), each fed the
 * caller's speech as 20 ms frames every 20 ms (8 kHz), the calls' frame clocks spread over the 20 ms like
 * independent calls. Reports the process CPU (user + system) per call as a share of one core, and the
 * detectors' windows, drops and barge-ins.
 *
 *   node bench/vad.ts [--calls 40] [--seconds 15]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BargeInDetector } from '../src/media/barge-in.ts';
import { loadSileroModel } from '../src/media/silero-model.ts';

const { values: args } = parseArgs({
  options: { calls: { type: 'string', default: '40' }, seconds: { type: 'string', default: '15' } },
});
const calls = Number(args.calls);
const seconds = Number(args.seconds);
const speech = readFileSync(new URL('../test/fixtures/speech-8k.raw', import.meta.url));
const FRAME = 320;
const frames: Buffer[] = [];
for (let off = 0; off + FRAME <= speech.length; off += FRAME) frames.push(speech.subarray(off, off + FRAME));

const model = await loadSileroModel();
let bargeIns = 0;
const detectors = Array.from({ length: calls }, () => {
  const d = new BargeInDetector(model, { sampleRate: 8000, minSpeechMs: 200 }, () => {
    bargeIns++;
    d.arm(); // keep it running: the agent keeps talking in this bench
  });
  d.arm();
  return d;
});

const timers: NodeJS.Timeout[] = [];
let sent = 0;
const start = (i: number) => {
  let n = i * 7; // each call somewhere else in the speech
  timers.push(
    setInterval(() => {
      detectors[i]!.push(frames[n++ % frames.length]!);
      sent++;
    }, 20),
  );
};
for (let i = 0; i < calls; i++) setTimeout(() => start(i), (20 * i) / calls);

await new Promise((r) => setTimeout(r, 3000)); // warm-up
const w0 = detectors.reduce((s, d) => s + d.stats.windows, 0);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const cpu = process.cpuUsage(cpu0);
const wall = (performance.now() - t0) / 1000;
const windows = detectors.reduce((s, d) => s + d.stats.windows, 0) - w0;
const dropped = detectors.reduce((s, d) => s + d.stats.dropped, 0);
for (const t of timers) clearInterval(t);
for (const d of detectors) d.close();
const cpuSec = (cpu.user + cpu.system) / 1e6;
console.log(
  `${calls} calls, ${wall.toFixed(1)} s: CPU ${cpuSec.toFixed(2)} s = ${((cpuSec / wall) * 100).toFixed(1)}% of a core, ` +
    `${((cpuSec / wall / calls) * 100).toFixed(3)}% per call; ${windows} windows (${((cpu.user + cpu.system) / windows).toFixed(1)} µs CPU each), ` +
    `${dropped} dropped, ${bargeIns} barge-ins, ${sent} frames; load average ${(await import('node:os'))
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
);
process.exit(0);

/** `--reconnect-every N`: what retiring every Gemini Live connection N s after its setup costs the calls. */
import { writeFile } from 'node:fs/promises';
import { args } from './run-args.ts';
import { resultsFile } from './run-report.ts';
import { runStep } from './run-step.ts';

/** Targets of the reconnect mode: no caller frame lost, no audible gap in queued audio, switched within 1 s. */
const RECONNECT_TARGETS = { replyGapMs: 40, resumeP99Ms: 1000 };

/** --reconnect-every N: each step without reconnects, then with; the CPU difference is the reconnects' cost. */
export async function reconnectBench(everyS: number): Promise<void> {
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
  const file = resultsFile('reconnect');
  await writeFile(file, JSON.stringify({ args, targets: RECONNECT_TARGETS, out }, null, 2));
  console.log(`results: ${file}`);
}

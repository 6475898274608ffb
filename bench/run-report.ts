/** What the bench prints and keeps: a step's table row, and where each run's JSON goes in bench/results/. */
import { join } from 'node:path';
import { ROOT } from './run-args.ts';
import type { StepResult } from './run-step.ts';

/** bench/results/<kind>-<ISO time>.json, e.g. bench-2026-12-06T17-53-53-888Z.json. */
export const resultsFile = (kind: string) =>
  join(ROOT, `bench/results/${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);

export function row(r: StepResult): string {
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

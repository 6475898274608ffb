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
 *
 * Here: the modes and the table. Options and help in run-args.ts, one step in run-step.ts, the processes in
 * run-loadgens.ts and run-callbridge.ts, /metrics in run-metrics.ts, row and result files in run-report.ts,
 * --churn in run-churn.ts, --reconnect-every in run-reconnect.ts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { args, HELP, ROOT, WHOLE_STACK } from './run-args.ts';
import { churn } from './run-churn.ts';
import { reconnectBench } from './run-reconnect.ts';
import { resultsFile, row } from './run-report.ts';
import { runStep, TARGETS, type StepResult } from './run-step.ts';

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
  const file = resultsFile('bench');
  await writeFile(file, JSON.stringify({ machine, args, targets: TARGETS, results, best }, null, 2));
  console.log(`results: ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/** `--churn N`: callbridge's memory, handles and playback files after N short calls (leak check). */
import { readdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { args } from './run-args.ts';
import { startCallbridge, stopCallbridge } from './run-callbridge.ts';
import { initLoadgen, Loadgens } from './run-loadgens.ts';
import { scrape, type Scrape } from './run-metrics.ts';
import { resultsFile } from './run-report.ts';

/** --churn N: memory after N short calls must come back to the idle figure; no file may be left. */
export async function churn(total: number): Promise<void> {
  const lg = new Loadgens(1);
  await lg.ready;
  const cb = await startCallbridge(await initLoadgen(lg));
  try {
    await sleep(2000);
    const idle = await scrape(cb.port);
    const t0 = performance.now();
    // Two halves: memory that keeps growing from the first half to the second is a leak; a pool that grew
    // once (converters, buffers) is not.
    const half = Math.floor(total / 2);
    const r1 = await lg.call<{ done: number; left: number }>({
      cmd: 'churn',
      calls: half,
      concurrency: Number(args.concurrency),
    });
    await sleep(5000);
    const mid = await scrape(cb.port);
    // A heap snapshot runs a full GC first: comparing the two halves' snapshots tells garbage from a leak.
    if (args['heap-snapshot']) {
      cb.proc.kill('SIGUSR2');
      await sleep(15000);
    }
    const r2 = await lg.call<{ done: number; left: number }>({
      cmd: 'churn',
      calls: total - half,
      concurrency: Number(args.concurrency),
    });
    const r = { done: r1.done + r2.done };
    const secs = (performance.now() - t0) / 1000;
    const busy = await scrape(cb.port);
    await sleep(10000); // let timers run out and the GC catch up
    const after = await scrape(cb.port);
    if (args['heap-snapshot']) {
      cb.proc.kill('SIGUSR2');
      await sleep(15000);
    }
    console.log(
      `after the first ${half} calls: RSS ${((mid.get('process_resident_memory_bytes') ?? 0) / 1e6).toFixed(1)} MB, JS heap ${((mid.get('nodejs_heap_size_used_bytes') ?? 0) / 1e6).toFixed(1)} MB`,
    );
    const mb = (s: Scrape, k: string) => ((s.get(k) ?? 0) / 1e6).toFixed(1);
    const files = (await readdir(cb.dir)).filter((f) => f !== 'data').length;
    console.log(
      `${r.done} calls in ${secs.toFixed(0)} s (${args.concurrency} at a time), ${after.get('callbridge_calls_active')} still active, ${files} playback files left`,
    );
    console.log(
      `RSS MB: idle ${mb(idle, 'process_resident_memory_bytes')}, right after ${mb(busy, 'process_resident_memory_bytes')}, 10 s later ${mb(after, 'process_resident_memory_bytes')}`,
    );
    console.log(
      `JS heap used MB: idle ${mb(idle, 'nodejs_heap_size_used_bytes')}, right after ${mb(busy, 'nodejs_heap_size_used_bytes')}, 10 s later ${mb(after, 'nodejs_heap_size_used_bytes')}`,
    );
    console.log(
      `handles: idle ${idle.get('nodejs_active_handles_total')}, 10 s later ${after.get('nodejs_active_handles_total')}`,
    );
    await writeFile(
      resultsFile('churn'),
      JSON.stringify({ total, secs, files, idle: Object.fromEntries(idle), after: Object.fromEntries(after) }, null, 2),
    );
  } finally {
    await stopCallbridge(cb);
    await lg.stop();
  }
}

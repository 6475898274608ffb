/**
 * The bench's command line (`node bench/run.ts --help`), its help text, and where its processes run: the repository
 * root, this node, and `taskset` CPU pinning.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';

// --whole-stack hands the command line to bench/whole-stack.ts, which has options of its own
export const WHOLE_STACK = process.argv.includes('--whole-stack');
export const { values: args } = parseArgs({
  args: WHOLE_STACK ? [] : process.argv.slice(2),
  options: {
    steps: { type: 'string', default: '50,100,200,400,600,800' },
    hold: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    repeats: { type: 'string', default: '1' },
    'reply-ms': { type: 'string', default: '2000' },
    // how the Gemini fake streams each reply: burst (4× real time) or realtime (as a model streams a long answer)
    'reply-pace': { type: 'string', default: 'burst' },
    'barge-in': { type: 'string', default: '0.2' },
    churn: { type: 'string' },
    'keep-going': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    'heap-snapshot': { type: 'boolean', default: false },
    idle: { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
    // flags for callbridge's node, e.g. --node-flag=--trace-gc (NODE_OPTIONS refuses some); its stdout is shown then
    'node-flag': { type: 'string', multiple: true, default: [] },
    // the same for the load generator's processes (e.g. --loadgen-node-flag=--trace-gc to see its GC pauses)
    'loadgen-node-flag': { type: 'string', multiple: true, default: [] },
    cascade: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '50' },
    'reconnect-every': { type: 'string', default: '0' },
    // load generator processes: 1 (emulator and vendor fakes together) or 2 (the emulator apart from the fakes)
    'loadgen-procs': { type: 'string', default: '1' },
    'callbridge-cpu': { type: 'string', default: '0' },
    'loadgen-cpu': { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

export const HELP = `node bench/run.ts [options]   (npm run build first: the bench runs dist/main.js)
  --steps 50,100,200       concurrent calls per step (stops at the first failing step unless --keep-going)
  --hold 20 --warmup 5     seconds measured per step, after a warm-up
  --repeats 1              runs per step (the median by CPU stands for it)
  --reply-ms 2000          length of each Gemini Live reply
  --reply-pace burst       burst (4× real time) or realtime (as a model streams a long answer)
  --barge-in 0.2           share of turns the caller talks over
  --idle                   callers stream but never speak
  --cascade                Deepgram → Gemini → Cartesia instead of Gemini Live
  --env K=V                extra environment for callbridge (repeatable), e.g. --env STREAM_FRAME_MS=20
  --node-flag F            a flag for callbridge's node (repeatable)
  --loadgen-node-flag F    a flag for the load generator processes' node (repeatable)
  --cpu-prof               profile callbridge (bench/results/); LOADGEN_PROF=1 profiles the load generator
  --heap-snapshot          heap snapshot half-way through the hold (SIGUSR2)
  --loadgen-procs 1|2      2: the FreeSWITCH emulator and the vendor fakes in separate processes
  --callbridge-cpu 0 --loadgen-cpu 1   taskset pinning (a CPU or a list); --no-pin leaves callbridge unpinned;
                           --loadgen-cpu 0,1 lets the load generator use what callbridge leaves of its CPU
  --churn N [--concurrency 50]         memory after N short calls (leak check)
  --reconnect-every N      Gemini Live connections retired every N s (reconnect bench)
  --whole-stack ...        a real FreeSWITCH with SIPp callers: node bench/run.ts --whole-stack --help
Late caller frames are split "cb/lg": callbridge's, and the load generator's (seen while one of its processes
had stalled > 10 ms); lgLag is the load generator's own event-loop p99 (ms), load the 1-minute load average.`;

export const ROOT = new URL('..', import.meta.url).pathname;
export const NODE = process.execPath;
/** `taskset -c <cpus>`: one CPU ("1") or a list ("0,1"); checked so a typo fails here, not as a bench of nothing. */
export const pin = (cpus: string, cmd: string[]) => {
  if (!/^\d+(,\d+)*$/.test(cpus)) throw new Error(`not a CPU list: ${cpus}`);
  return os.cpus().length > 1 ? ['taskset', '-c', cpus, ...cmd] : cmd;
};

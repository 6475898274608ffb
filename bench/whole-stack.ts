/**
 * `node bench/run.ts --whole-stack`: the whole stack's cost per talking call, FreeSWITCH's CPU beside callbridge's.
 *
 * A REAL FreeSWITCH (mod_audio_stream loaded, a dialplan extension that sets `callbridge=1` and parks, ESL
 * reachable) takes SIPp callers (Debian's sip-tester, bench/sipp/uac-speech.xml: PCMU, recorded speech streamed
 * as RTP in a loop); a callbridge started here (dist/main.js) drives the calls against the Gemini Live fake (the
 * load generator's vendors role, bench/loadgen.ts). Over the hold window both processes' CPU is read from
 * /proc/<pid>/stat (utime + stime): FreeSWITCH's pid by --fs-pid or by name (--fs-name, default freeswitch),
 * which therefore must run on this machine (or in a container whose pid this machine sees).
 *
 *   FREESWITCH_ESL_PASSWORD=... node bench/run.ts --whole-stack --sip 127.0.0.1:5080 --number 5000 \
 *     --calls 100 --rate 10 --hold 30 --reply-pace realtime --compare '' --compare PLAYBACK_FORMAT=wav
 *   node bench/run.ts --whole-stack --dry-run   # no FreeSWITCH: options, the WAV, SIPp's scenario against SIPp's own UAS
 *
 * Each --compare is one pass with that callbridge environment (K=V[,K=V]; '' = the defaults), so settings that move
 * FreeSWITCH's share (PLAYBACK_FORMAT, STREAM_FRAME_MS, ...) can be compared on the sum.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import alawmulaw from 'alawmulaw';

const ROOT = new URL('..', import.meta.url).pathname;
const RESULTS = join(ROOT, 'bench/results');
const SCENARIO = join(ROOT, 'bench/sipp/uac-speech.xml');
const HELP = `node bench/run.ts --whole-stack [options]   (npm run build first)
  --esl-host 127.0.0.1 --esl-port 8021   FreeSWITCH's ESL (password: FREESWITCH_ESL_PASSWORD, default ClueCon)
  --sip 127.0.0.1:5060     FreeSWITCH's SIP profile that SIPp calls
  --number callbridge      the called number: a dialplan extension that sets callbridge=1 and parks
  --local-ip 127.0.0.1     SIPp's address (SIP and RTP)
  --ws-host 127.0.0.1      the address FreeSWITCH reaches callbridge at (mod_audio_stream); not loopback: callbridge
                           listens on 0.0.0.0 with ALLOW_INSECURE_API=true (a bench on a closed network only)
  --calls 100 --rate 10    concurrent calls, placed at this many per second
  --warmup 10 --hold 30    seconds after the calls are up, then the measured window
  --reply-ms 2000 --reply-pace burst|realtime --barge-in 0   the Gemini Live fake's replies
  --compare K=V[,K=V]      one pass per --compare with that callbridge environment ('' = defaults; repeatable)
  --fs-pid N | --fs-name freeswitch     FreeSWITCH's process (for its CPU)
  --sipp sipp              the SIPp binary
  --dry-run                no FreeSWITCH: check the options, write the WAV, run the scenario once against SIPp's UAS`;

interface Options {
  eslHost: string;
  eslPort: number;
  sip: string;
  number: string;
  localIp: string;
  wsHost: string;
  calls: number;
  rate: number;
  warmupS: number;
  holdS: number;
  replyMs: number;
  replyPace: 'burst' | 'realtime';
  bargeIn: number;
  compare: Record<string, string>[];
  fsPid?: number;
  fsName: string;
  sipp: string;
  dryRun: boolean;
}

export function parseWholeStackArgs(argv: string[]): Options | 'help' {
  const { values: a } = parseArgs({
    args: argv.filter((x) => x !== '--whole-stack'),
    options: {
      'esl-host': { type: 'string', default: '127.0.0.1' },
      'esl-port': { type: 'string', default: '8021' },
      sip: { type: 'string', default: '127.0.0.1:5060' },
      number: { type: 'string', default: 'callbridge' },
      'local-ip': { type: 'string', default: '127.0.0.1' },
      'ws-host': { type: 'string', default: '127.0.0.1' },
      calls: { type: 'string', default: '100' },
      rate: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '10' },
      hold: { type: 'string', default: '30' },
      'reply-ms': { type: 'string', default: '2000' },
      'reply-pace': { type: 'string', default: 'burst' },
      'barge-in': { type: 'string', default: '0' },
      compare: { type: 'string', multiple: true, default: [] },
      'fs-pid': { type: 'string' },
      'fs-name': { type: 'string', default: 'freeswitch' },
      sipp: { type: 'string', default: 'sipp' },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (a.help) return 'help';
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, not ${v}`);
    return n;
  };
  const hostPort = /^[A-Za-z0-9.-]+:\d{1,5}$/;
  if (!hostPort.test(a.sip)) throw new Error(`--sip must be host:port, not ${a.sip}`);
  // The number goes into SIPp's -s and the INVITE's request URI: a SIP user part, nothing else.
  if (!/^[A-Za-z0-9_.+-]{1,64}$/.test(a.number))
    throw new Error('--number must be a SIP user part (letters, digits, _.+-)');
  for (const h of [a['esl-host'], a['local-ip'], a['ws-host']])
    if (!/^[A-Za-z0-9.:-]+$/.test(h)) throw new Error(`not a host: ${h}`);
  if (a['reply-pace'] !== 'burst' && a['reply-pace'] !== 'realtime')
    throw new Error('--reply-pace is burst or realtime');
  const compare = (a.compare.length ? a.compare : ['']).map((c) =>
    Object.fromEntries(
      c
        .split(',')
        .filter(Boolean)
        .map((kv) => {
          const i = kv.indexOf('=');
          if (i < 1 || !/^[A-Z][A-Z0-9_]*$/.test(kv.slice(0, i))) throw new Error(`--compare wants K=V, not ${kv}`);
          return [kv.slice(0, i), kv.slice(i + 1)];
        }),
    ),
  );
  return {
    eslHost: a['esl-host'],
    eslPort: int('esl-port', a['esl-port'], 1),
    sip: a.sip,
    number: a.number,
    localIp: a['local-ip'],
    wsHost: a['ws-host'],
    calls: int('calls', a.calls, 1),
    rate: int('rate', a.rate, 1),
    warmupS: int('warmup', a.warmup, 0),
    holdS: int('hold', a.hold, 1),
    replyMs: int('reply-ms', a['reply-ms'], 100),
    replyPace: a['reply-pace'],
    bargeIn: Number(a['barge-in']),
    compare,
    ...(a['fs-pid'] ? { fsPid: int('fs-pid', a['fs-pid'], 1) } : {}),
    fsName: a['fs-name'],
    sipp: a.sipp,
    dryRun: a['dry-run'],
  };
}

/** The caller's speech as a µ-law WAV (what rtp_stream plays as payload type 0), in `dir`. */
async function writeSpeechWav(dir: string): Promise<string> {
  const raw = readFileSync(join(ROOT, 'test/fixtures/speech-8k.raw'));
  const data = Buffer.from(alawmulaw.mulaw.encode(new Int16Array(raw.buffer, raw.byteOffset, raw.length >> 1)));
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(7, 20); // WAVE_FORMAT_MULAW
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(8000, 28);
  h.writeUInt16LE(1, 32);
  h.writeUInt16LE(8, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  const file = join(dir, 'speech-ulaw.wav');
  await writeFile(file, Buffer.concat([h, data]));
  return file;
}

/** SIPp must stream RTP from a file: Debian's build says so in its version (…-RTPSTREAM). */
function checkSipp(bin: string): string {
  let v: string;
  try {
    v = execFileSync(bin, ['-v'], { encoding: 'utf8', timeout: 5000 });
  } catch (err) {
    // sipp -v exits 99 after printing its version
    v = String((err as { stdout?: string }).stdout ?? '');
  }
  const version = /SIPp v[^\s]+/.exec(v)?.[0]?.replace(/\.$/, '');
  if (!version) throw new Error(`${bin} -v printed no SIPp version: install sip-tester (apt-get install sip-tester)`);
  if (!version.includes('RTPSTREAM')) throw new Error(`${version} was built without RTPSTREAM (rtp_stream)`);
  return version;
}

function sippArgs(o: Options, target: string, calls: number, durationMs: number, extra: string[] = []): string[] {
  return [
    target,
    '-sf',
    SCENARIO,
    '-s',
    o.number,
    '-i',
    o.localIp,
    '-d',
    String(durationMs),
    '-m',
    String(calls),
    '-l',
    String(calls),
    '-r',
    String(o.rate),
    '-nostdin',
    '-trace_err',
    ...extra,
  ];
}

function runSipp(bin: string, args: string[], cwd: string): ChildProcess {
  return spawn(bin, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

const exited = (p: ChildProcess, ms: number) =>
  new Promise<number | null>((resolve) => {
    if (p.exitCode !== null) return resolve(p.exitCode);
    const t = setTimeout(() => resolve(null), ms);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });

/** --dry-run: SIPp's own UAS answers one call of the scenario, RTP stream included; no FreeSWITCH needed. */
async function dryRun(o: Options, dir: string): Promise<void> {
  const port = await freePort('udp');
  const uas = spawn(o.sipp, ['-sn', 'uas', '-i', '127.0.0.1', '-p', String(port), '-nostdin'], {
    cwd: dir,
    stdio: 'ignore',
  });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const uac = runSipp(
      o.sipp,
      sippArgs({ ...o, localIp: '127.0.0.1', rate: 1 }, `127.0.0.1:${port}`, 1, 2000, [
        '-timeout',
        '15s',
        '-timeout_error',
      ]),
      dir,
    );
    const code = await exited(uac, 20_000);
    if (code !== 0) throw new Error(`the scenario failed against SIPp's UAS (sipp exit ${code}); see ${dir}`);
    console.log(`scenario ok: one call (INVITE, 200, ACK, rtp_stream of speech-ulaw.wav, BYE) against SIPp's UAS`);
  } finally {
    uas.kill('SIGTERM');
    await exited(uas, 5000);
  }
}

async function freePort(kind: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const dgram = await import('node:dgram');
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    const port = s.address().port;
    s.close();
    return port;
  }
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after "pid (comm) ": field 3 onwards
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (fields 14, 15) in USER_HZ = 100
}

export function findPid(name: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === name) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** The Gemini Live fake, as the load generator's vendors role. */
async function startFake(o: Options): Promise<{ proc: ChildProcess; geminiUrl: string }> {
  const proc = fork(join(ROOT, 'bench/loadgen.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((r) => proc.once('message', r));
  const r = await new Promise<{ result?: { geminiUrl: string }; error?: string }>((resolve) => {
    proc.once('message', (m) => resolve(m as { result?: { geminiUrl: string } }));
    proc.send({
      id: 1,
      cmd: 'init',
      role: 'vendors',
      replyMs: o.replyMs,
      bargeInShare: o.bargeIn,
      cascade: false,
      replyPace: o.replyPace,
    });
  });
  if (!r.result) throw new Error(`Gemini Live fake: ${r.error}`);
  return { proc, geminiUrl: r.result.geminiUrl };
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
}

async function pass(o: Options, env: Record<string, string>, fsPid: number, dir: string): Promise<unknown> {
  const fake = await startFake(o);
  const port = await freePort();
  const playback = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'callbridge-ws-'));
  const open = o.wsHost !== '127.0.0.1' && o.wsHost !== 'localhost';
  const cb = spawn(process.execPath, [join(ROOT, 'dist/main.js')], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      LOG_LEVEL: 'warn',
      HTTP_HOST: open ? '0.0.0.0' : '127.0.0.1',
      ...(open ? { ALLOW_INSECURE_API: 'true' } : {}),
      HTTP_PORT: String(port),
      CALLBRIDGE_WS_URL: `ws://${o.wsHost}:${port}`,
      PLAYBACK_DIR: playback,
      FREESWITCH_ESL_HOST: o.eslHost,
      FREESWITCH_ESL_PORT: String(o.eslPort),
      GOOGLE_API_KEY: 'bench',
      GEMINI_BASE_URL: fake.geminiUrl,
      ...env,
    },
  });
  const sipp = { proc: undefined as ChildProcess | undefined };
  try {
    for (let i = 0; ; i++) {
      const h = await fetch(`http://127.0.0.1:${port}/health`)
        .then((r) => r.json() as Promise<{ esl: string }>)
        .catch(() => undefined);
      if (h?.esl === 'connected') break;
      if (i > 100) throw new Error('callbridge did not connect to FreeSWITCH ESL in 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const durationMs = (o.calls / o.rate + o.warmupS + o.holdS + 10) * 1000;
    sipp.proc = runSipp(o.sipp, sippArgs(o, o.sip, o.calls, durationMs), dir);
    const t0 = Date.now();
    while ((await metric(port, 'callbridge_calls_active')) < o.calls) {
      if (Date.now() - t0 > (o.calls / o.rate + 30) * 1000) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const active = await metric(port, 'callbridge_calls_active');
    await new Promise((r) => setTimeout(r, o.warmupS * 1000));
    // CPU each second: the mean over the window, and the worst second (bursts when replies arrive)
    const pids = { freeswitch: fsPid, callbridge: cb.pid! };
    const first = { freeswitch: cpuSeconds(fsPid), callbridge: cpuSeconds(cb.pid!) };
    let last = { ...first };
    const peak = { freeswitch: 0, callbridge: 0, sum: 0 };
    const w0 = performance.now();
    for (let s = 0; s < o.holdS; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = { freeswitch: cpuSeconds(pids.freeswitch), callbridge: cpuSeconds(pids.callbridge) };
      const fsPct = (now.freeswitch - last.freeswitch) * 100;
      const cbPct = (now.callbridge - last.callbridge) * 100;
      peak.freeswitch = Math.max(peak.freeswitch, fsPct);
      peak.callbridge = Math.max(peak.callbridge, cbPct);
      peak.sum = Math.max(peak.sum, fsPct + cbPct);
      last = now;
    }
    const wall = (performance.now() - w0) / 1000;
    const fsPct = ((last.freeswitch - first.freeswitch) / wall) * 100;
    const cbPct = ((last.callbridge - first.callbridge) / wall) * 100;
    const loopP99 = (await metric(port, 'callbridge_event_loop_delay_seconds{quantile="0.99"}')) * 1000;
    const r = {
      env,
      calls: active,
      freeswitchPct: fsPct,
      callbridgePct: cbPct,
      sumPct: fsPct + cbPct,
      sumPerCallPct: (fsPct + cbPct) / active,
      peak,
      callbridgeLoopP99Ms: loopP99,
      loadAverage: os.loadavg()[0]!,
    };
    const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
    console.log(
      `${(
        Object.entries(env)
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || 'defaults'
      ).padEnd(
        30,
      )} ${String(active).padStart(5)} ${f(fsPct).padStart(7)} ${f(cbPct).padStart(7)} ${f(r.sumPct).padStart(7)} ${f(r.sumPerCallPct, 3).padStart(8)}  ${f(peak.freeswitch, 0)}/${f(peak.callbridge, 0)}/${f(peak.sum, 0)}  ${f(loopP99)}  ${f(r.loadAverage, 2)}`,
    );
    return r;
  } finally {
    sipp.proc?.kill('SIGINT'); // SIPp ends its calls (BYE) and exits
    if (sipp.proc && (await exited(sipp.proc, 15_000)) === null) sipp.proc.kill('SIGKILL');
    cb.kill('SIGTERM');
    await exited(cb, 10_000);
    fake.proc.send({ id: 2, cmd: 'stop' });
    await exited(fake.proc, 5000);
    await rm(playback, { recursive: true, force: true });
  }
}

export async function wholeStack(argv: string[]): Promise<void> {
  const o = parseWholeStackArgs(argv);
  if (o === 'help') return void console.log(HELP);
  const version = checkSipp(o.sipp);
  await mkdir(RESULTS, { recursive: true });
  const dir = await mkdtemp(join(RESULTS, 'whole-stack-'));
  await writeSpeechWav(dir);
  console.log(`${version}; scenario ${SCENARIO}; SIPp runs in ${dir}`);
  if (o.dryRun) return dryRun(o, dir);
  const fsPid = o.fsPid ?? findPid(o.fsName);
  if (!fsPid || !existsSync(`/proc/${fsPid}/stat`))
    throw new Error(`no FreeSWITCH process (${o.fsPid ? `pid ${o.fsPid}` : `name ${o.fsName}`}) on this machine`);
  if (!existsSync(join(ROOT, 'dist/main.js'))) throw new Error('dist/main.js is missing: npm run build first');
  console.log(
    `whole stack: ${o.calls} SIPp calls to ${o.number}@${o.sip}, FreeSWITCH pid ${fsPid}, replies ${o.replyMs} ms ${o.replyPace}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load average ${os.loadavg()[0]!.toFixed(2)}`,
  );
  console.log(
    'callbridge env                 calls  fs%     cb%     sum%   sum%/call  peak fs/cb/sum %  cb loop p99 ms  load',
  );
  const results = [];
  for (const env of o.compare) results.push(await pass(o, env, fsPid, dir));
  const file = join(RESULTS, `whole-stack-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ options: o, results }, null, 2));
  console.log(`results: ${file}`);
}

/**
 * What WebSocket masking costs callbridge per call, with ws's JavaScript fallback and with bufferutil (native):
 * every mod_audio_stream frame arrives masked (unmask) and every caller-audio message to Gemini Live leaves
 * masked (mask). Runs itself twice, once with WS_NO_BUFFER_UTIL=1 (what ws does without bufferutil).
 *
 *   node bench/ws-masking.ts [--frame-ms 60] [--calls 500]
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    'frame-ms': { type: 'string', default: '60' },
    calls: { type: 'string', default: '500' },
    child: { type: 'boolean', default: false },
  },
});
const frameMs = Number(args['frame-ms']);
const calls = Number(args.calls);
// A frame of 16 kHz L16 from FreeSWITCH, and the same audio as Gemini Live's realtimeInput JSON (base64).
const frameBytes = (16000 * 2 * frameMs) / 1000;
const messageBytes = Math.ceil(frameBytes / 3) * 4 + 80;

if (args.child) {
  const require = createRequire(import.meta.url);
  const ws = require(join(dirname(require.resolve('ws')), 'lib/buffer-util.js')) as {
    mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
    unmask(buffer: Buffer, mask: Buffer): void;
  };
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const frame = Buffer.alloc(frameBytes, 3);
  const message = Buffer.alloc(messageBytes, 65);
  const out = Buffer.alloc(messageBytes + 14);
  const round = () => {
    ws.unmask(frame, key);
    ws.mask(message, key, out, 14, message.length);
  };
  for (let i = 0; i < 20_000; i++) round(); // warm up (optimised code)
  const n = 200_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) round();
  const usPerFrame = Number(process.hrtime.bigint() - t0) / n / 1000;
  console.log(JSON.stringify({ usPerFrame }));
} else {
  const self = fileURLToPath(import.meta.url);
  const run = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, [self, '--child', '--frame-ms', String(frameMs), '--calls', String(calls)], {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr || r.error?.message}`);
    return (JSON.parse(r.stdout) as { usPerFrame: number }).usPerFrame;
  };
  const fallback = run({ ...process.env, WS_NO_BUFFER_UTIL: '1' });
  const native = run(Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'WS_NO_BUFFER_UTIL')));
  const framesPerSecond = (calls * 1000) / frameMs;
  const share = (us: number) => ((us * framesPerSecond) / 1e6) * 100;
  console.log(
    `per caller frame of ${frameMs} ms (unmask ${frameBytes} B in, mask ${messageBytes} B out to Gemini Live):`,
  );
  for (const [name, us] of [
    ['ws, JavaScript', fallback],
    ['ws + bufferutil', native],
  ] as const)
    console.log(`  ${name.padEnd(16)} ${us.toFixed(2)} µs; at ${calls} calls ${share(us).toFixed(1)}% of a core`);
}

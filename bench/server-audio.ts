/**
 * What one message of model audio costs callbridge before its PCM reaches the playout: the SDK's way (what
 * @google/genai's handleWebSocketMessage does with each frame: decode the bytes to a string, JSON.parse, an
 * async handler, copy onto a LiveServerMessage) against server-audio.ts's recognition of the bytes; both then
 * decode the base64 as live-turns.ts does.
 *
 *   node bench/server-audio.ts [--chunk-ms 40] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { LiveServerMessage } from '@google/genai';
import { serverAudioMessage } from '../src/agents/gemini-live/server-audio.ts';

const { values: args } = parseArgs({
  options: { 'chunk-ms': { type: 'string', default: '40' }, rounds: { type: 'string', default: '5' } },
});
const pcm = Buffer.alloc((24000 * 2 * Number(args['chunk-ms'])) / 1000, 7);
const frame = Buffer.from(
  JSON.stringify({
    serverContent: {
      modelTurn: { parts: [{ inlineData: { mimeType: 'audio/pcm;rate=24000', data: pcm.toString('base64') } }] },
    },
  }),
);

let decoded = 0;
function take(msg: LiveServerMessage | undefined): void {
  for (const p of msg?.serverContent?.modelTurn?.parts ?? [])
    decoded += Buffer.from(p.inlineData!.data!, 'base64').length;
}
async function sdkWay(data: Buffer): Promise<void> {
  const msg = new LiveServerMessage();
  Object.assign(msg, JSON.parse(data.toString()));
  take(msg);
}
function recognised(data: Buffer): void {
  take(serverAudioMessage(data));
}

async function perMessageUs(fn: (b: Buffer) => unknown): Promise<number> {
  const n = 100_000;
  for (let i = 0; i < 10_000; i++) fn(frame);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(frame);
  await new Promise((r) => setImmediate(r)); // let the async handlers' promises settle inside the timing
  return Number(process.hrtime.bigint() - t0) / n / 1000;
}

const sdk: number[] = [];
const fast: number[] = [];
for (let r = 0; r < Number(args.rounds); r++) {
  sdk.push(await perMessageUs(sdkWay));
  fast.push(await perMessageUs(recognised));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`model audio message of ${args['chunk-ms']} ms (${frame.length} bytes), median of ${args.rounds} rounds:`);
console.log(`  SDK way      ${median(sdk).toFixed(2)} µs per message`);
console.log(`  recognised   ${median(fast).toFixed(2)} µs per message`);
if (decoded === 0) throw new Error('nothing decoded');

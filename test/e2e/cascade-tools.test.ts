/**
 * Tools on a cascade call, end to end: callbridge with TOOLS_FILE declaring a webhook tool, the Gemini text
 * fake calling it, the session running it against a local webhook server, and the answer going back to the
 * model, whose continued reply the caller hears.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CartesiaFake, DeepgramFake, GeminiTextFake } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

const speech = readFileSync(new URL('../fixtures/speech-8k.raw', import.meta.url));
const SHORT = new Int16Array(speech.buffer, speech.byteOffset, speech.length >> 1).subarray(0, 9600);

test('a cascade call: the model calls a webhook tool, its answer goes back, the caller hears the continued reply', async (t) => {
  const hits: { body: any }[] = [];
  const hook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({ body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ free: true, time: '19:00' }));
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'cb-tools-'));
  const toolsFile = join(dir, 'tools.json');
  const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/check`;
  const parameters = { type: 'object', properties: { party: { type: 'integer' } }, required: ['party'] };
  writeFileSync(
    toolsFile,
    JSON.stringify({ tools: [{ name: 'check_table', description: 'Table free?', parameters, url }] }),
  );

  const [dg, gem, cart] = await Promise.all([
    DeepgramFake.start({ apiKey: 'dg', auto: { transcript: 'A table for two tonight?', latencyMs: 40 } }),
    GeminiTextFake.start({ apiKey: 'gk', autoReply: 'Anything else?' }),
    CartesiaFake.start({ apiKey: 'ck', toneHz: 500 }),
  ]);
  const stack = await startStack({
    env: {
      AGENT_PIPELINE: 'cascade',
      GOOGLE_API_KEY: 'gk',
      GEMINI_BASE_URL: gem.baseUrl,
      DEEPGRAM_API_KEY: 'dg',
      DEEPGRAM_BASE_URL: dg.url,
      CARTESIA_API_KEY: 'ck',
      CARTESIA_BASE_URL: cart.baseUrl,
      TOOLS_FILE: toolsFile,
    },
  });
  t.after(async () => {
    await stack.stop();
    await Promise.all([dg.stop(), gem.stop(), cart.stop()]);
    await new Promise<void>((r) => hook.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  gem.script(
    { tokens: ['Let me check. ', { functionCall: { name: 'check_table', args: { party: 2 } } }] },
    { tokens: ['Yes, we have a table at seven.'] },
  );
  const { fs } = stack;
  const call = fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
  await until(() => call.stream?.connected, 5000, 'stream');
  call.say(SHORT, 8000);
  const r1 = await gem.nextRequest(8000);
  assert.ok(r1.functionDeclarations.some((d) => d.name === 'check_table'));
  const r2 = await gem.nextRequest(10000);
  assert.equal(hits.length, 1, 'the webhook ran once');
  assert.match(JSON.stringify(hits[0]!.body), /"party":2/);
  assert.deepEqual(r2.functionResponses, [
    { name: 'check_table', response: { output: { free: true, time: '19:00' } } },
  ]);
  await until(
    () => cart.allContexts().some((c) => c.transcripts.join('').includes('Yes, we have a table at seven.')),
    8000,
    'the continued reply synthesized',
  );
  await until(() => call.heard.length > 0 && call.playbackIdle, 10000, 'reply heard');
  await call.hangup();
});

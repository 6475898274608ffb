import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { googleClient } from '../../src/agents/google-client.ts';
import { LiveSocketCapture } from '../../src/agents/gemini-live/live-socket-capture.ts';

/**
 * A server that would accept permessage-deflate records what each client offers. The SDK's own socket offers it
 * (the control case: proves the check can fail); through LiveSocketCapture the offer is gone.
 */
async function offeredExtensions(capture: boolean): Promise<string | undefined> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const offered = new Promise<string | undefined>((resolve) => {
    wss.once('connection', (ws, req: IncomingMessage) => {
      resolve(req.headers['sec-websocket-extensions']);
      ws.once('message', () => ws.send(JSON.stringify({ setupComplete: {} })));
    });
  });
  const ai = googleClient('test-key', `http://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  if (capture) new LiveSocketCapture(ai, { maxBufferedBytes: 1 << 20 });
  let session: { close(): void } | undefined;
  try {
    session = await ai.live.connect({ model: 'gemini-test', callbacks: { onmessage: () => {} } });
    return await Promise.race([
      offered,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no connection in 5 s')), 5000).unref()),
    ]);
  } finally {
    session?.close();
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  }
}

test("the SDK's own Live socket offers permessage-deflate (what the capture removes)", async () => {
  assert.match((await offeredExtensions(false)) ?? '', /permessage-deflate/);
});

test('a captured Gemini Live socket offers no compression: audio messages are never deflated', async () => {
  assert.equal(await offeredExtensions(true), undefined);
});

import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { DeepgramClient } from '@deepgram/sdk';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { DeepgramStt } from '../../src/agents/cascade/deepgram-stt.ts';

/**
 * A server that would accept permessage-deflate records what each client offers: the SDK's own socket offers it
 * (the control: proves the check can fail); DeepgramStt's does not, so caller audio is never deflated.
 */
async function offered(open: (url: string) => Promise<() => void>): Promise<string | undefined> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const header = new Promise<string | undefined>((resolve) => {
    wss.once('connection', (_ws, req: IncomingMessage) => resolve(req.headers['sec-websocket-extensions'] ?? ''));
  });
  let close: (() => void) | undefined;
  try {
    close = await open(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    const got = await Promise.race([
      header,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no connection in 5 s')), 5000).unref()),
    ]);
    return got === '' ? undefined : got;
  } finally {
    close?.();
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  }
}

test("the Deepgram SDK's own socket offers permessage-deflate (what DeepgramStt takes off)", async () => {
  const got = await offered(async (baseUrl) => {
    const socket = await new DeepgramClient({ apiKey: 'k', baseUrl }).listen.v1.connect({
      model: 'nova-3',
      Authorization: 'Token k',
      reconnectAttempts: 0,
    });
    socket.connect();
    await socket.waitForOpen();
    return () => socket.close();
  });
  assert.match(got ?? '', /permessage-deflate/);
});

test('DeepgramStt offers no compression: caller audio is never deflated', async () => {
  const got = await offered(async (baseUrl) => {
    const stt = new DeepgramStt({
      apiKey: 'k',
      baseUrl,
      model: 'nova-3',
      sampleRate: 8000,
      endpointingMs: 300,
      utteranceEndMs: 1000,
      connectTimeoutMs: 5000,
      logger: pino({ level: 'silent' }),
    });
    await stt.connect({ result() {}, speechStarted() {}, utteranceEnd() {}, lost() {} });
    return () => void stt.close();
  });
  assert.equal(got, undefined);
});

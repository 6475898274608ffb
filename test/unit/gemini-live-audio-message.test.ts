import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { audioMessage, audioMessageBytes } from '../../src/agents/gemini-live/live-audio.ts';
import { VendorSocket, type WsSocket } from '../../src/agents/vendor-socket.ts';

const frame = (n: number) => Buffer.from(Array.from({ length: 1920 }, (_, i) => (i * 31 + n) & 0xff));

test('the caller-audio message built as bytes is the realtimeInput JSON, byte for byte', () => {
  for (const f of [frame(1), frame(2), Buffer.alloc(0), Buffer.from([1, 2, 3, 4])]) {
    const bytes = audioMessageBytes(f);
    assert.equal(bytes.toString('utf8'), audioMessage(f));
    const msg = JSON.parse(bytes.toString('utf8')) as { realtimeInput: { audio: { data: string; mimeType: string } } };
    assert.deepEqual(Buffer.from(msg.realtimeInput.audio.data, 'base64'), f);
    assert.equal(msg.realtimeInput.audio.mimeType, 'audio/pcm;rate=16000');
  }
});

test('caller audio sent as bytes arrives as a text frame with the same text, in order', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const got: { text: string; binary: boolean }[] = [];
  wss.on('connection', (ws) => ws.on('message', (d: Buffer, binary) => got.push({ text: d.toString(), binary })));
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  try {
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const socket = new VendorSocket(ws as unknown as WsSocket, { maxBufferedBytes: 1 << 20 });
    for (let i = 0; i < 3; i++) assert.equal(socket.sendText(audioMessageBytes(frame(i))), 'sent');
    const deadline = Date.now() + 5000;
    while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(
      got,
      [0, 1, 2].map((i) => ({ text: audioMessage(frame(i)), binary: false })),
    );
  } finally {
    ws.terminate();
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { LiveServerMessage } from '@google/genai';
import { WebSocketServer } from 'ws';
import { googleClient } from '../../src/agents/google-client.ts';
import { LiveSocketCapture } from '../../src/agents/gemini-live/live-socket-capture.ts';
import { serverAudioMessage } from '../../src/agents/gemini-live/server-audio.ts';

const PCM = Buffer.from(Array.from({ length: 1920 }, (_, i) => (i * 37) & 0xff));
const B64 = PCM.toString('base64');
const MIME = 'audio/pcm;rate=24000';
const audioJson = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    serverContent: { modelTurn: { parts: [{ inlineData: { mimeType: MIME, data: B64 } }] }, ...extra },
  });

function inline(msg: LiveServerMessage | undefined) {
  return msg?.serverContent?.modelTurn?.parts?.[0]?.inlineData;
}

test('model audio alone is recognised in compact, spaced and reordered JSON, with the same audio', () => {
  const compact = Buffer.from(audioJson());
  const spaced = Buffer.from(
    JSON.stringify(JSON.parse(audioJson()), null, 2).replace('"mimeType": "audio', '"mimeType" :\t"audio'),
  );
  const reordered = Buffer.from(
    `{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"${B64}","mimeType":"audio/pcm;rate=16000"}}]}}}\n`,
  );
  for (const [frame, mime] of [
    [compact, MIME],
    [spaced, MIME],
    [reordered, 'audio/pcm;rate=16000'],
  ] as const) {
    const got = inline(serverAudioMessage(frame));
    assert.equal(got?.mimeType, mime, frame.toString().slice(0, 80));
    assert.deepEqual(Buffer.from(got?.data ?? '', 'base64'), PCM);
  }
});

test('every other message is left to the SDK: other fields, escapes, more parts, text, broken JSON', () => {
  const others = [
    audioJson({ outputTranscription: { text: 'hi' } }),
    audioJson({ interrupted: true }),
    audioJson().replace(B64.slice(0, 8), `${B64.slice(0, 4)}\\/${B64.slice(6, 8)}`),
    audioJson().replace(MIME, 'text/plain'),
    audioJson().replace('rate=24000', 'rate=24000\u00e9'),
    audioJson().replace(']', ',{"text":"x"}]'),
    audioJson().replace('"data"', '"mimeType"'),
    JSON.stringify({ serverContent: { modelTurn: { parts: [{ inlineData: { mimeType: MIME } }] } } }),
    `${audioJson()}x`,
    audioJson().slice(0, -1),
    audioJson().slice(0, 120),
    '{"setupComplete":{}}',
    '{"serverContent":{"turnComplete":true}}',
    '',
  ];
  for (const text of others) assert.equal(serverAudioMessage(Buffer.from(text)), undefined, text.slice(0, 100));
});

/**
 * Through a captured socket: a real server sends setupComplete and then audio as binary and text frames, and
 * messages that are not audio alone. Recognised audio reaches `audioMessage` only; everything else (and audio
 * refused while not open) reaches the SDK's callback; together they see every message once, in order.
 */
test('a captured connection hands recognised audio over directly and everything else to the SDK, in order', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const sent = [
    { data: audioJson(), binary: true, fast: true },
    { data: audioJson({ outputTranscription: { text: 'hello' } }), binary: true, fast: false },
    { data: audioJson(), binary: false, fast: true },
    { data: JSON.stringify({ serverContent: { turnComplete: true } }), binary: false, fast: false },
    { data: audioJson(), binary: true, fast: false, refused: true },
  ];
  wss.on('connection', (ws) => {
    ws.once('message', () => {
      ws.send(JSON.stringify({ setupComplete: {} }));
      ws.once('message', () => {
        for (const m of sent) ws.send(m.binary ? Buffer.from(m.data) : m.data, { binary: m.binary });
      });
    });
  });
  const seen: { via: 'fast' | 'sdk'; msg: LiveServerMessage }[] = [];
  let refuse = false;
  const ai = googleClient('test-key', `http://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  new LiveSocketCapture(ai, {
    maxBufferedBytes: 1 << 20,
    audioMessage: (msg) => {
      if (refuse) return false;
      seen.push({ via: 'fast', msg });
      return true;
    },
  });
  let session: { close(): void; sendRealtimeInput(p: { text: string }): void } | undefined;
  try {
    session = await ai.live.connect({
      model: 'gemini-test',
      callbacks: {
        onmessage: (msg) => {
          if (msg.setupComplete) return;
          seen.push({ via: 'sdk', msg });
          if (seen.length === sent.length - 1) refuse = true; // the last audio arrives while "not open"
        },
      },
    });
    session.sendRealtimeInput({ text: 'go' });
    const deadline = Date.now() + 5000;
    while (seen.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(
      seen.map((s) => s.via),
      sent.map((m) => (m.fast ? 'fast' : 'sdk')),
    );
    for (const [i, s] of seen.entries()) {
      const expected = JSON.parse(sent[i]!.data) as LiveServerMessage;
      assert.deepEqual(inline(s.msg), inline(expected), `message ${i}`);
      assert.equal(s.msg.serverContent?.turnComplete, expected.serverContent?.turnComplete);
      assert.deepEqual(s.msg.serverContent?.outputTranscription, expected.serverContent?.outputTranscription);
    }
  } finally {
    session?.close();
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
  }
});

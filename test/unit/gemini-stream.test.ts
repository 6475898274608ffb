import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GeminiApiError,
  MAX_EVENT_BYTES,
  streamGenerateContent,
  streamUrl,
} from '../../src/agents/cascade/gemini-stream.ts';

/** A server answering every request with `answer`; returns what the requests carried. */
async function withServer(
  answer: (res: http.ServerResponse) => void,
  run: (baseUrl: string) => Promise<void>,
): Promise<{ url?: string; key?: string | string[]; body: string }> {
  const seen: { url?: string; key?: string | string[]; body: string } = { body: '' };
  const server = http.createServer((req, res) => {
    seen.url = req.url;
    seen.key = req.headers['x-goog-api-key'];
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      seen.body += d;
    });
    req.on('end', () => answer(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  return seen;
}

const collect = async (base: string) => {
  const out: unknown[] = [];
  const url = streamUrl('gemini-test', base);
  for await (const c of streamGenerateContent(url, 'secret-key', '{"contents":[]}', AbortSignal.timeout(5000)))
    out.push(c);
  return out;
};

test('events split across writes are yielded whole and in order; the key travels in a header, not the URL', async () => {
  let chunks: unknown[] = [];
  const seen = await withServer(
    (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"candidates":[{"content":{"parts":[{"text":"Hel');
      setTimeout(() => res.end('lo"}]}}]}\r\n\r\ndata: {"candidates":[{"content":{"parts":[{"text":"!"}]}}]}\n\n'), 20);
    },
    async (base) => {
      chunks = await collect(base);
    },
  );
  assert.deepEqual(
    chunks.map(
      (c) => (c as { candidates: { content: { parts: { text: string }[] } }[] }).candidates[0]!.content.parts[0]!.text,
    ),
    ['Hello', '!'],
  );
  assert.equal(seen.url, '/v1beta/models/gemini-test:streamGenerateContent?alt=sse');
  assert.equal(seen.key, 'secret-key');
  assert.equal(seen.body, '{"contents":[]}');
});

test('a non-2xx answer throws with its status and body, never the key', async () => {
  await withServer(
    (res) => {
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end('{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}');
    },
    async (base) => {
      await assert.rejects(collect(base), (e: unknown) => {
        assert.ok(e instanceof GeminiApiError);
        assert.equal(e.status, 429);
        assert.match(e.message, /RESOURCE_EXHAUSTED/);
        assert.doesNotMatch(e.message, /secret-key/);
        return true;
      });
    },
  );
});

test('an event that never ends is refused past the limit instead of buffered without end', async () => {
  await withServer(
    (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const piece = `data: ${'x'.repeat(64 * 1024)}`;
      let sent = 0;
      const more = () => {
        if (res.destroyed) return;
        sent += piece.length;
        if (sent > MAX_EVENT_BYTES * 3) return res.end();
        if (res.write(piece)) setImmediate(more);
        else res.once('drain', more);
      };
      more();
    },
    async (base) => {
      await assert.rejects(collect(base), /stream event over/);
    },
  );
});

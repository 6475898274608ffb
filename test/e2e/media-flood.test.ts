import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startStack, until } from '../support/stack.ts';

/**
 * A raw upgrade that never answers the close handshake (a scanner, or a client that died): the server must
 * not keep it forever. Resolves with the first response line, or '' when the socket closed without one.
 */
function rawUpgrade(port: number, path: string, sockets: net.Socket[]): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    let data = '';
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      if (data.includes('\r\n')) resolve(data.slice(0, data.indexOf('\r\n')));
    });
    s.on('error', () => resolve(data.split('\r\n')[0] ?? ''));
    s.on('close', () => resolve(data.split('\r\n')[0] ?? ''));
    s.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
}

async function refusedTotal(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^callbridge_media_sockets_refused_total(?:\{[^}]*\})? (\d+)$/gm)) sum += Number(m[1]);
  return sum;
}

test('a burst of bad media upgrades: bounded log lines, every one counted, extra ones refused cleanly, a real call still streams', {
  timeout: 60000,
}, async (t) => {
  const stack = await startStack();
  const sockets: net.Socket[] = [];
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await stack.stop();
  });
  const port = stack.bridge.http.port;
  const N = 300;
  const answers = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      rawUpgrade(port, `/stream/11111111-2222-3333-4444-${String(i).padStart(12, '0')}?token=x`, sockets),
    ),
  );
  const upgraded = answers.filter((a) => a.startsWith('HTTP/1.1 101')).length;
  const refused = answers.filter((a) => a.startsWith('HTTP/1.1 503')).length;
  assert.equal(
    upgraded + refused,
    N,
    `every upgrade answered 101 (then closed 4404) or 503: ${[...new Set(answers)].join(' | ')}`,
  );
  assert.ok(refused > 0, 'upgrades beyond the cap of unauthenticated sockets are refused before the upgrade');
  assert.ok(upgraded >= 16, `some are still accepted and closed with a code (${upgraded})`);

  assert.equal(await refusedTotal(port), N, 'the counter counts every refusal');
  const logged = stack.logs.filter((l) => /media socket|refused/i.test(l.msg)).length;
  assert.ok(logged <= 10, `bounded log lines for ${N} refusals (got ${logged})`);

  // A legitimate call connects while the refused sockets are still open.
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 5000, 'the real stream connected despite the flood');

  // The refused sockets that never answered the close are cut, so the cap frees up again.
  await until(
    () => sockets.every((s) => s.destroyed || s.readyState === 'closed'),
    15000,
    'refused sockets closed by the server',
  );
  assert.match(
    await rawUpgrade(port, '/stream/11111111-2222-3333-4444-555555555555?token=x', sockets),
    /^HTTP\/1.1 101/,
  );
  assert.equal(await refusedTotal(port), N + 1);
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleSessions } from '../../src/http/console-session.ts';
import { startStack, until, type Stack } from '../support/stack.ts';
import { sse } from '../support/sse.ts';

const TOKEN = 'console-token-0123456789';
const INDEX = '<!doctype html><title>callbridge console</title><script src="/console/assets/app.js"></script>';
const APP_JS = 'console.log("console");';
const SECRET = 'not-for-the-web-0123456789';

/** A request exactly as written (fetch would normalize `..` away before sending it). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** `name=value` of the callbridge_console cookie a response sets. */
function cookieOf(res: Response): string {
  const set = res.headers.get('set-cookie') ?? '';
  const m = /^(callbridge_console=[^;]*)/.exec(set);
  assert.ok(m, `a console cookie is set (got ${JSON.stringify(set)})`);
  return m[1]!;
}

describe('console API with API_TOKEN set', () => {
  let stack: Stack;
  let dir: string;
  let base: string;
  const at = (path: string, init: RequestInit = {}) => fetch(base + path, init);
  const signIn = (token: string, headers: Record<string, string> = {}) =>
    at('/console/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ token }),
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'callbridge-console-'));
    await mkdir(join(dir, 'console', 'assets'), { recursive: true });
    await writeFile(join(dir, 'console', 'index.html'), INDEX);
    await writeFile(join(dir, 'console', 'assets', 'app.js'), APP_JS);
    await writeFile(join(dir, 'secret.txt'), SECRET);
    await writeFile(join(dir, 'console', 'assets', '.hidden'), SECRET);
    stack = await startStack({ env: { API_TOKEN: TOKEN }, start: { consoleDir: join(dir, 'console') } });
    base = `http://127.0.0.1:${stack.bridge.http.port}`;
  });
  after(async () => {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the page and its assets are served without the token, with their content types; nothing else is', async () => {
    const page = await at('/');
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    assert.equal(await page.text(), INDEX);
    const js = await at('/console/assets/app.js');
    assert.equal(js.status, 200);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(await js.text(), APP_JS);
    const again = await at('/', { headers: { 'if-none-match': page.headers.get('etag')! } });
    assert.equal(again.status, 304, 'unchanged page revalidates');

    assert.equal((await at('/console/assets/missing.js')).status, 404);
    const port = stack.bridge.http.port;
    for (const path of [
      '/console/assets/../../secret.txt',
      '/console/assets/%2e%2e/%2e%2e/secret.txt',
      '/console/assets/..%2f..%2fsecret.txt',
      '/console/assets/.hidden',
      '/console/assets/%2fetc%2fpasswd',
      '/console/assets//etc/passwd',
    ]) {
      const res = await rawGet(port, path);
      assert.ok([400, 401, 404].includes(res.status), `${path} refused (got ${res.status})`);
      assert.ok(!res.body.includes(SECRET) && !res.body.includes('root:'), `${path} leaks nothing`);
    }
    assert.equal((await at('/calls')).status, 401, 'the API itself still needs auth');
  });

  test('signing in: a wrong token is refused, the right one sets an HttpOnly SameSite=Strict cookie that authorizes the API', async () => {
    assert.deepEqual(await (await at('/console/session')).json(), { authRequired: true, authenticated: false });
    const wrong = await signIn('wrong-token-0123456789');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.ok(!(await wrong.text()).includes(TOKEN));

    const res = await signIn(TOKEN);
    assert.equal(res.status, 204);
    const set = res.headers.get('set-cookie')!;
    assert.match(set, /^callbridge_console=\d{13}\.[A-Za-z0-9_-]{43};/);
    const attrs = set.split(/;\s*/).slice(1);
    for (const a of ['HttpOnly', 'SameSite=Strict', 'Path=/', `Max-Age=${12 * 3600}`]) assert.ok(attrs.includes(a), a);
    assert.ok(!attrs.includes('Secure'), 'plain http: no Secure flag');
    assert.ok(!set.includes(TOKEN), 'the token is not in the cookie');
    const behindTls = await signIn(TOKEN, { 'x-forwarded-proto': 'https' });
    assert.ok(behindTls.headers.get('set-cookie')!.split(/;\s*/).includes('Secure'), 'https: Secure');

    const cookie = cookieOf(res);
    const calls = await at('/calls', { headers: { cookie } });
    assert.equal(calls.status, 200);
    assert.deepEqual(((await calls.json()) as { calls: unknown[] }).calls, []);
    assert.deepEqual(await (await at('/console/session', { headers: { cookie } })).json(), {
      authRequired: true,
      authenticated: true,
    });
    assert.equal((await at('/calls', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, 'bearer works');
  });

  test('a cookie changes nothing without X-Callbridge-Console: 1; forged, foreign and expired cookies are refused; sign-out clears it', async () => {
    const cookie = cookieOf(await signIn(TOKEN));
    const unknown = '/calls/00000000-0000-4000-8000-000000000000';
    const noHeader = await at(unknown, { method: 'DELETE', headers: { cookie } });
    assert.equal(noHeader.status, 403);
    assert.equal(((await noHeader.json()) as { error: { code: string } }).error.code, 'csrf');
    assert.equal((await at('/console/browser-call', { method: 'POST', headers: { cookie } })).status, 403);
    const withHeader = await at(unknown, { method: 'DELETE', headers: { cookie, 'x-callbridge-console': '1' } });
    assert.equal(withHeader.status, 404, 'past auth: the call is simply unknown');
    assert.equal(
      (await at(unknown, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } })).status,
      404,
      'bearer requests need no console header',
    );

    const [expires] = cookie.split('=')[1]!.split('.');
    const forged = `callbridge_console=${Number(expires) + 1}.${'A'.repeat(43)}`;
    const foreign = `callbridge_console=${new ConsoleSessions({ apiToken: 'another-token-0123456789', hours: 12 }).issue()}`;
    const past = Date.now() - 13 * 3_600_000;
    const expired = `callbridge_console=${new ConsoleSessions({ apiToken: TOKEN, hours: 12, now: () => past }).issue()}`;
    for (const bad of [forged, foreign, expired, 'callbridge_console=garbage']) {
      assert.equal((await at('/calls', { headers: { cookie: bad } })).status, 401, bad);
    }

    const out = await at('/console/session', { method: 'DELETE', headers: { cookie, 'x-callbridge-console': '1' } });
    assert.equal(out.status, 204);
    const cleared = out.headers.get('set-cookie')!;
    assert.match(cleared, /^callbridge_console=;/);
    assert.ok(cleared.split(/;\s*/).includes('Max-Age=0'));
  });

  test('GET /events (cookie auth): a snapshot, then the emulator call answered and hung up', async () => {
    const cookie = cookieOf(await signIn(TOKEN));
    const all = sse(`${base}/events`, undefined, { cookie });
    try {
      const snapshot = await until(() => all.events.find((e) => e.event === 'snapshot'), 3000, 'snapshot');
      assert.deepEqual(snapshot.data, { calls: [] });
      const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' }, destination: '5000' });
      const answered = await until(
        () => all.events.find((e) => e.event === 'call' && e.data.call.id === call.uuid),
        5000,
        'call event',
      );
      assert.equal(answered.data.change.type, 'status');
      assert.equal(answered.data.change.status, 'answered');
      assert.equal(answered.data.call.direction, 'inbound');
      assert.equal(answered.data.call.to, '5000');
      assert.equal(answered.data.call.status, 'answered');
      assert.equal(typeof answered.data.call.createdAt, 'number');
      assert.equal(answered.data.call.transcript, undefined, 'a summary, not the whole record');

      // A client connecting now finds the live call in its snapshot.
      const late = sse(`${base}/events`, TOKEN);
      try {
        const lateSnapshot = await until(() => late.events.find((e) => e.event === 'snapshot'), 3000, 'late snapshot');
        assert.deepEqual(
          lateSnapshot.data.calls.map((c: { id: string }) => c.id),
          [call.uuid],
        );
      } finally {
        late.close();
      }

      await until(() => stack.bridge.calls.active.has(call.uuid), 3000, 'session');
      await call.hangup();
      const ended = await until(
        () =>
          all.events.find(
            (e) => e.event === 'call' && e.data.call.id === call.uuid && e.data.change.status === 'completed',
          ),
        5000,
        'end event',
      );
      assert.equal(ended.data.change.hangupCause, 'NORMAL_CLEARING');
      assert.equal(ended.data.call.hangupCause, 'NORMAL_CLEARING');
      assert.equal(typeof ended.data.call.endedAt, 'number');
    } finally {
      all.close();
    }
    assert.equal((await at('/events')).status, 401, 'no auth, no events');
  });

  test('POST /console/browser-call gives a ticket that lets exactly one browser call reach the agent', async () => {
    const cookie = cookieOf(await signIn(TOKEN));
    const res = await at('/console/browser-call', { method: 'POST', headers: { cookie, 'x-callbridge-console': '1' } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, any>;
    assert.equal(body.wsUrl, 'ws://127.0.0.1:5066');
    assert.equal(body.target, 'sip:agent@127.0.0.1');
    assert.equal(body.header, 'X-Callbridge-Ticket');
    assert.deepEqual(body.iceServers, []);
    assert.match(body.ticket, /^[A-Za-z0-9._-]+$/);
    assert.ok(body.expiresAt > Date.now() && body.expiresAt <= Date.now() + 61_000, 'expires in BROWSER_TICKET_TTL_S');

    const browserCall = () =>
      stack.fs.placeInboundCall({
        variables: { callbridge: 'browser', 'sip_h_X-Callbridge-Ticket': body.ticket },
        destination: 'agent',
      });
    const first = browserCall();
    await until(() => first.stream?.connected, 5000, 'the browser call reaches the agent');
    const second = browserCall();
    await stack.fs.waitForCommand((c) => c.line === `api uuid_kill ${second.uuid} CALL_REJECTED`, 5000);
    assert.ok(!stack.bridge.calls.active.has(second.uuid), 'the reused ticket gets no agent');
    await first.hangup();

    const doc = (await (await at('/openapi.json', { headers: { cookie } })).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    assert.ok(doc.paths['/console/browser-call']?.post);
    assert.ok(doc.paths['/console/session']?.post && doc.paths['/console/session'].get);
  });

  // Last: it leaves sign-in blocked for a minute.
  test('wrong tokens are limited: after 10 in a minute even the right one gets 429', async () => {
    let limited: Response | undefined;
    for (let i = 0; i < 12 && !limited; i++) {
      const res = await signIn(`wrong-token-${i}-0123456789`);
      if (res.status === 429) limited = res;
      else assert.equal(res.status, 401);
    }
    assert.ok(limited, 'wrong tokens are limited');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await signIn(TOKEN)).status, 429, 'no oracle while blocked');
    assert.equal((await at('/calls', { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  });
});

test('without API_TOKEN and with BROWSER_CALLS=false: no sign-in needed, no browser calls, 503 until the console is built', async (t) => {
  const stack = await startStack({
    env: { BROWSER_CALLS: 'false' },
    start: { consoleDir: join(tmpdir(), 'callbridge-no-console-here') },
  });
  t.after(() => stack.stop());
  const base = `http://127.0.0.1:${stack.bridge.http.port}`;
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 503);
  assert.equal(await page.text(), 'console not built: run npm run build:console');
  assert.deepEqual(await (await fetch(`${base}/console/session`)).json(), {
    authRequired: false,
    authenticated: true,
  });
  const browser = await fetch(`${base}/console/browser-call`, { method: 'POST' });
  assert.equal(browser.status, 404);
  assert.equal(((await browser.json()) as { error: { code: string } }).error.code, 'browser_calls_off');
  const events = sse(`${base}/events`);
  try {
    const snapshot = await until(() => events.events.find((e) => e.event === 'snapshot'), 3000, 'snapshot');
    assert.deepEqual(snapshot.data, { calls: [] });
  } finally {
    events.close();
  }
  // A browser call without a ticket service is refused at FreeSWITCH's door.
  const call = stack.fs.placeInboundCall({ variables: { callbridge: 'browser' }, destination: 'agent' });
  await stack.fs.waitForCommand((c) => c.line === `api uuid_kill ${call.uuid} CALL_REJECTED`, 5000);
});

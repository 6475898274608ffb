import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startCallbridge } from '../../src/callbridge.ts';
import { CallBook } from '../../src/calls/call-book.ts';
import { createHttpApp } from '../../src/http/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { StartupError } from '../../src/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { redactDatabaseUrl } from '../../src/store/database-url.ts';
import { openHistoryStore } from '../../src/store/open-store.ts';
import { POSTGRES_SCHEMA_VERSION, openPostgresCallStore } from '../../src/store/postgres-call-store.ts';
import { captureLogger, until } from '../support/stack.ts';
import { TEST_DATABASE_URL, TestSchemas, urlInSchema } from '../support/postgres.ts';
import { callStoreContract, fullRecord } from './call-store-contract.ts';

let schemas: TestSchemas;
before(async () => {
  // Fails (never skips) when PostgreSQL is not there: the message says how to start it.
  schemas = await TestSchemas.connect();
});
after(() => schemas?.close());

const logger = silentLogger();
const open = (url: string) => openPostgresCallStore({ url, logger });

callStoreContract('PostgreSQL', {
  open: async () => open((await schemas.create()).url),
  // No older PostgreSQL schema exists yet: "written by an older callbridge" is rows whose JSON lacks the
  // fields added since, as an older version would have written them.
  openWithOldRows: async (records) => {
    const { schema, url } = await schemas.create();
    const store = await open(url);
    for (const r of records as Array<{ id: string; createdAt: number; status: string; direction: string }>) {
      await schemas.query(
        `INSERT INTO ${schema}.callbridge_calls (id, created_at, status, direction, record) VALUES ($1, $2, $3, $4, $5)`,
        [r.id, r.createdAt, r.status, r.direction, JSON.stringify(r)],
      );
    }
    return store;
  },
});

test('PostgreSQL: two instances opening the same empty schema at once both start; the schema is migrated once', async () => {
  const { schema, url } = await schemas.create();
  const [a, b] = await Promise.all([open(url), open(url)]);
  try {
    const migrations = await schemas.query(`SELECT version FROM ${schema}.callbridge_migrations ORDER BY version`);
    assert.deepEqual(
      migrations.rows.map((r) => r.version),
      Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
    );
    // Both see the same history.
    await a.save(fullRecord('shared', 1000));
    assert.equal((await b.get('shared'))?.id, 'shared');
    // The columns SQLite's history has, filled from the record.
    const row = await schemas.query(
      `SELECT resumptions, recording, heard_latency_max_ms FROM ${schema}.callbridge_calls WHERE id = 'shared'`,
    );
    assert.deepEqual(row.rows[0], { resumptions: 1, recording: true, heard_latency_max_ms: 700 });
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  // A third start finds nothing to do.
  const c = await open(url);
  await c.close();
  const again = await schemas.query(`SELECT count(*)::int AS n FROM ${schema}.callbridge_migrations`);
  assert.equal(again.rows[0]?.n, POSTGRES_SCHEMA_VERSION);
});

test('PostgreSQL: a schema migrated by a newer callbridge is refused, and the message has no password', async () => {
  const { schema, url } = await schemas.create();
  await (await open(url)).close();
  await schemas.query(`INSERT INTO ${schema}.callbridge_migrations (version) VALUES ($1)`, [
    POSTGRES_SCHEMA_VERSION + 1,
  ]);
  const password = new URL(TEST_DATABASE_URL).password;
  await assert.rejects(open(url), (err: Error) => {
    assert.ok(err instanceof StartupError);
    assert.match(err.message, /schema version \d+ is newer than this callbridge knows/);
    assert.ok(!err.message.includes(`:${password}@`), err.message);
    return true;
  });
});

test('PostgreSQL: an unreachable DATABASE_URL fails start-up with a clear error that never shows the password', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-pg-down-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const secret = 'n0t-the-Real-pw-4213';
  const url = `postgres://callbridge:${secret}@127.0.0.1:1/callbridge_test`;
  const { logger: captured, lines } = captureLogger();
  const config = loadConfig({
    GOOGLE_API_KEY: 'test-key',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    PLAYBACK_DIR: dir,
    CALL_HISTORY_PATH: join(dir, 'calls.db'),
    DATABASE_URL: url,
  });
  await assert.rejects(startCallbridge(config, { logger: captured }), (err: Error) => {
    assert.ok(err instanceof StartupError, String(err));
    assert.match(err.message, /call history: cannot use PostgreSQL at postgres:\/\/callbridge:\*\*\*@127\.0\.0\.1:1\//);
    assert.match(err.message, /ECONNREFUSED|connect/);
    assert.match(err.message, /check DATABASE_URL/);
    assert.ok(!err.message.includes(secret), err.message);
    return true;
  });
  assert.ok(!JSON.stringify(lines).includes(secret), 'no log line has the password');
});

test('PostgreSQL: a wrong password is refused with the server, not the password, named', async () => {
  const u = new URL(TEST_DATABASE_URL);
  u.password = 'wrong-Password-77';
  await assert.rejects(
    openHistoryStore({ databaseUrl: u.toString(), sqlitePath: '/nonexistent', logger }),
    (err: Error) => {
      assert.match(err.message, /password authentication failed|authentication/i);
      assert.ok(err.message.includes(redactDatabaseUrl(u.toString())), err.message);
      assert.ok(!err.message.includes('wrong-Password-77'), err.message);
      return true;
    },
  );
});

test('PostgreSQL: a failing operation names it and the server, never the password', async () => {
  const { url } = await schemas.create();
  const store = await open(url);
  await store.close();
  const password = new URL(url).password;
  await assert.rejects(store.get('x'), (err: Error) => {
    assert.match(err.message, /^call history get failed \(PostgreSQL at postgres:\/\/callbridge:\*\*\*@/);
    assert.ok(!err.message.includes(`:${password}@`), err.message);
    return true;
  });
});

test('DATABASE_URL: empty means SQLite; only postgres:// or postgresql:// URLs are accepted, the password never echoed', () => {
  const base = { GOOGLE_API_KEY: 'test-key' };
  assert.equal(loadConfig({ ...base, DATABASE_URL: '' }).DATABASE_URL, undefined);
  for (const ok of [
    'postgres://u:p@db:5432/calls',
    'postgresql://db/calls?sslmode=require',
    urlInSchema(TEST_DATABASE_URL, 's'),
  ]) {
    assert.equal(loadConfig({ ...base, DATABASE_URL: ok }).DATABASE_URL, ok);
  }
  for (const bad of ['mysql://u:hunter2secret@db/calls', 'db:5432/calls', 'postgres://']) {
    assert.throws(
      () => loadConfig({ ...base, DATABASE_URL: bad }),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
        assert.ok(!err.message.includes('hunter2secret'), err.message);
        return true;
      },
    );
  }
});

/** A TCP relay to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
async function relay(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(target.port, target.host);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {});
        }
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server!.address() as AddressInfo).port));
    });
  const port = await listen(0);
  return {
    port,
    cut: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    },
    restore: () => listen(port),
    close: async () => {
      for (const s of sockets) s.destroy();
      if (server?.listening) await new Promise<void>((resolve) => server!.close(() => resolve()));
    },
  };
}

test('PostgreSQL goes away mid-run: the API answers 503 for history, the ended call stays readable, its save lands once it is back', async (t) => {
  const { schema, url } = await schemas.create();
  const direct = new URL(url);
  const proxy = await relay({ host: direct.hostname, port: Number(direct.port || 5432) });
  t.after(() => proxy.close());
  const viaProxy = new URL(url);
  viaProxy.port = String(proxy.port);
  const { logger: captured, lines } = captureLogger();
  const store = await openPostgresCallStore({ url: viaProxy.toString(), logger: captured, connectTimeoutMs: 1000 });
  t.after(() => store.close());
  const book = new CallBook(store, captured, { retryBaseMs: 20, maxAttempts: 1000 });
  const app = createHttpApp({
    health: () => ({ eslConnected: true, activeCalls: 0 }),
    metrics: async () => '',
    calls: {
      list: (o) => book.list(o),
      get: (id) => book.get(id),
      originate: () => Promise.reject(new Error('not here')),
      hangup: async () => 'unknown',
      subscribe: () => () => {},
    },
    maxBodyBytes: 65536,
  });
  await store.save(fullRecord('before', 1000));
  assert.equal((await app.request('/calls')).status, 200);

  await proxy.cut();
  const id = '00000000-0000-4000-8000-00000000beef';
  book.add({ ...fullRecord(id, Date.now()), status: 'answered', endedAt: undefined });
  book.setStatus(id, 'completed');
  const one = await app.request(`/calls/${id}`);
  assert.equal(one.status, 200, 'the ended call is served from memory');
  assert.equal(((await one.json()) as { status: string }).status, 'completed');
  const list = await app.request('/calls');
  assert.equal(list.status, 503);
  const body = (await list.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'history_unavailable');
  assert.match(body.error.message, /^call history list failed \(PostgreSQL at postgres:\/\/callbridge:\*\*\*@/);
  await until(() => book.saving.retried >= 2, 10_000, 'saves retried while the database is away');

  await proxy.restore();
  await until(() => book.saving.pending === 0, 15_000, 'saved once the database is back');
  const rows = await schemas.query(`SELECT status FROM ${schema}.callbridge_calls WHERE id = $1`, [id]);
  assert.deepEqual(rows.rows, [{ status: 'completed' }]);
  assert.equal((await app.request('/calls')).status, 200);
  assert.equal(book.saving.lost, 0);
  const password = new URL(url).password;
  assert.ok(!JSON.stringify(lines).includes(`:${password}@`), 'no log line has the password');
  assert.ok(lines.some((l) => l.msg === 'could not save the call to history; retrying'));
});

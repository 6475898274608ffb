import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SCHEMA_VERSION, openSqliteCallStore } from '../../src/store/call-store.ts';
import { callStoreContract, fullRecord } from './call-store-contract.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dbPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'call-store-'));
  dirs.push(dir);
  return join(dir, 'calls.db');
}

/** The database exactly as the first callbridge with call history created it (user_version 0), holding `records`. */
function writeOldSchemaDb(path: string, records: object[]): void {
  const db = new DatabaseSync(path);
  db.exec(`
    CREATE TABLE calls (
      id TEXT PRIMARY KEY,
      created_at INTEGER NOT NULL,
      status TEXT NOT NULL,
      direction TEXT NOT NULL,
      record TEXT NOT NULL
    );
    CREATE INDEX calls_created ON calls (created_at DESC);
    CREATE INDEX calls_status_created ON calls (status, created_at DESC);
  `);
  const insert = db.prepare('INSERT INTO calls (id, created_at, status, direction, record) VALUES (?, ?, ?, ?, ?)');
  for (const r of records as Array<{ id: string; createdAt: number; status: string; direction: string }>) {
    insert.run(r.id, r.createdAt, r.status, r.direction, JSON.stringify(r));
  }
  db.close();
}

callStoreContract('SQLite', {
  open: async () => openSqliteCallStore(await dbPath()),
  openWithOldRows: async (records) => {
    const path = await dbPath();
    writeOldSchemaDb(path, records);
    return openSqliteCallStore(path);
  },
});

test('SQLite: an old-schema file is migrated in place, once; the new columns find calls by resumptions and latency', async () => {
  const path = await dbPath();
  const old = { ...fullRecord('old', 1000), resumptions: undefined, heard: undefined };
  writeOldSchemaDb(path, [old]);
  const store = await openSqliteCallStore(path);
  try {
    await store.save(fullRecord('new', 2000));
  } finally {
    await store.close();
  }
  const db = new DatabaseSync(path);
  try {
    assert.equal((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, SCHEMA_VERSION);
    assert.deepEqual(
      db
        .prepare('SELECT id FROM calls WHERE resumptions > 0')
        .all()
        .map((r) => r.id),
      ['new'],
    );
    assert.deepEqual(
      db
        .prepare('SELECT id, heard_latency_max_ms AS m FROM calls ORDER BY id')
        .all()
        .map((r) => [r.id, r.m]),
      [
        ['new', 700],
        ['old', null],
      ],
    );
  } finally {
    db.close();
  }
  // Opening it again runs no migration twice.
  const again = await openSqliteCallStore(path);
  try {
    assert.equal((await again.list({ limit: 10 })).length, 2);
  } finally {
    await again.close();
  }
});

test('SQLite: a history written by a newer callbridge is refused, not damaged', async () => {
  const path = await dbPath();
  const store = await openSqliteCallStore(path);
  await store.close();
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  await assert.rejects(openSqliteCallStore(path), /schema version \d+ is newer/);
});

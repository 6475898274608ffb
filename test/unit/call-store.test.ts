import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { noResumptions, type CallRecord } from '../../src/store/call-record.ts';
import { SCHEMA_VERSION, openCallStore } from '../../src/store/call-store.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dbPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'call-store-'));
  dirs.push(dir);
  return join(dir, 'calls.db');
}

/** A call as callbridge stored it before resumptions were recorded. */
const oldRecord: Omit<CallRecord, 'resumptions'> = {
  id: '11111111-2222-3333-4444-555555555555',
  direction: 'inbound',
  from: '1000',
  to: '2000',
  pipeline: 'echo',
  status: 'completed',
  createdAt: 1_700_000_000_000,
  endedAt: 1_700_000_060_000,
  turns: [],
  transcript: [{ speaker: 'caller', text: 'hello', at: 1_700_000_001_000, final: true }],
};

/** The database exactly as the first callbridge with call history created it (user_version 0). */
function writeOldSchemaDb(path: string): void {
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
  db.prepare('INSERT INTO calls (id, created_at, status, direction, record) VALUES (?, ?, ?, ?, ?)').run(
    oldRecord.id,
    oldRecord.createdAt,
    oldRecord.status,
    oldRecord.direction,
    JSON.stringify(oldRecord),
  );
  db.close();
}

function newRecord(id: string, count: number): CallRecord {
  const resumptions = noResumptions();
  for (let i = 0; i < count; i++) {
    resumptions.count++;
    resumptions.totalMs += 200;
    resumptions.maxMs = 200;
    resumptions.last.push({ at: 1_700_000_100_000 + i, reason: 'goAway', durationMs: 200 });
  }
  return { ...oldRecord, id, createdAt: 1_700_000_100_000, resumptions };
}

test('an old-schema history is migrated in place: old calls read with no resumptions, new ones keep theirs', async () => {
  const path = await dbPath();
  writeOldSchemaDb(path);
  const store = await openCallStore(path);
  try {
    const old = store.get(oldRecord.id);
    assert.ok(old, 'the old call is still there');
    assert.deepEqual(old.resumptions, { count: 0, totalMs: 0, maxMs: 0, last: [] });
    assert.equal(old.transcript[0]?.text, 'hello');
    const resumedId = 'aaaaaaaa-2222-3333-4444-555555555555';
    store.save(newRecord(resumedId, 2));
    const listed = store.list({ limit: 10 });
    assert.deepEqual(
      listed.map((r) => [r.id, r.resumptions.count]),
      [
        [resumedId, 2],
        [oldRecord.id, 0],
      ],
    );
    assert.equal(store.get(resumedId)?.resumptions.last[1]?.reason, 'goAway');
  } finally {
    store.close();
  }
  const db = new DatabaseSync(path);
  try {
    assert.equal((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, SCHEMA_VERSION);
    const rows = db.prepare('SELECT id, resumptions FROM calls WHERE resumptions > 0').all();
    assert.deepEqual(
      rows.map((r) => r.id),
      ['aaaaaaaa-2222-3333-4444-555555555555'],
      'the column finds calls that resumed',
    );
  } finally {
    db.close();
  }
  // Opening it again runs no migration twice.
  const again = await openCallStore(path);
  try {
    assert.equal(again.list({ limit: 10 }).length, 2);
  } finally {
    again.close();
  }
});

test('a history written by a newer callbridge is refused, not damaged', async () => {
  const path = await dbPath();
  const store = await openCallStore(path);
  store.close();
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  await assert.rejects(openCallStore(path), /schema version \d+ is newer/);
});

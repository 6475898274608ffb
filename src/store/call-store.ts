import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { noResumptions, noToolCalls, type CallRecord, type CallStatus, type PageCursor } from './call-record.ts';

/**
 * Where completed calls and their transcripts are kept, so history survives restarts: SQLite on one box
 * (below, the default) or PostgreSQL shared by several instances (postgres-call-store.ts). One row per call:
 * the indexed columns the API filters on, plus the whole record as JSON. Writes happen once per ended call
 * (and when its recording or analysis lands later), never on the audio path.
 */
export interface CallStore {
  /** `sqlite` or `postgres`: for logs and metrics. */
  readonly kind: 'sqlite' | 'postgres';
  /** Insert or replace the call's row. */
  save(record: CallRecord): Promise<void>;
  get(id: string): Promise<CallRecord | undefined>;
  /** Newest first (ties by id); `before` is the last row of the previous page (exclusive). */
  list(opts: ListOptions): Promise<CallRecord[]>;
  /**
   * Delete calls older than `days` and beyond the newest `maxRows`. Resolves to how many went;
   * `withRecording` is given the ids of those that had a recording file, before their rows go (to delete
   * the files).
   */
  prune(days: number, maxRows: number, withRecording?: (ids: string[]) => void): Promise<number>;
  close(): Promise<void>;
}

/** The history's database cannot be used right now (unreachable, timed out): the API answers 503, not 500. */
export class HistoryUnavailableError extends Error {
  override name = 'HistoryUnavailableError';
}

export interface ListOptions {
  status?: CallStatus;
  limit: number;
  before?: PageCursor;
}

/** Whether the call has a recording file to delete with its row (complete, or begun and never reported). */
export const hasRecordingFile = (r: CallRecord): boolean =>
  r.recording?.status === 'complete' || r.recording?.status === 'recording';

/** A record as read back: fields added since it was written get their empty value. */
export function upgradeRecord(r: CallRecord): CallRecord {
  r.resumptions ??= noResumptions();
  r.tools ??= noToolCalls();
  return r;
}

/** Load node:sqlite without its one-time "experimental" warning on stderr (it is stable enough for this). */
async function loadSqlite(): Promise<typeof import('node:sqlite')> {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes('SQLite')) return;
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return await import('node:sqlite');
  } finally {
    process.emitWarning = emit;
  }
}

/**
 * The SQLite store (node:sqlite, no native addon): synchronous inside, each call answered at once.
 *
 * The schema version is SQLite's `user_version`; `migrate` brings a database written by an older callbridge
 * up to date in place (each step in one transaction), and rows written before a record field existed are
 * given its empty value when read.
 */
export async function openSqliteCallStore(path: string): Promise<CallStore> {
  const { DatabaseSync } = await loadSqlite();
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db: DatabaseSync = new DatabaseSync(path);
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS calls (
      id TEXT PRIMARY KEY,
      created_at INTEGER NOT NULL,
      status TEXT NOT NULL,
      direction TEXT NOT NULL,
      record TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS calls_created ON calls (created_at DESC);
    CREATE INDEX IF NOT EXISTS calls_status_created ON calls (status, created_at DESC);
  `);
  try {
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  const upsert = db.prepare(
    'INSERT OR REPLACE INTO calls (id, created_at, status, direction, resumptions, recording, record) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const byId = db.prepare('SELECT record FROM calls WHERE id = ?');
  const page: Record<string, StatementSync> = {
    all: db.prepare(
      'SELECT record FROM calls WHERE (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?',
    ),
    status: db.prepare(
      'SELECT record FROM calls WHERE status = ? AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?',
    ),
  };
  const recordedOld = db.prepare('SELECT id FROM calls WHERE recording = 1 AND created_at < ?');
  const recordedExtra = db.prepare(
    'SELECT id FROM calls WHERE recording = 1 AND id IN (SELECT id FROM calls ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?)',
  );
  const pruneOld = db.prepare('DELETE FROM calls WHERE created_at < ?');
  const pruneExtra = db.prepare(
    'DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?)',
  );
  const parse = (row: unknown) => upgradeRecord(JSON.parse((row as { record: string }).record) as CallRecord);
  // Each method runs synchronously; `async` turns a thrown SQLite error into a rejection like PostgreSQL's.
  return {
    kind: 'sqlite',
    async save(r) {
      const recorded = hasRecordingFile(r) ? 1 : 0;
      upsert.run(r.id, r.createdAt, r.status, r.direction, r.resumptions.count, recorded, JSON.stringify(r));
    },
    async get(id) {
      const row = byId.get(id);
      return row ? parse(row) : undefined;
    },
    async list({ status, limit, before = { createdAt: Number.MAX_SAFE_INTEGER, id: '' } }) {
      const at = [before.createdAt, before.createdAt, before.id] as const;
      const rows = status ? page.status!.all(status, ...at, limit) : page.all!.all(...at, limit);
      return rows.map(parse);
    },
    async prune(days, maxRows, withRecording) {
      const cutoff = Date.now() - days * 86_400_000;
      if (withRecording) {
        const ids = [...recordedOld.all(cutoff), ...recordedExtra.all(maxRows)].map((row) => String(row.id));
        if (ids.length) withRecording([...new Set(ids)]);
      }
      const a = pruneOld.run(cutoff).changes;
      const b = pruneExtra.run(maxRows).changes;
      return Number(a) + Number(b);
    },
    async close() {
      if (db.isOpen) db.close();
    },
  };
}

/**
 * Schema changes, in order: entry i takes a database from user_version i to i + 1. Append only; never edit
 * a step that has shipped (databases out there already ran it).
 */
const MIGRATIONS: readonly string[] = [
  // 1: how many times the agent replaced its vendor connection, as a column to find such calls by
  // (`WHERE resumptions > 0`); the details stay in the record's JSON. Rows from before count 0.
  `ALTER TABLE calls ADD COLUMN resumptions INTEGER NOT NULL DEFAULT 0;
   UPDATE calls SET resumptions = coalesce(json_extract(record, '$.resumptions.count'), 0);
   CREATE INDEX IF NOT EXISTS calls_resumptions ON calls (resumptions) WHERE resumptions > 0;`,
  // 2: whether the call has a recording file (complete, or begun and never reported), so pruning finds the
  // files to delete without reading every record. Rows from before had none.
  `ALTER TABLE calls ADD COLUMN recording INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX IF NOT EXISTS calls_recording ON calls (recording) WHERE recording = 1;`,
  // 3: the worst heard latency of the call (from its recording's analysis), to find slow calls by
  // (`WHERE heard_latency_max_ms > 1500`). Generated from the record's JSON: save() needs no new argument,
  // and rows from before read NULL (not analysed).
  `ALTER TABLE calls ADD COLUMN heard_latency_max_ms INTEGER
     GENERATED ALWAYS AS (json_extract(record, '$.heard.latencyMaxMs')) VIRTUAL;
   CREATE INDEX IF NOT EXISTS calls_heard_latency ON calls (heard_latency_max_ms)
     WHERE heard_latency_max_ms IS NOT NULL;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

function migrate(db: DatabaseSync): void {
  const version = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
  if (version > SCHEMA_VERSION) {
    throw new Error(
      `call history schema version ${version} is newer than this callbridge knows (${SCHEMA_VERSION}): use a newer callbridge or another CALL_HISTORY_PATH`,
    );
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[v]!);
      // PRAGMA takes no parameters; v is a loop counter, not input.
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
  }
}

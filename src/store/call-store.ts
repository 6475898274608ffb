import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { CallRecord, CallStatus, PageCursor } from './call-record.ts';

/**
 * Completed calls and their transcripts, in an embedded SQLite database (node:sqlite, no native addon), so
 * history survives restarts. One row per call: the indexed columns the API filters on, plus the whole record
 * as JSON. Writes happen once per ended call, never on the audio path.
 */
export interface CallStore {
  save(record: CallRecord): void;
  get(id: string): CallRecord | undefined;
  /** Newest first (ties by id); `before` is the last row of the previous page (exclusive). */
  list(opts: { status?: CallStatus; limit: number; before?: PageCursor }): CallRecord[];
  /** Delete calls older than `days` and beyond the newest `maxRows`. Returns how many went. */
  prune(days: number, maxRows: number): number;
  close(): void;
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

export async function openCallStore(path: string): Promise<CallStore> {
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
  const upsert = db.prepare(
    'INSERT OR REPLACE INTO calls (id, created_at, status, direction, record) VALUES (?, ?, ?, ?, ?)',
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
  const pruneOld = db.prepare('DELETE FROM calls WHERE created_at < ?');
  const pruneExtra = db.prepare(
    'DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY created_at DESC LIMIT -1 OFFSET ?)',
  );
  const parse = (row: unknown) => JSON.parse((row as { record: string }).record) as CallRecord;

  return {
    save(r) {
      upsert.run(r.id, r.createdAt, r.status, r.direction, JSON.stringify(r));
    },
    get(id) {
      const row = byId.get(id);
      return row ? parse(row) : undefined;
    },
    list({ status, limit, before = { createdAt: Number.MAX_SAFE_INTEGER, id: '' } }) {
      const at = [before.createdAt, before.createdAt, before.id] as const;
      const rows = status ? page.status!.all(status, ...at, limit) : page.all!.all(...at, limit);
      return rows.map(parse);
    },
    prune(days, maxRows) {
      const a = pruneOld.run(Date.now() - days * 86_400_000).changes;
      const b = pruneExtra.run(maxRows).changes;
      return Number(a) + Number(b);
    },
    close() {
      db.close();
    },
  };
}

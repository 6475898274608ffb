import pg from 'pg';
import { errorText, StartupError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { CallRecord } from './call-record.ts';
import { HistoryUnavailableError, hasRecordingFile, upgradeRecord, type CallStore } from './call-store.ts';
import { redactDatabaseUrl, withoutPassword } from './database-url.ts';

export interface PostgresStoreOptions {
  /** DATABASE_URL: postgres://user:password@host:port/database (query parameters as node-postgres reads them). */
  url: string;
  logger: Logger;
  /** Connections in the pool (default 5: one upsert per ended call and the API's reads need few). */
  maxConnections?: number;
  /** How long to wait for a connection (default 5 s): an unreachable server fails start-up, then each save. */
  connectTimeoutMs?: number;
  /** Per statement, enforced by the server (default 10 s) and, 2 s later, by the client. */
  statementTimeoutMs?: number;
}

/**
 * Schema changes, in order: entry i takes the schema from version i to i + 1, recorded in
 * `callbridge_migrations`. Append only; never edit a step that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  // 1: the calls table with every column SQLite's history has after its own migrations 1-3. Ids compare
  // bytewise (COLLATE "C"), as in SQLite and the API's cursors, so pages never skip or repeat a call.
  `CREATE TABLE callbridge_calls (
     id text COLLATE "C" PRIMARY KEY,
     created_at bigint NOT NULL,
     status text NOT NULL,
     direction text NOT NULL,
     resumptions integer NOT NULL DEFAULT 0,
     recording boolean NOT NULL DEFAULT false,
     heard_latency_max_ms integer
       GENERATED ALWAYS AS (round((record #>> '{heard,latencyMaxMs}')::numeric)::integer) STORED,
     record jsonb NOT NULL
   );
   CREATE INDEX callbridge_calls_created ON callbridge_calls (created_at DESC, id DESC);
   CREATE INDEX callbridge_calls_status_created ON callbridge_calls (status, created_at DESC, id DESC);
   CREATE INDEX callbridge_calls_resumptions ON callbridge_calls (resumptions) WHERE resumptions > 0;
   CREATE INDEX callbridge_calls_recording ON callbridge_calls (recording) WHERE recording;
   CREATE INDEX callbridge_calls_heard_latency ON callbridge_calls (heard_latency_max_ms)
     WHERE heard_latency_max_ms IS NOT NULL;`,
];

export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

/** Advisory lock keys, per schema: instances sharing a database migrate (and prune) one at a time. */
const lockKey = (what: string) => `hashtextextended('callbridge_${what}:' || coalesce(current_schema(), ''), 0)`;

const SQL = {
  save: `INSERT INTO callbridge_calls (id, created_at, status, direction, resumptions, recording, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
         ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, status = excluded.status,
           direction = excluded.direction, resumptions = excluded.resumptions, recording = excluded.recording,
           record = excluded.record`,
  get: 'SELECT record FROM callbridge_calls WHERE id = $1',
  page: `SELECT record FROM callbridge_calls WHERE (created_at, id) < ($1, $2)
         ORDER BY created_at DESC, id DESC LIMIT $3`,
  pageByStatus: `SELECT record FROM callbridge_calls WHERE status = $1 AND (created_at, id) < ($2, $3)
                 ORDER BY created_at DESC, id DESC LIMIT $4`,
  // Older than the cutoff, or beyond the newest maxRows: a batch of them.
  doomed: `SELECT id, recording FROM callbridge_calls WHERE created_at < $1
           UNION
           SELECT id, recording FROM (SELECT id, recording FROM callbridge_calls
             ORDER BY created_at DESC, id DESC OFFSET $2) beyond
           LIMIT $3`,
  delete: 'DELETE FROM callbridge_calls WHERE id = ANY($1::text[])',
};

const PRUNE_BATCH = 5000;

/** Strings in a record lose NUL characters: jsonb cannot hold them (SQLite's text could). */
const noNul = (_key: string, v: unknown) => (typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '') : v);

/**
 * Call history in PostgreSQL, shared by every callbridge instance pointed at it: a small pool, the schema
 * migrated at start under an advisory lock, the same rows, paging and retention as the SQLite store.
 * Errors name the operation and the server, never the password.
 */
export async function openPostgresCallStore(opts: PostgresStoreOptions): Promise<CallStore> {
  const { url, logger } = opts;
  const where = redactDatabaseUrl(url);
  const statementTimeout = opts.statementTimeoutMs ?? 10_000;
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.maxConnections ?? 5,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeout,
    idle_in_transaction_session_timeout: statementTimeout * 3,
    query_timeout: statementTimeout + 2000,
    keepAlive: true,
    application_name: 'callbridge',
    // A failed start-up must not be held open by idle connections.
    allowExitOnIdle: true,
  });
  // An idle connection that breaks (server restart) must not crash the process: the pool replaces it.
  pool.on('error', (err) => {
    logger.warn({ db: where, err: withoutPassword(errorText(err), url) }, 'call history: PostgreSQL connection lost');
  });
  const failure = (op: string, err: unknown) =>
    new HistoryUnavailableError(
      `call history ${op} failed (PostgreSQL at ${where}): ${withoutPassword(errorText(err), url)}`,
    );
  const run = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw failure(op, err);
    }
  };

  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    const why = withoutPassword(errorText(err), url);
    throw new StartupError(`call history: cannot use PostgreSQL at ${where} (${why}): check DATABASE_URL`);
  }
  logger.info({ db: where, schemaVersion: POSTGRES_SCHEMA_VERSION }, 'call history in PostgreSQL');

  const records = (rows: Array<{ record: CallRecord }>) => rows.map((row) => upgradeRecord(row.record));
  let closed: Promise<void> | undefined;
  return {
    kind: 'postgres',
    save: (r) =>
      run('save', async () => {
        const json = JSON.stringify(r, noNul);
        const args = [r.id, r.createdAt, r.status, r.direction, r.resumptions.count, hasRecordingFile(r), json];
        await pool.query({ name: 'callbridge_save', text: SQL.save, values: args });
      }),
    get: (id) =>
      run('get', async () => {
        const res = await pool.query<{ record: CallRecord }>({ name: 'callbridge_get', text: SQL.get, values: [id] });
        return res.rows[0] ? upgradeRecord(res.rows[0].record) : undefined;
      }),
    list: ({ status, limit, before = { createdAt: Number.MAX_SAFE_INTEGER, id: '' } }) =>
      run('list', async () => {
        const at = [before.createdAt, before.id];
        const res = status
          ? await pool.query<{ record: CallRecord }>({
              name: 'callbridge_page_status',
              text: SQL.pageByStatus,
              values: [status, ...at, limit],
            })
          : await pool.query<{ record: CallRecord }>({
              name: 'callbridge_page',
              text: SQL.page,
              values: [...at, limit],
            });
        return records(res.rows);
      }),
    prune: (days, maxRows, withRecording) =>
      run('prune', () => prune(pool, Date.now() - days * 86_400_000, maxRows, withRecording)),
    close: () => (closed ??= pool.end()),
  };
}

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Held to the end of this transaction: a second instance starting now waits here, then finds nothing to do.
    await client.query(`SELECT pg_advisory_xact_lock(${lockKey('migrations')})`);
    await client.query(`CREATE TABLE IF NOT EXISTS callbridge_migrations (
      version integer PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ v: number }>(
      'SELECT coalesce(max(version), 0)::int AS v FROM callbridge_migrations',
    );
    const version = rows[0]!.v;
    if (version > POSTGRES_SCHEMA_VERSION) {
      throw new Error(
        `schema version ${version} is newer than this callbridge knows (${POSTGRES_SCHEMA_VERSION}): use a newer callbridge or another database`,
      );
    }
    for (let v = version; v < POSTGRES_SCHEMA_VERSION; v++) {
      await client.query(MIGRATIONS[v]!);
      await client.query('INSERT INTO callbridge_migrations (version) VALUES ($1)', [v + 1]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Retention in batches, in one transaction. Only one instance prunes at a time (another one pruning the same
 * rows would find nothing left): the others skip this round.
 */
async function prune(
  pool: pg.Pool,
  cutoff: number,
  maxRows: number,
  withRecording: ((ids: string[]) => void) | undefined,
): Promise<number> {
  const client = await pool.connect();
  let removed = 0;
  try {
    await client.query('BEGIN');
    const lock = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock(${lockKey('prune')}) AS ok`);
    if (lock.rows[0]?.ok) {
      for (;;) {
        const batch = await client.query<{ id: string; recording: boolean }>({
          name: 'callbridge_prune_batch',
          text: SQL.doomed,
          values: [cutoff, maxRows, PRUNE_BATCH],
        });
        if (!batch.rows.length) break;
        const recorded = batch.rows.filter((row) => row.recording).map((row) => row.id);
        if (recorded.length && withRecording) withRecording(recorded);
        const res = await client.query({
          name: 'callbridge_prune_delete',
          text: SQL.delete,
          values: [batch.rows.map((row) => row.id)],
        });
        removed += res.rowCount ?? 0;
        if (batch.rows.length < PRUNE_BATCH) break;
      }
    }
    await client.query('COMMIT');
    return removed;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

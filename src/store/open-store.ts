import type { Logger } from '../log.ts';
import { openSqliteCallStore, type CallStore } from './call-store.ts';
import { openPostgresCallStore } from './postgres-call-store.ts';

export interface HistoryStoreOptions {
  /** DATABASE_URL: PostgreSQL, shared by every instance. Undefined or empty: SQLite at `sqlitePath`. */
  databaseUrl?: string | undefined;
  /** CALL_HISTORY_PATH. */
  sqlitePath: string;
  logger: Logger;
}

/** The call history callbridge is configured for: PostgreSQL when DATABASE_URL is set, else one SQLite file. */
export async function openHistoryStore(opts: HistoryStoreOptions): Promise<CallStore> {
  if (opts.databaseUrl) return openPostgresCallStore({ url: opts.databaseUrl, logger: opts.logger });
  const store = await openSqliteCallStore(opts.sqlitePath);
  opts.logger.debug({ path: opts.sqlitePath }, 'call history in SQLite');
  return store;
}

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { redactDatabaseUrl } from '../../src/store/database-url.ts';

/** The PostgreSQL the tests use (scripts/test-services.sh starts it on a fresh machine). */
export const TEST_DATABASE_URL =
  process.env.CALLBRIDGE_TEST_DATABASE_URL ?? 'postgres://callbridge:callbridge@127.0.0.1:5432/callbridge_test';

/** `url` with every connection's search_path set to `schema` (node-postgres reads `options` from the URL). */
export function urlInSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/**
 * Schemas of their own for one test run (`t_<random>`), so runs never see each other's rows; `close` drops
 * them all. Connecting fails the test (never skips it) when PostgreSQL is not there.
 */
export class TestSchemas {
  readonly #admin: pg.Client;
  readonly #made: string[] = [];

  private constructor(admin: pg.Client) {
    this.#admin = admin;
  }

  static async connect(): Promise<TestSchemas> {
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000 });
    try {
      await admin.connect();
    } catch (err) {
      await admin.end().catch(() => {});
      throw new Error(
        `PostgreSQL for the tests is not reachable at ${redactDatabaseUrl(TEST_DATABASE_URL)} ` +
          `(${err instanceof Error ? err.message : String(err)}): start it with scripts/test-services.sh, ` +
          'or point CALLBRIDGE_TEST_DATABASE_URL at one',
      );
    }
    return new TestSchemas(admin);
  }

  /** A new empty schema; resolves to the URL whose connections use it. */
  async create(): Promise<{ schema: string; url: string }> {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    await this.#admin.query(`CREATE SCHEMA ${schema}`);
    this.#made.push(schema);
    return { schema, url: urlInSchema(TEST_DATABASE_URL, schema) };
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.#admin.query<R>(sql, values);
  }

  async close(): Promise<void> {
    try {
      for (const schema of this.#made.splice(0)) await this.#admin.query(`DROP SCHEMA ${schema} CASCADE`);
    } finally {
      await this.#admin.end();
    }
  }
}

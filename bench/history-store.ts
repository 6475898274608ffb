/**
 * Call history cost per call, SQLite against PostgreSQL: save (upsert) latency, get and list (one API page)
 * latency, and the database statements one ended call costs through the CallBook (its save, then the
 * recording's and the analysis' updates). PostgreSQL runs in a schema of its own, dropped afterwards.
 *
 *   node bench/history-store.ts [--calls 2000] [--transcript 40]
 *   CALLBRIDGE_TEST_DATABASE_URL=postgres://... node bench/history-store.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CallBook } from '../src/calls/call-book.ts';
import { silentLogger } from '../src/log.ts';
import { noResumptions, type CallRecord } from '../src/store/call-record.ts';
import { openSqliteCallStore, type CallStore } from '../src/store/call-store.ts';
import { openPostgresCallStore } from '../src/store/postgres-call-store.ts';
import { TestSchemas } from '../test/support/postgres.ts';

const { values: args } = parseArgs({
  options: { calls: { type: 'string', default: '2000' }, transcript: { type: 'string', default: '40' } },
});
const CALLS = Number(args.calls);
const LINES = Number(args.transcript);
const logger = silentLogger();

function record(i: number): CallRecord {
  const t0 = 1_700_000_000_000 + i * 1000;
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    direction: i % 2 ? 'inbound' : 'outbound',
    from: '+15550001111',
    to: '+15551234567',
    pipeline: 'gemini-live',
    status: 'completed',
    createdAt: t0,
    answeredAt: t0 + 3000,
    endedAt: t0 + 120_000,
    hangupCause: 'NORMAL_CLEARING',
    turns: Array.from({ length: LINES / 2 }, () => ({ reply: 420, firstAudio: 690 })),
    resumptions: noResumptions(),
    transcript: Array.from({ length: LINES }, (_, k) => ({
      speaker: k % 2 ? 'agent' : 'caller',
      text: 'a sentence of about the length people say on the phone, give or take a few words',
      at: t0 + k * 3000,
      final: true,
    })),
    recording: { status: 'complete', bytes: 3_840_044, durationMs: 120_000 },
  } as CallRecord;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const ms = (x: number) => `${x.toFixed(3)} ms`;

async function timed(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

async function measure(name: string, store: CallStore): Promise<void> {
  const bytes = JSON.stringify(record(0)).length;
  const save = await timed(CALLS, (i) => store.save(record(i)));
  const upsert = await timed(200, (i) => store.save(record(i))); // rows already there: the update path
  const get = await timed(500, (i) => store.get(record((i * 7) % CALLS).id));
  const page = await timed(200, (i) =>
    store.list({ limit: 50, before: { createdAt: record(CALLS - i).createdAt, id: '' } }),
  );
  const status = await timed(200, () => store.list({ limit: 50, status: 'completed' }));
  const t = performance.now();
  const removed = await store.prune(3650, Math.floor(CALLS / 2));
  const pruneMs = performance.now() - t;
  console.log(`\n${name}: ${CALLS} calls of ${bytes} bytes of JSON each (${LINES} transcript lines)`);
  for (const [what, xs] of [
    ['save (insert)', save],
    ['save (upsert of an existing row)', upsert],
    ['get by id', get],
    ['list, one page of 50 by cursor', page],
    ['list, status filter, 50', status],
  ] as const) {
    console.log(`  ${what.padEnd(34)} p50 ${ms(pct(xs, 50))}  p99 ${ms(pct(xs, 99))}`);
  }
  console.log(`  prune ${removed} rows beyond the newest ${Math.floor(CALLS / 2)}: ${pruneMs.toFixed(0)} ms`);
}

/** Statements one ended, recorded and analysed call costs through the CallBook (counted at the store). */
async function perCall(store: CallStore): Promise<string> {
  const counts = { save: 0, get: 0 };
  const counted: CallStore = {
    kind: store.kind,
    save: (r) => {
      counts.save++;
      return store.save(r);
    },
    get: (id) => {
      counts.get++;
      return store.get(id);
    },
    list: (o) => store.list(o),
    prune: (d, m, w) => store.prune(d, m, w),
    close: () => store.close(),
  };
  const book = new CallBook(counted, logger);
  const r = { ...record(900_000), status: 'answered' as const, recording: { status: 'recording' as const } };
  book.add(r);
  book.setStatus(r.id, 'completed');
  await until(() => book.saving.pending === 0);
  const ended = { ...counts };
  // RECORD_STOP comes after the hangup; the analysis some seconds later.
  await book.update(r.id, (x) => {
    x.recording = { status: 'complete', bytes: 1, durationMs: 1 };
  });
  await book.heard(r.id, {
    turns: [],
    summary: { turns: 1, bargeIns: 0, insertedSilenceMs: 0, worstGapMs: 0, audioMs: 1 },
  });
  await until(() => book.saving.pending === 0);
  await book.close();
  return `ended call: ${ended.save} upsert, ${ended.get} reads; recorded and analysed: ${counts.save} upserts, ${counts.get} reads in all`;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
}

const dir = await mkdtemp(join(tmpdir(), 'history-bench-'));
const schemas = await TestSchemas.connect();
try {
  const sqlite = await openSqliteCallStore(join(dir, 'calls.db'));
  await measure('SQLite (WAL, synchronous=NORMAL, local file)', sqlite);
  console.log(`  ${await perCall(sqlite)}`);
  await sqlite.close();
  const pg = await openPostgresCallStore({ url: (await schemas.create()).url, logger });
  await measure('PostgreSQL (loopback, pool of 5)', pg);
  console.log(`  ${await perCall(pg)}`);
  await pg.close();
} finally {
  await schemas.close();
  await rm(dir, { recursive: true, force: true });
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallBook } from '../../src/calls/call-book.ts';
import { noResumptions, type CallRecord } from '../../src/store/call-record.ts';
import { openSqliteCallStore, type CallStore } from '../../src/store/call-store.ts';
import { captureLogger, until } from '../support/stack.ts';

/** A real (in-memory SQLite) store whose saves can be made to fail or wait. */
class UnreliableStore implements CallStore {
  readonly kind = 'sqlite';
  /** The next this many saves fail. */
  failures = 0;
  /** Saves wait for this before they write. */
  gate: Promise<void> | undefined;
  attempts = 0;
  readonly #inner: CallStore;
  constructor(inner: CallStore) {
    this.#inner = inner;
  }
  static async open(): Promise<UnreliableStore> {
    return new UnreliableStore(await openSqliteCallStore(':memory:'));
  }
  async save(r: CallRecord): Promise<void> {
    this.attempts++;
    const copy = structuredClone(r); // as it was when handed over, like the real stores
    if (this.gate) await this.gate;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('connection terminated unexpectedly');
    }
    await this.#inner.save(copy);
  }
  get = (id: string) => this.#inner.get(id);
  list: CallStore['list'] = (o) => this.#inner.list(o);
  prune: CallStore['prune'] = (d, m, w) => this.#inner.prune(d, m, w);
  close = () => this.#inner.close();
}

function call(id: string, createdAt = Date.now()): CallRecord {
  return {
    id,
    direction: 'inbound',
    from: '1000',
    to: '2000',
    pipeline: 'echo',
    status: 'answered',
    createdAt,
    turns: [],
    resumptions: noResumptions(),
    transcript: [{ speaker: 'caller', text: 'hello', at: createdAt, final: true }],
  };
}

function end(book: CallBook, id: string): void {
  book.add(call(id));
  book.setStatus(id, 'completed', { hangupCause: 'NORMAL_CLEARING' });
}

test('an ended call whose save fails stays readable from memory, is retried with backoff, and lands in the store', async (t) => {
  const store = await UnreliableStore.open();
  t.after(() => store.close());
  const { logger, lines } = captureLogger();
  const book = new CallBook(store, logger, { retryBaseMs: 5, maxAttempts: 6 });
  store.failures = 3;
  end(book, 'c1');
  // At once, while the store refuses it: the API still finds the call, ended.
  assert.equal((await book.get('c1'))?.status, 'completed');
  assert.deepEqual(
    (await book.list({ limit: 10 })).map((r) => [r.id, r.status]),
    [['c1', 'completed']],
  );
  assert.deepEqual(
    (await book.list({ limit: 10, status: 'completed' })).map((r) => r.id),
    ['c1'],
  );
  await until(() => book.saving.pending === 0, 5000, 'saved after retries');
  assert.equal(store.attempts, 4);
  assert.deepEqual(book.saving, { pending: 0, saved: 1, retried: 3, lost: 0 });
  assert.equal((await store.get('c1'))?.hangupCause, 'NORMAL_CLEARING', 'in the store now');
  const warnings = lines.filter((l) => l.msg === 'could not save the call to history; retrying');
  assert.equal(warnings.length, 3);
  assert.deepEqual(
    warnings.map((l) => l.attempt),
    [1, 2, 3],
  );
  assert.ok(warnings.every((l) => l.call === 'c1' && l.err === 'connection terminated unexpectedly'));
  // Each wait is longer than the one before (doubling), whatever the clock.
  assert.deepEqual(
    warnings.map((l) => l.retryInMs),
    [5, 10, 20],
  );
  assert.equal((await book.list({ limit: 10 })).length, 1, 'listed once, from the store');
});

test('a call that cannot be saved after the last attempt is given up, loudly', async (t) => {
  const store = await UnreliableStore.open();
  t.after(() => store.close());
  const { logger, lines } = captureLogger();
  const book = new CallBook(store, logger, { retryBaseMs: 1, maxAttempts: 3 });
  store.failures = 100;
  end(book, 'c1');
  await until(() => book.saving.lost === 1, 5000, 'given up');
  assert.equal(store.attempts, 3);
  const lost = lines.find((l) => l.msg === 'call lost from history: it could not be saved');
  assert.equal(lost?.call, 'c1');
  assert.equal(lost?.level, 50);
  assert.equal(await book.get('c1'), undefined);
});

test('at most maxPending calls wait to be saved: beyond, the oldest is given up', async (t) => {
  const store = await UnreliableStore.open();
  t.after(() => store.close());
  const { logger, lines } = captureLogger();
  let open!: () => void;
  store.gate = new Promise((resolve) => (open = resolve));
  const book = new CallBook(store, logger, { maxPending: 2 });
  for (const id of ['c1', 'c2', 'c3']) end(book, id);
  assert.equal(book.saving.pending, 2);
  assert.equal(book.saving.lost, 1);
  assert.match(String(lines.find((l) => l.call === 'c1' && l.level === 50)?.why), /more than 2 calls waiting/);
  // No longer held nor retried (a write already under way may still land).
  assert.equal(await book.get('c1'), undefined);
  assert.equal((await book.get('c3'))?.status, 'completed');
  open();
  await until(() => book.saving.pending === 0, 5000, 'the rest saved');
  const stored = (await store.list({ limit: 10 })).map((r) => r.id);
  assert.ok(stored.includes('c2') && stored.includes('c3'), String(stored));
});

test('close saves what still waits at once, without waiting out the backoff', async (t) => {
  const store = await UnreliableStore.open();
  t.after(() => store.close());
  const { logger } = captureLogger();
  const book = new CallBook(store, logger, { retryBaseMs: 3_600_000 });
  store.failures = 1;
  end(book, 'c1');
  await until(() => store.attempts === 1 && book.saving.retried === 1, 5000, 'first attempt failed');
  assert.equal(await book.close(1000), 0);
  assert.equal((await store.get('c1'))?.status, 'completed');
});

test('close gives up after its timeout and says how many calls were not saved', async (t) => {
  const store = await UnreliableStore.open();
  t.after(() => store.close());
  const { logger, lines } = captureLogger();
  store.gate = new Promise(() => {}); // a database that never answers
  const book = new CallBook(store, logger);
  end(book, 'c1');
  assert.equal(await book.close(50), 1);
  assert.equal(lines.find((l) => l.level === 50)?.why, 'still unsaved at shutdown');
});

test('a change to an ended call while its save is under way is saved too (recording, analysis)', async (t) => {
  const store = await UnreliableStore.open();
  t.after(() => store.close());
  const { logger } = captureLogger();
  let open!: () => void;
  store.gate = new Promise((resolve) => (open = resolve));
  const book = new CallBook(store, logger);
  end(book, 'c1');
  assert.equal(
    await book.update('c1', (r) => {
      r.recording = { status: 'complete', bytes: 44 };
    }),
    true,
  );
  assert.equal((await book.get('c1'))?.recording?.status, 'complete', 'readable at once');
  open();
  await until(() => book.saving.pending === 0, 5000, 'saved');
  assert.equal((await store.get('c1'))?.recording?.status, 'complete');

  // Once stored: read, changed and saved again, one change at a time.
  store.gate = undefined;
  const summary = { turns: 1, bargeIns: 0, insertedSilenceMs: 0, worstGapMs: 0, audioMs: 1000, latencyMaxMs: 640 };
  const [heard, deleted] = await Promise.all([
    book.heard('c1', { turns: [], summary }),
    book.update('c1', (r) => {
      r.recording = { status: 'deleted' };
    }),
  ]);
  assert.deepEqual([heard, deleted], [true, true]);
  await until(() => book.saving.pending === 0, 5000, 'saved');
  const stored = await store.get('c1');
  assert.equal(stored?.heard?.latencyMaxMs, 640);
  assert.equal(stored?.recording?.status, 'deleted', 'neither change lost the other');
  assert.equal(await book.update('nope', () => assert.fail('no record')), false);
});

test('without a store an ended call is gone; known() still says it ended here', async () => {
  const { logger } = captureLogger();
  const book = new CallBook(undefined, logger);
  end(book, 'c1');
  assert.equal(await book.get('c1'), undefined);
  assert.equal(book.known('c1'), true);
  assert.equal(book.known('c2'), false);
  assert.equal(await book.close(), 0);
});

/**
 * What every call history store must do, as the calls API relies on it: the same cases run against SQLite
 * (call-store.test.ts) and PostgreSQL (call-store-postgres.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  newestFirst,
  noResumptions,
  noToolCalls,
  type CallRecord,
  type CallStatus,
} from '../../src/store/call-record.ts';
import type { CallStore } from '../../src/store/call-store.ts';

export interface StoreFixture {
  /** A new, empty store of its own. */
  open(): Promise<CallStore>;
  /**
   * A store opened on a history an older callbridge wrote, holding `records` as it wrote them (record JSON
   * without the fields added since); the store migrates it when it opens.
   */
  openWithOldRows(records: object[]): Promise<CallStore>;
}

const DAY = 86_400_000;

/** A call as the API would show it, every optional field set (so a round trip that drops one is seen). */
export function fullRecord(id: string, createdAt: number, over: Partial<CallRecord> = {}): CallRecord {
  return {
    id,
    direction: 'outbound',
    from: '+15550001111',
    to: '+15551234567',
    gateway: 'trunk',
    pipeline: 'gemini-live',
    status: 'completed',
    createdAt,
    dialedAt: createdAt + 1,
    ringingAt: createdAt + 2,
    answeredAt: createdAt + 3,
    endedAt: createdAt + 60_000,
    hangupCause: 'NORMAL_CLEARING',
    endReason: 'hangup: NORMAL_CLEARING',
    voice: 'Puck',
    language: 'en-US',
    openingReason: 'your free trial',
    objective: 'book a demo',
    turns: [{ reply: 400, firstAudio: 650 }],
    resumptions: {
      count: 1,
      totalMs: 210,
      maxMs: 210,
      last: [{ at: createdAt + 5, reason: 'goAway', durationMs: 210 }],
    },
    tools: {
      count: 1,
      errors: 0,
      last: [{ at: createdAt + 9, name: 'lookup', args: '{"q":"x"}', ok: true, outcome: 'ok', durationMs: 30 }],
    },
    transcript: [
      { speaker: 'agent', text: 'Hello, how can I help? — ünïcödé ✓', at: createdAt + 4, final: true },
      { speaker: 'caller', text: 'I would like "quotes" and \\ backslashes', at: createdAt + 8, final: true },
    ],
    heard: {
      turns: 1,
      latencyP50Ms: 700,
      latencyMaxMs: 700,
      bargeIns: 0,
      insertedSilenceMs: 0,
      worstGapMs: 0,
      audioMs: 60_000,
    },
    heardTurns: [
      { callerEndMs: 1000, agentStartMs: 1700, heardLatencyMs: 700, gaps: 0, insertedSilenceMs: 0, worstGapMs: 0 },
    ],
    recording: { status: 'complete', durationMs: 60_000, bytes: 1_920_044 },
    ...over,
  };
}

/** Ids that sort differently bytewise than under a language's collation (which ignores '-'). */
const TWINS = ['b-0', 'b0', 'b-1', 'bA', 'b_', 'B1'];

async function pageThrough(store: CallStore, limit: number, status?: CallStatus): Promise<string[]> {
  const seen: string[] = [];
  let before: { createdAt: number; id: string } | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await store.list({ limit, ...(status && { status }), ...(before && { before }) });
    seen.push(...page.map((r) => r.id));
    if (page.length < limit) return seen;
    const last = page.at(-1)!;
    before = { createdAt: last.createdAt, id: last.id };
  }
  throw new Error('paging did not end');
}

export function callStoreContract(name: string, fixture: StoreFixture): void {
  describe(`call history contract: ${name}`, () => {
    test('save then get returns the record as saved; an unknown id is undefined', async () => {
      const store = await fixture.open();
      try {
        const r = fullRecord('c1', 1_700_000_000_000);
        await store.save(r);
        assert.deepEqual(await store.get('c1'), r);
        assert.equal(await store.get('nope'), undefined);
      } finally {
        await store.close();
      }
    });

    test('saving the same call again replaces it (one row, the latest state)', async () => {
      const store = await fixture.open();
      try {
        await store.save(fullRecord('c1', 1000, { status: 'answered', recording: { status: 'recording' } }));
        const later = fullRecord('c1', 1000, {
          status: 'completed',
          endReason: 'done',
          recording: { status: 'deleted' },
        });
        await store.save(later);
        assert.deepEqual(await store.get('c1'), later);
        assert.deepEqual(
          (await store.list({ limit: 10 })).map((r) => [r.id, r.status]),
          [['c1', 'completed']],
        );
        // The recording flag follows the latest state: a deleted recording is not handed to pruning.
        const handed: string[] = [];
        await store.prune(1, 100, (ids) => handed.push(...ids));
        assert.deepEqual(handed, []);
      } finally {
        await store.close();
      }
    });

    test('lists newest first, ties in the same millisecond by id; paging by cursor sees each call once', async () => {
      const store = await fixture.open();
      try {
        const all = [
          ...TWINS.map((id) => fullRecord(id, 5000)),
          fullRecord('a', 4000),
          fullRecord('z', 6000),
          fullRecord('m', 5001),
        ];
        for (const r of [...all].reverse()) await store.save(r);
        const expected = [...all].sort(newestFirst).map((r) => r.id);
        assert.deepEqual(
          (await store.list({ limit: 100 })).map((r) => r.id),
          expected,
        );
        for (const limit of [1, 2, 3, 4]) assert.deepEqual(await pageThrough(store, limit), expected, `limit ${limit}`);
        // A cursor inside the tie: the rest of the tie, then older calls.
        const cut = expected.indexOf(TWINS[2]!);
        const rest = await store.list({ limit: 100, before: { createdAt: 5000, id: TWINS[2]! } });
        assert.deepEqual(
          rest.map((r) => r.id),
          expected.slice(cut + 1),
        );
      } finally {
        await store.close();
      }
    });

    test('the status filter lists only that status, paged the same way', async () => {
      const store = await fixture.open();
      try {
        const statuses: CallStatus[] = ['completed', 'busy', 'failed', 'no-answer'];
        const all = Array.from({ length: 12 }, (_, i) =>
          fullRecord(`s${String(i).padStart(2, '0')}`, 1000 + Math.floor(i / 3), { status: statuses[i % 4]! }),
        );
        for (const r of all) await store.save(r);
        for (const status of statuses) {
          const expected = all
            .filter((r) => r.status === status)
            .sort(newestFirst)
            .map((r) => r.id);
          assert.deepEqual(await pageThrough(store, 2, status), expected, status);
        }
        assert.deepEqual(await store.list({ limit: 5, status: 'answered' }), []);
      } finally {
        await store.close();
      }
    });

    test('retention by age: older calls go, the callback gets those with a recording file first', async () => {
      const store = await fixture.open();
      try {
        const now = Date.now();
        await store.save(fullRecord('old-recorded', now - 3 * DAY));
        await store.save(fullRecord('old-begun', now - 3 * DAY, { recording: { status: 'recording' } }));
        await store.save(fullRecord('old-failed', now - 3 * DAY, { recording: { status: 'failed', reason: 'x' } }));
        const { recording: _none, ...unrecorded } = fullRecord('old-plain', now - 4 * DAY);
        await store.save(unrecorded);
        await store.save(fullRecord('fresh', now - 1000));
        const handed: string[] = [];
        const removed = await store.prune(2, 100, (ids) => handed.push(...ids));
        assert.equal(removed, 4);
        assert.deepEqual(handed.sort(), ['old-begun', 'old-recorded']);
        assert.deepEqual(
          (await store.list({ limit: 10 })).map((r) => r.id),
          ['fresh'],
        );
        assert.equal(await store.get('old-recorded'), undefined);
        assert.equal(await store.prune(2, 100, () => assert.fail('nothing left to hand')), 0);
      } finally {
        await store.close();
      }
    });

    test('retention by count: beyond the newest maxRows calls go (ties by id), with their recording files', async () => {
      const store = await fixture.open();
      try {
        const now = Date.now();
        const all = [
          fullRecord('n1', now - 10),
          fullRecord('n2', now - 20),
          fullRecord('t-a', now - 30),
          fullRecord('t-b', now - 30, { recording: undefined }),
          fullRecord('n3', now - 40),
        ];
        for (const r of all) await store.save(r);
        const handed: string[] = [];
        const removed = await store.prune(30, 3, (ids) => handed.push(...ids));
        // Newest first: n1, n2, t-b, t-a, n3 → the last two go; of those only t-a and n3 had files.
        assert.equal(removed, 2);
        assert.deepEqual(handed.sort(), ['n3', 't-a']);
        assert.deepEqual(
          (await store.list({ limit: 10 })).map((r) => r.id),
          ['n1', 'n2', 't-b'],
        );
        // Without a callback the rows still go.
        assert.equal(await store.prune(30, 1), 2);
        assert.deepEqual(
          (await store.list({ limit: 10 })).map((r) => r.id),
          ['n1'],
        );
      } finally {
        await store.close();
      }
    });

    test('records written by an older callbridge read back with the fields added since, and list with new ones', async () => {
      const old = {
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
      const store = await fixture.openWithOldRows([old]);
      try {
        const read = await store.get(old.id);
        assert.ok(read, 'the old call is still there');
        assert.deepEqual(read.resumptions, noResumptions());
        assert.deepEqual(read.tools, noToolCalls());
        assert.equal(read.transcript[0]?.text, 'hello');
        const fresh = fullRecord('aaaaaaaa-2222-3333-4444-555555555555', 1_700_000_100_000);
        await store.save(fresh);
        const listed = await store.list({ limit: 10 });
        assert.deepEqual(
          listed.map((r) => [r.id, r.resumptions.count]),
          [
            [fresh.id, 1],
            [old.id, 0],
          ],
        );
      } finally {
        await store.close();
      }
    });

    test('a transcript with a NUL character is saved (the character may be dropped, nothing else)', async () => {
      const store = await fixture.open();
      try {
        const r = fullRecord('nul', 1000);
        r.transcript[0]!.text = 'before\u0000after';
        await store.save(r);
        assert.equal((await store.get('nul'))?.transcript[0]?.text.replaceAll('\u0000', ''), 'beforeafter');
      } finally {
        await store.close();
      }
    });
  });
}

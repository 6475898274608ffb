import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CallBook } from '../../src/calls/call-book.ts';
import { createHttpApp } from '../../src/http/app.ts';
import { silentLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { RecordingAnalyzer, type AnalysisOutcome } from '../../src/recording/analyzer.ts';
import { noResumptions, type CallRecord } from '../../src/store/call-record.ts';
import { openSqliteCallStore, SCHEMA_VERSION, type CallStore } from '../../src/store/call-store.ts';
import { constructCall } from '../support/heard-call.ts';

const logger = silentLogger();
let dir: string;
let wav: string;
let truth: ReturnType<typeof constructCall>['truth'];

/** The recording as the recorder leaves it: 8 kHz 16-bit stereo, caller left, agent right. */
function writeStereoWav(path: string, left: Int16Array, right: Int16Array): void {
  const data = Buffer.alloc(left.length * 4);
  for (let i = 0; i < left.length; i++) {
    data.writeInt16LE(left[i]!, 4 * i);
    data.writeInt16LE(right[i]!, 4 * i + 2);
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(2, 22);
  h.writeUInt32LE(8000, 24);
  h.writeUInt32LE(8000 * 4, 28);
  h.writeUInt16LE(4, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([h, data]));
}

function record(id: string): CallRecord {
  return {
    id,
    direction: 'inbound',
    from: '100',
    to: '200',
    pipeline: 'echo',
    status: 'answered',
    createdAt: Date.now(),
    turns: [
      { agentAudioMs: 0, firstCommandMs: 1, playbackStartMs: 30 },
      { sttFinalMs: 0, playbackStartMs: 700 },
    ],
    resumptions: noResumptions(),
    transcript: [],
  };
}

const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('RecordingAnalyzer', () => {
  let store: CallStore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'heard-'));
    wav = join(dir, 'call.wav');
    const call = constructCall(1);
    truth = call.truth;
    writeStereoWav(wav, call.left, call.right);
    store = await openSqliteCallStore(':memory:');
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a finished call: the worker analyses its WAV, the stored record gets the heard turns, histograms and /turns', async () => {
    const book = new CallBook(store, logger);
    const metrics = new Metrics();
    const outcomes: AnalysisOutcome[] = [];
    const analyzer = new RecordingAnalyzer({
      sink: book,
      logger,
      observe: (o, a) => {
        outcomes.push(o);
        metrics.recordingAnalysed(o, a?.turns);
      },
    });
    try {
      book.add(record(ID(1)));
      book.setStatus(ID(1), 'completed');
      assert.equal(analyzer.enqueue(ID(1), wav), true);
      await analyzer.idle();
      assert.deepEqual(outcomes, ['ok']);
      const r = (await store.get(ID(1)))!;
      assert.equal(r.heardTurns?.length, truth.callerEnd.length + 1);
      const first = r.heardTurns![1]!;
      const expected = ((truth.agentStart[1]! - truth.callerEnd[0]!) * 1000) / 8000;
      assert.ok(Math.abs(first.heardLatencyMs! - expected) <= 20, `${first.heardLatencyMs} vs ${expected}`);
      assert.equal(r.heard?.bargeIns, 1);
      assert.ok(analyzer.stats.cpuMs > 0 && analyzer.stats.audioMs === r.heard!.audioMs);

      const text = await metrics.text();
      assert.match(text, new RegExp(`callbridge_heard_latency_seconds_count ${truth.callerEnd.length}\\b`));
      assert.match(text, /callbridge_bargein_stop_seconds_count 1\b/);
      assert.match(text, /callbridge_reply_inserted_silence_seconds_count 4\b/);
      assert.match(text, /callbridge_recording_analyses_total\{outcome="ok"\} 1\b/);

      const app = createHttpApp({
        health: () => ({ eslConnected: false, activeCalls: 0 }),
        metrics: () => metrics.text(),
        calls: {
          list: (o) => book.list(o),
          get: (id) => book.get(id),
          originate: () => Promise.reject(new Error('not here')),
          hangup: async () => 'unknown',
          subscribe: () => () => {},
        },
        maxBodyBytes: 65536,
      });
      const res = await app.request(`/calls/${ID(1)}/turns`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { analysed: boolean; turns: Array<{ pipeline?: object; heard?: object }> };
      assert.equal(body.analysed, true);
      // Two pipeline turns (greeting, first answer) beside the first two heard replies; the rest heard only.
      assert.deepEqual(body.turns[0]!.pipeline, record(ID(1)).turns[0]);
      assert.deepEqual(body.turns[1]!.pipeline, record(ID(1)).turns[1]);
      assert.equal(body.turns[2]!.pipeline, undefined);
      assert.equal(body.turns.length, r.heardTurns!.length);
      const one = (await (await app.request(`/calls/${ID(1)}`)).json()) as CallRecord;
      assert.equal(one.heardTurns?.length, r.heardTurns!.length);
      const doc = (await (await app.request('/openapi.json')).json()) as { paths: Record<string, unknown> };
      assert.ok(doc.paths['/calls/{id}/turns']);
      assert.equal((await app.request(`/calls/${ID(9)}/turns`)).status, 404);
    } finally {
      await analyzer.close();
    }
  });

  test('a record that is gone drops the result; a live call gets it in memory', async () => {
    const book = new CallBook(undefined, logger);
    const analyzer = new RecordingAnalyzer({ sink: book, logger });
    try {
      analyzer.enqueue(ID(2), wav);
      book.add(record(ID(3)));
      analyzer.enqueue(ID(3), wav);
      await analyzer.idle();
      assert.equal(analyzer.stats.gone, 1);
      assert.equal(analyzer.stats.done, 1);
      assert.equal(book.live(ID(3))!.heard?.turns, truth.callerEnd.length + 1);
    } finally {
      await analyzer.close();
    }
  });

  test('bounded queue: beyond maxQueue the oldest waiting job is dropped and counted', async () => {
    const book = new CallBook(undefined, logger);
    const outcomes: AnalysisOutcome[] = [];
    const analyzer = new RecordingAnalyzer({ sink: book, logger, maxQueue: 2, observe: (o) => outcomes.push(o) });
    try {
      for (let i = 10; i < 15; i++) analyzer.enqueue(ID(i), wav); // one runs, two wait, two dropped
      assert.equal(analyzer.stats.dropped, 2);
      assert.equal(analyzer.stats.queued, 2);
      await analyzer.idle();
      assert.deepEqual(outcomes.sort(), ['dropped', 'dropped', 'gone', 'gone', 'gone']);
    } finally {
      await analyzer.close();
    }
  });

  test('a job past its time limit is given up and its worker ended; a bad file fails alone', async () => {
    const book = new CallBook(undefined, logger);
    book.add(record(ID(21)));
    const analyzer = new RecordingAnalyzer({ sink: book, logger, timeoutMs: 1 });
    try {
      analyzer.enqueue(ID(20), wav);
      await analyzer.idle();
      assert.equal(analyzer.stats.timedOut, 1);
      const bad = join(dir, 'bad.wav');
      writeFileSync(bad, 'not a wav');
      const patient = new RecordingAnalyzer({ sink: book, logger });
      try {
        patient.enqueue(ID(21), bad);
        patient.enqueue(ID(21), wav);
        await patient.idle();
        assert.equal(patient.stats.failed, 1);
        assert.equal(patient.stats.done, 1);
      } finally {
        await patient.close();
      }
    } finally {
      await analyzer.close();
    }
  });

  test('close drops waiting jobs, ends the worker, and later jobs are refused', async () => {
    const book = new CallBook(undefined, logger);
    const analyzer = new RecordingAnalyzer({ sink: book, logger });
    analyzer.enqueue(ID(30), wav);
    analyzer.enqueue(ID(31), wav);
    assert.equal(analyzer.hasWorker, true);
    await analyzer.close();
    assert.equal(analyzer.hasWorker, false);
    assert.equal(analyzer.stats.queued, 0);
    assert.equal(analyzer.stats.running, false);
    assert.equal(analyzer.enqueue(ID(32), wav), false);
    await analyzer.idle(); // resolves at once: nothing left
  });

  test('migration: an older history gets the heard_latency_max_ms column, filled from the records', async () => {
    const path = join(dir, 'history.db');
    const { DatabaseSync } = await import('node:sqlite');
    const old = new DatabaseSync(path);
    old.exec(`CREATE TABLE calls (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, status TEXT NOT NULL,
      direction TEXT NOT NULL, record TEXT NOT NULL); PRAGMA user_version = 0;`);
    const analysed = { ...record(ID(40)), status: 'completed', heard: { latencyMaxMs: 1234 } };
    old
      .prepare('INSERT INTO calls VALUES (?, 1, ?, ?, ?)')
      .run(ID(40), 'completed', 'inbound', JSON.stringify(analysed));
    old
      .prepare('INSERT INTO calls VALUES (?, 2, ?, ?, ?)')
      .run(ID(41), 'completed', 'inbound', JSON.stringify(record(ID(41))));
    old.close();
    const s = await openSqliteCallStore(path);
    await s.close();
    const db = new DatabaseSync(path);
    try {
      assert.equal((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, SCHEMA_VERSION);
      const rows = db.prepare('SELECT id, heard_latency_max_ms AS m FROM calls ORDER BY id').all();
      assert.deepEqual(
        rows.map((r) => [r.id, r.m]),
        [
          [ID(40), 1234],
          [ID(41), null],
        ],
      );
    } finally {
      db.close();
    }
  });
});

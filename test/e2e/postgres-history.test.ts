import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TestSchemas } from '../support/postgres.ts';
import { startStack, until, type Stack } from '../support/stack.ts';
import { stackApi } from '../support/http.ts';

let schemas: TestSchemas;
before(async () => {
  // Fails (never skips) when PostgreSQL is not there: the message says how to start it.
  schemas = await TestSchemas.connect();
});
after(() => schemas?.close());

const get = (stack: Stack, path: string) => stackApi(stack).get(path);

test('with DATABASE_URL a completed call is kept in PostgreSQL: listed and readable after callbridge restarts', async (t) => {
  const { schema, url } = await schemas.create();
  const first = await startStack({ env: { DATABASE_URL: url } });
  let firstStopped = false;
  t.after(async () => {
    if (!firstStopped) await first.stop();
  });
  const call = first.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const session = await first.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream');
  session.sendInputTranscription('where is my parcel');
  session.turnComplete();
  await until(() => first.bridge.calls.active.get(call.uuid)?.transcript.some((e) => e.final), 3000, 'transcript');
  await call.hangup();
  await until(() => first.bridge.calls.active.size === 0, 3000, 'call ended');
  // The API answers at once, from memory or from the database.
  const listed = await get(first, '/calls?status=completed');
  assert.deepEqual(
    listed.body.calls.map((c: { id: string }) => c.id),
    [call.uuid],
  );
  await until(async () => first.bridge.callBook.saving.pending === 0, 5000, 'saved to PostgreSQL');
  const rows = await schemas.query(`SELECT id, status FROM ${schema}.callbridge_calls`);
  assert.deepEqual(rows.rows, [{ id: call.uuid, status: 'completed' }]);
  assert.equal(existsSync(join(first.playbackDir, 'history', 'calls.db')), false, 'no SQLite file');
  await first.stop();
  firstStopped = true;

  // Another process, another directory (so no SQLite file could carry it over), the same database.
  const second = await startStack({ env: { DATABASE_URL: url } });
  t.after(() => second.stop());
  const page = await get(second, '/calls?limit=5');
  assert.equal(page.status, 200);
  assert.deepEqual(
    page.body.calls.map((c: { id: string; status: string }) => [c.id, c.status]),
    [[call.uuid, 'completed']],
  );
  const one = await get(second, `/calls/${call.uuid}`);
  assert.equal(one.status, 200);
  assert.equal(one.body.direction, 'inbound');
  assert.equal(one.body.hangupCause, 'NORMAL_CLEARING');
  assert.equal(one.body.transcript[0]?.text, 'where is my parcel');
  assert.ok(one.body.endedAt >= one.body.createdAt);
  const transcript = await get(second, `/calls/${call.uuid}/transcript`);
  assert.equal(transcript.body.transcript[0]?.text, 'where is my parcel');
  assert.equal((await get(second, '/calls/00000000-0000-4000-8000-000000000000')).status, 404);
});

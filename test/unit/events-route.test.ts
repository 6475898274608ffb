import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallChange } from '../../src/calls/call-book.ts';
import { createHttpApp } from '../../src/http/app.ts';
import { EVENTS_QUEUE_LIMIT } from '../../src/http/routes/events.ts';
import type { CallRecord } from '../../src/store/call-record.ts';

const record = {
  id: 'c1',
  direction: 'inbound',
  from: '100',
  to: '200',
  pipeline: 'echo',
  status: 'answered',
  createdAt: 1,
};

test('GET /events drops a client that falls more than the queue limit behind, with an overflow event, and unsubscribes', async () => {
  let listener: ((r: CallRecord, c: CallChange) => void) | undefined;
  let unsubscribed = false;
  const app = createHttpApp({
    health: () => ({ eslConnected: false, activeCalls: 0 }),
    metrics: async () => '',
    calls: {
      list: async () => [],
      get: async () => undefined,
      originate: () => Promise.reject(new Error('not here')),
      hangup: async () => 'unknown',
      subscribe: () => () => {},
      subscribeAll: (fn) => {
        listener = fn;
        return () => {
          unsubscribed = true;
        };
      },
      live: () => [record as CallRecord],
    },
    maxBodyBytes: 65536,
  });
  const res = await app.request('/events');
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  // Changes arrive faster than anything is written: all within one turn of the event loop.
  for (let i = 0; i <= EVENTS_QUEUE_LIMIT; i++) {
    listener!(record as CallRecord, {
      type: 'transcript',
      entry: { speaker: 'caller', text: `${i}`, at: i, final: false },
    });
  }
  const text = await res.text();
  const events = [...text.matchAll(/^event: (.*)$/gm)].map((m) => m[1]);
  assert.equal(events[0], 'snapshot');
  assert.match(
    text,
    /"calls":\[\{"id":"c1","direction":"inbound","from":"100","to":"200","pipeline":"echo","status":"answered","createdAt":1\}\]/,
  );
  assert.equal(events.at(-1), 'overflow', 'the stream ends with overflow');
  assert.ok(events.length <= EVENTS_QUEUE_LIMIT + 2);
  assert.equal(unsubscribed, true);
});

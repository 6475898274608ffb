import type { OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { CallChange } from '../../calls/call-book.ts';
import type { CallRecord } from '../../store/call-record.ts';
import type { ApiDeps } from './shared.ts';

/** What the calls list shows of a call (the whole record goes with GET /calls/:id). */
export interface CallSummary {
  id: string;
  direction: CallRecord['direction'];
  from: string;
  to: string;
  pipeline: CallRecord['pipeline'];
  status: CallRecord['status'];
  createdAt: number;
  answeredAt?: number;
  endedAt?: number;
  hangupCause?: string;
  endReason?: string;
}

export function callSummary(r: CallRecord): CallSummary {
  return {
    id: r.id,
    direction: r.direction,
    from: r.from,
    to: r.to,
    pipeline: r.pipeline,
    status: r.status,
    createdAt: r.createdAt,
    ...(r.answeredAt !== undefined && { answeredAt: r.answeredAt }),
    ...(r.endedAt !== undefined && { endedAt: r.endedAt }),
    ...(r.hangupCause !== undefined && { hangupCause: r.hangupCause }),
    ...(r.endReason !== undefined && { endReason: r.endReason }),
  };
}

/** A change as /calls/:id/events sends it (a status change carries the hang-up cause and end reason). */
export function changeData(record: CallRecord, change: CallChange): object {
  return change.type === 'status'
    ? { ...change, hangupCause: record.hangupCause, endReason: record.endReason }
    : change;
}

/** Events a client may fall behind by before it is dropped (with an `overflow` event) rather than buffered without end. */
export const EVENTS_QUEUE_LIMIT = 1000;
const KEEP_ALIVE_MS = 15_000;

/**
 * `GET /events`: Server-Sent Events of every call, for the console's calls list. First `snapshot`
 * `{calls: CallSummary[]}` (the calls not ended), then `call` `{change, call}` for every change of any call,
 * and a keep-alive comment every 15 s. Auth as every endpoint (EventSource sends the console cookie).
 */
export function eventRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  const { subscribeAll, live } = deps.calls;
  if (!subscribeAll || !live) return;
  app.get('/events', (c) =>
    streamSSE(c, async (stream) => {
      const queue: Array<{ event: string; data: string }> = [];
      let closed = false;
      let overflowed = false;
      let wake: (() => void) | undefined;
      // Subscribed before the snapshot is taken, so no change falls between the two.
      const unsubscribe = subscribeAll((record, change) => {
        if (closed) return;
        if (queue.length >= EVENTS_QUEUE_LIMIT) {
          overflowed = closed = true;
        } else {
          queue.push({
            event: 'call',
            data: JSON.stringify({ change: changeData(record, change), call: callSummary(record) }),
          });
        }
        wake?.();
      });
      stream.onAbort(() => {
        closed = true;
        wake?.();
      });
      try {
        await stream.writeSSE({ event: 'snapshot', data: JSON.stringify({ calls: live().map(callSummary) }) });
        while (!closed) {
          while (queue.length && !closed) await stream.writeSSE(queue.shift()!);
          if (closed) break;
          let keepAlive: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
            keepAlive = setTimeout(resolve, KEEP_ALIVE_MS);
          });
          clearTimeout(keepAlive);
          wake = undefined;
          if (!queue.length && !closed) await stream.write(': keep-alive\n\n');
        }
        if (overflowed && !stream.aborted) {
          await stream.writeSSE({
            event: 'overflow',
            data: JSON.stringify({
              message: `more than ${EVENTS_QUEUE_LIMIT} events behind: reconnect for a new snapshot`,
            }),
          });
        }
      } finally {
        unsubscribe();
        queue.length = 0;
      }
    }),
  );
}

import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { FINAL_STATUSES, pageCursor, type CallRecord } from '../../store/call-record.ts';
import { Accepted, Call, CallId, CallList, ListQuery, NewCall, TranscriptEntry, type NewCallBody } from '../schemas.ts';
import { InvalidRequestError, UnavailableError, err, fail, type ApiDeps, type ListQueryValue } from './shared.ts';
import { turnsRoute } from './turns.ts';

/** What the /calls routes and their /outbound aliases share: one behaviour under two names. */
export interface CallHandlers {
  list(q: ListQueryValue): Promise<{ calls: CallRecord[]; next: string | undefined }>;
  accepted(r: CallRecord): { id: string; status: CallRecord['status']; links: { self: string; events: string } };
  place(
    body: NewCallBody,
  ): Promise<{ ok: true; record: CallRecord } | { ok: false; status: 400 | 503; code: string; message: string }>;
}

export function callHandlers(deps: ApiDeps): CallHandlers {
  return {
    list: async (q) => {
      const calls = await deps.calls.list(q);
      return { calls, next: calls.length === q.limit ? pageCursor(calls.at(-1)!) : undefined };
    },
    accepted: (r) => ({
      id: r.id,
      status: r.status,
      links: { self: `/calls/${r.id}`, events: `/calls/${r.id}/events` },
    }),
    place: async (body) => {
      try {
        return { ok: true, record: await deps.calls.originate(body) };
      } catch (e) {
        if (e instanceof InvalidRequestError)
          return { ok: false, status: 400, code: 'invalid_request', message: e.message };
        if (e instanceof UnavailableError) return { ok: false, status: 503, code: e.code, message: e.message };
        throw e;
      }
    },
  };
}

/** `GET <path>`: live and recent calls (also served under the outbound alias). */
export function listCallsRoute(app: OpenAPIHono, h: CallHandlers, path: string, description?: string): void {
  app.openapi(
    createRoute({
      method: 'get',
      path,
      ...(description ? { description } : {}),
      request: { query: ListQuery },
      responses: {
        200: {
          content: { 'application/json': { schema: CallList } },
          description: 'Live and recent calls, newest first',
        },
        400: err('Invalid query'),
      },
    }),
    async (c) => c.json(await h.list(c.req.valid('query')), 200),
  );
}

/** `GET <path>` with an `{id}`: one call (also served under the outbound alias). */
export function getCallRoute(app: OpenAPIHono, deps: ApiDeps, path: string, description?: string): void {
  app.openapi(
    createRoute({
      method: 'get',
      path,
      ...(description ? { description } : {}),
      request: { params: CallId },
      responses: {
        200: { content: { 'application/json': { schema: Call } }, description: 'One call' },
        404: err('Unknown call'),
      },
    }),
    async (c) => {
      const r = await deps.calls.get(c.req.valid('param').id);
      return r ? c.json(r, 200) : fail(c, 404, 'not_found', 'no such call');
    },
  );
}

/** The routes that place calls and read them: list, create, one, hang up, transcript, live events. */
export function callRoutes(app: OpenAPIHono, deps: ApiDeps, h: CallHandlers): void {
  listCallsRoute(app, h, '/calls');

  app.openapi(
    createRoute({
      method: 'post',
      path: '/calls',
      request: { body: { content: { 'application/json': { schema: NewCall } }, required: true } },
      responses: {
        202: {
          content: { 'application/json': { schema: Accepted } },
          description: 'Call registered and being dialed; follow it at links.self / links.events',
        },
        400: err('Invalid request (including values that would alter the originate command)'),
        415: err('Body not sent as application/json'),
        503: err('FreeSWITCH (or the node asked for) not connected (unavailable), or MAX_CALLS reached (at_capacity)'),
      },
    }),
    async (c) => {
      const placed = await h.place(c.req.valid('json'));
      if (!placed.ok) return fail(c, placed.status, placed.code, placed.message);
      return c.json(h.accepted(placed.record), 202);
    },
  );

  getCallRoute(app, deps, '/calls/{id}');
  turnsRoute(app, deps);

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/calls/{id}',
      request: { params: CallId },
      responses: {
        200: {
          content: { 'application/json': { schema: Call } },
          description: 'Hanging up (or already ended: idempotent)',
        },
        404: err('Unknown call'),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const result = await deps.calls.hangup(id);
      const r = await deps.calls.get(id);
      if (result === 'unknown' || !r) return fail(c, 404, 'not_found', 'no such call');
      return c.json(r, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/calls/{id}/transcript',
      request: { params: CallId },
      responses: {
        200: {
          content: {
            'application/json': { schema: z.object({ id: z.string(), transcript: z.array(TranscriptEntry) }) },
          },
          description: 'Both sides, in order',
        },
        404: err('Unknown call'),
      },
    }),
    async (c) => {
      const r = await deps.calls.get(c.req.valid('param').id);
      return r ? c.json({ id: r.id, transcript: r.transcript }, 200) : fail(c, 404, 'not_found', 'no such call');
    },
  );

  // Server-Sent Events: a snapshot, then every status change, transcript update, turn timing, resumption
  // (event `resumption`: `{count, at, reason, durationMs}`) and caller digits (event `dtmf`: `{digits, at}`),
  // until the call ends.
  app.get('/calls/:id/events', async (c) => {
    const id = c.req.param('id');
    const first = await deps.calls.get(id);
    if (!first) return fail(c, 404, 'not_found', 'no such call');
    return streamSSE(c, async (stream) => {
      let done = FINAL_STATUSES.has(first.status);
      const queue: Array<{ event: string; data: string }> = [{ event: 'snapshot', data: JSON.stringify(first) }];
      let wake: (() => void) | undefined;
      const unsubscribe = done
        ? () => {}
        : deps.calls.subscribe(id, (record, change) => {
            queue.push({
              event: change.type,
              data: JSON.stringify(
                change.type === 'status'
                  ? { ...change, hangupCause: record.hangupCause, endReason: record.endReason }
                  : change,
              ),
            });
            if (change.type === 'status' && FINAL_STATUSES.has(change.status)) done = true;
            wake?.();
          });
      stream.onAbort(() => {
        done = true;
        wake?.();
      });
      try {
        for (;;) {
          while (queue.length) await stream.writeSSE(queue.shift()!);
          if (done) break;
          let keepAlive: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
            keepAlive = setTimeout(resolve, 15000); // keep-alive comment below
          });
          clearTimeout(keepAlive);
          wake = undefined;
          if (!queue.length && !done) await stream.write(': keep-alive\n\n');
        }
        if (!stream.aborted) await stream.writeSSE({ event: 'end', data: JSON.stringify({ id }) });
      } finally {
        unsubscribe();
      }
    });
  });
}

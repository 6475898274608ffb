import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { streamSSE } from 'hono/streaming';
import { FINAL_STATUSES, pageCursor, type CallRecord, type CallStatus, type PageCursor } from '../store/call-record.ts';
import type { CallChange } from '../calls/call-book.ts';
import {
  Accepted,
  Call,
  CallId,
  CallList,
  ErrorBody,
  Health,
  ListQuery,
  NewCall,
  OutboundAccepted,
  OutboundCall,
  TranscriptEntry,
  type NewCallBody,
} from './schemas.ts';
import { twilioRoutes, type TwilioOptions } from './twilio.ts';
import { safeEqual } from '../secrets.ts';
import { issueLines } from '../errors.ts';

/** What the HTTP API needs from the rest of callbridge (kept narrow so http/ stays a thin layer). */
export interface ApiDeps {
  health(): { eslConnected: boolean; freeswitchVersion?: string; activeCalls: number };
  metrics(): Promise<string>;
  calls: {
    list(opts: { status?: CallStatus; limit: number; before?: PageCursor }): CallRecord[];
    get(id: string): CallRecord | undefined;
    /** Registers the call and sends the originate; rejects with InvalidRequestError for unusable values. */
    originate(body: NewCallBody): Promise<CallRecord>;
    hangup(id: string): Promise<'hanging-up' | 'ended' | 'unknown'>;
    subscribe(id: string, fn: (record: CallRecord, change: CallChange) => void): () => void;
  };
  /** Bearer token required on every endpoint but /health (and the Twilio webhook when TWILIO_AUTH_TOKEN lets us check Twilio's signature). */
  apiToken?: string;
  maxBodyBytes: number;
  twilio?: TwilioOptions;
}

export class InvalidRequestError extends Error {}
export class UnavailableError extends Error {}

type ErrorStatus = 400 | 401 | 404 | 413 | 415 | 500 | 503;
function fail<S extends ErrorStatus>(c: Context, status: S, code: string, message: string, details?: string[]) {
  return c.json({ error: { code, message, ...(details && { details }) } }, status);
}

const err = (description: string) => ({ content: { 'application/json': { schema: ErrorBody } }, description });

/** The Hono application: JSON endpoints on the same port as the media WebSocket. */
export function createHttpApp(deps: ApiDeps): OpenAPIHono {
  const app = new OpenAPIHono({
    // Invalid requests get the same JSON error shape as everything else, with every problem listed.
    defaultHook: (result, c) => {
      if (result.success) return;
      const details = issueLines(result.error, 'body');
      return fail(c, 400, 'invalid_request', 'the request is not valid', details);
    },
  });

  const listCalls = (q: z.infer<typeof ListQuery>) => {
    const calls = deps.calls.list(q);
    return { calls, next: calls.length === q.limit ? pageCursor(calls.at(-1)!) : undefined };
  };
  const accepted = (r: CallRecord) => ({
    id: r.id,
    status: r.status,
    links: { self: `/calls/${r.id}`, events: `/calls/${r.id}/events` },
  });
  const place = async (
    body: NewCallBody,
  ): Promise<{ ok: true; record: CallRecord } | { ok: false; status: 400 | 503; code: string; message: string }> => {
    try {
      return { ok: true, record: await deps.calls.originate(body) };
    } catch (e) {
      if (e instanceof InvalidRequestError)
        return { ok: false, status: 400, code: 'invalid_request', message: e.message };
      if (e instanceof UnavailableError) return { ok: false, status: 503, code: 'unavailable', message: e.message };
      throw e;
    }
  };

  app.use(
    '*',
    bodyLimit({
      maxSize: deps.maxBodyBytes,
      onError: (c) => fail(c, 413, 'body_too_large', `request bodies are limited to ${deps.maxBodyBytes} bytes`),
    }),
  );
  app.use('*', async (c, next) => {
    // Twilio cannot send a bearer token; its signature stands in for it, but only when we can check it.
    const open = c.req.path === '/health' || (c.req.path.startsWith('/twilio/') && !!deps.twilio?.authToken);
    if (!deps.apiToken || open) return next();
    const given = c.req.header('authorization')?.replace(/^Bearer\s+/i, '') ?? '';
    if (!safeEqual(given, deps.apiToken))
      return fail(c, 401, 'unauthorized', 'missing or wrong bearer token (Authorization: Bearer <API_TOKEN>)');
    return next();
  });

  // Without this the JSON validator sees no body and the request fails with an unhelpful 500.
  app.on('POST', ['/calls', '/outbound/call'], async (c, next) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i.test(type)) {
      return fail(
        c,
        415,
        'unsupported_media_type',
        `send the body as JSON with Content-Type: application/json (got ${type ? JSON.stringify(type.slice(0, 60)) : 'none'})`,
      );
    }
    return next();
  });

  app.openapi(
    createRoute({
      method: 'get',
      path: '/health',
      responses: { 200: { content: { 'application/json': { schema: Health } }, description: 'Process up; ESL state' } },
    }),
    (c) => {
      const h = deps.health();
      return c.json(
        {
          status: 'ok' as const,
          esl: h.eslConnected ? ('connected' as const) : ('disconnected' as const),
          freeswitch: h.freeswitchVersion,
          activeCalls: h.activeCalls,
        },
        200,
      );
    },
  );

  app.get('/metrics', async (c) =>
    c.text(await deps.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/calls',
      request: { query: ListQuery },
      responses: {
        200: {
          content: { 'application/json': { schema: CallList } },
          description: 'Live and recent calls, newest first',
        },
        400: err('Invalid query'),
      },
    }),
    (c) => c.json(listCalls(c.req.valid('query')), 200),
  );

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
        503: err('FreeSWITCH not connected'),
      },
    }),
    async (c) => {
      const placed = await place(c.req.valid('json'));
      if (!placed.ok) return fail(c, placed.status, placed.code, placed.message);
      return c.json(accepted(placed.record), 202);
    },
  );

  // The Python SIP agent's outbound API, kept for its users: same auth, validation and calls, its field names.
  app.openapi(
    createRoute({
      method: 'post',
      path: '/outbound/call',
      description: "Alias of POST /calls with `phone_number` for `to` (the Python SIP agent's API)",
      request: { body: { content: { 'application/json': { schema: OutboundCall } }, required: true } },
      responses: {
        202: {
          content: { 'application/json': { schema: OutboundAccepted } },
          description: 'Call registered and being dialed',
        },
        400: err('Invalid request'),
        415: err('Body not sent as application/json'),
        503: err('FreeSWITCH not connected'),
      },
    }),
    async (c) => {
      const { phone_number, ...rest } = c.req.valid('json');
      const placed = await place({ ...rest, to: phone_number });
      if (!placed.ok) return fail(c, placed.status, placed.code, placed.message);
      return c.json({ ...accepted(placed.record), call_id: placed.record.id, phone_number }, 202);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/outbound/calls',
      description: 'Alias of GET /calls',
      request: { query: ListQuery },
      responses: {
        200: {
          content: { 'application/json': { schema: CallList } },
          description: 'Live and recent calls, newest first',
        },
        400: err('Invalid query'),
      },
    }),
    (c) => c.json(listCalls(c.req.valid('query')), 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/outbound/call/{id}',
      description: 'Alias of GET /calls/{id}',
      request: { params: CallId },
      responses: {
        200: { content: { 'application/json': { schema: Call } }, description: 'One call' },
        404: err('Unknown call'),
      },
    }),
    (c) => {
      const r = deps.calls.get(c.req.valid('param').id);
      return r ? c.json(r, 200) : fail(c, 404, 'not_found', 'no such call');
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/calls/{id}',
      request: { params: CallId },
      responses: {
        200: { content: { 'application/json': { schema: Call } }, description: 'One call' },
        404: err('Unknown call'),
      },
    }),
    (c) => {
      const r = deps.calls.get(c.req.valid('param').id);
      return r ? c.json(r, 200) : fail(c, 404, 'not_found', 'no such call');
    },
  );

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
      const r = deps.calls.get(id);
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
    (c) => {
      const r = deps.calls.get(c.req.valid('param').id);
      return r ? c.json({ id: r.id, transcript: r.transcript }, 200) : fail(c, 404, 'not_found', 'no such call');
    },
  );

  // Server-Sent Events: a snapshot, then every status change, transcript update, turn timing and resumption
  // (event `resumption`: `{count, at, reason, durationMs}`), until the call ends.
  app.get('/calls/:id/events', (c) => {
    const id = c.req.param('id');
    const first = deps.calls.get(id);
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

  if (deps.twilio) app.route('/twilio', twilioRoutes(deps.twilio));

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'callbridge',
      version: '0.1.0',
      description: 'Calls API of callbridge: place and watch phone calls answered by an AI agent through FreeSWITCH.',
    },
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });

  app.notFound((c) => fail(c, 404, 'not_found', `no route for ${c.req.method} ${c.req.path}`));
  app.onError((e, c) => {
    // Malformed JSON and the like surface as HTTPException(400) from the validators.
    if (e instanceof HTTPException && e.status === 400) return fail(c, 400, 'invalid_request', e.message);
    return fail(c, 500, 'internal', e.message);
  });
  return app;
}

import { type OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { Call, CallId, CallList, ListQuery, OutboundAccepted, OutboundCall } from '../schemas.ts';
import type { CallHandlers } from './calls.ts';
import { err, fail, type ApiDeps } from './shared.ts';

/**
 * The Python SIP agent's outbound API, kept for its users: the same auth, validation, calls and handlers as
 * /calls, under its paths and field names (`phone_number` for `to`).
 */
export function outboundAliasRoutes(app: OpenAPIHono, deps: ApiDeps, h: CallHandlers): void {
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
      const placed = await h.place({ ...rest, to: phone_number });
      if (!placed.ok) return fail(c, placed.status, placed.code, placed.message);
      return c.json({ ...h.accepted(placed.record), call_id: placed.record.id, phone_number }, 202);
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
    (c) => c.json(h.list(c.req.valid('query')), 200),
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
}

import { type OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { OutboundAccepted, OutboundCall } from '../schemas.ts';
import { type CallHandlers, getCallRoute, listCallsRoute } from './calls.ts';
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
        503: err('FreeSWITCH (or the node asked for) not connected (unavailable), or MAX_CALLS reached (at_capacity)'),
      },
    }),
    async (c) => {
      const { phone_number, ...rest } = c.req.valid('json');
      const placed = await h.place({ ...rest, to: phone_number });
      if (!placed.ok) return fail(c, placed.status, placed.code, placed.message);
      return c.json({ ...h.accepted(placed.record), call_id: placed.record.id, phone_number }, 202);
    },
  );
  listCallsRoute(app, h, '/outbound/calls', 'Alias of GET /calls');
  getCallRoute(app, deps, '/outbound/call/{id}', 'Alias of GET /calls/{id}');
}

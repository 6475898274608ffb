import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { safeEqual } from '../secrets.ts';
import { issueLines } from '../errors.ts';
import { callControlRoutes } from './routes/call-control.ts';
import { callHandlers, callRoutes } from './routes/calls.ts';
import { outboundAliasRoutes } from './routes/outbound-aliases.ts';
import { recordingRoutes } from './routes/recordings.ts';
import { fail, type ApiDeps } from './routes/shared.ts';
import { Health } from './schemas.ts';
import { twilioRoutes } from './twilio.ts';

export { CallNotLiveError, InvalidRequestError, UnavailableError, type ApiDeps } from './routes/shared.ts';

/** POST routes whose body is JSON: without this check the validator sees no body and fails with a 500. */
const JSON_POSTS = ['/calls', '/outbound/call', '/calls/:id/transfer', '/calls/:id/dtmf', '/calls/:id/say'];

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

  app.on('POST', JSON_POSTS, async (c, next) => {
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

  const handlers = callHandlers(deps);
  callRoutes(app, deps, handlers);
  callControlRoutes(app, deps);
  outboundAliasRoutes(app, deps, handlers);
  recordingRoutes(app, deps);

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

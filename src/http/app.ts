import { OpenAPIHono, createRoute } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { fileURLToPath } from 'node:url';
import { issueLines } from '../errors.ts';
import { HistoryUnavailableError } from '../store/call-store.ts';
import { ApiAuth, CONSOLE_COOKIE, CONSOLE_CSRF_HEADER, isSafeMethod } from './console-session.ts';
import { callControlRoutes } from './routes/call-control.ts';
import { callHandlers, callRoutes } from './routes/calls.ts';
import { browserCallRoute, consoleFiles, consoleSessionRoutes, refuse } from './routes/console.ts';
import { eventRoutes } from './routes/events.ts';
import { outboundAliasRoutes } from './routes/outbound-aliases.ts';
import { recordingRoutes } from './routes/recordings.ts';
import { fail, UnavailableError, type ApiDeps } from './routes/shared.ts';
import { Health } from './schemas.ts';
import { twilioRoutes } from './twilio.ts';

export { CallNotLiveError, InvalidRequestError, UnavailableError, type ApiDeps } from './routes/shared.ts';

/** POST routes whose body is JSON: without this check the validator sees no body and fails with a 500. */
const JSON_POSTS = [
  '/calls',
  '/outbound/call',
  '/calls/:id/transfer',
  '/calls/:id/dtmf',
  '/calls/:id/say',
  '/console/session',
];

/** The built web console (scripts/build-console.ts), found from src/http/ and dist/http/ alike. */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../dist/console/', import.meta.url));

/** Served without auth: the console's files (the page asks for the token) and its sign-in. */
function isConsolePublic(method: string, path: string): boolean {
  if (path === '/console/session') return true;
  return (method === 'GET' || method === 'HEAD') && (path === '/' || path.startsWith('/console/assets/'));
}

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
  const auth = deps.apiToken ? new ApiAuth(deps.apiToken, deps.console?.sessionHours ?? 12) : undefined;
  app.use('*', async (c, next) => {
    // Twilio cannot send a bearer token; its signature stands in for it, but only when we can check it.
    const open =
      c.req.path === '/health' ||
      (c.req.path.startsWith('/twilio/') && !!deps.twilio?.authToken) ||
      isConsolePublic(c.req.method, c.req.path);
    if (!auth || open) return next();
    const how = auth.of(c);
    if (!how)
      return fail(
        c,
        401,
        'unauthorized',
        'missing or wrong bearer token (Authorization: Bearer <API_TOKEN>), and no valid console sign-in',
      );
    // A cookie rides along on any request the browser makes; a header of our own only on the console's.
    if (how === 'cookie' && !isSafeMethod(c.req.method) && c.req.header(CONSOLE_CSRF_HEADER) !== '1')
      return refuse(c, 403, 'csrf', `console requests that change something must send ${CONSOLE_CSRF_HEADER}: 1`);
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
          ...(h.nodes && { nodes: h.nodes }),
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
  eventRoutes(app, deps);
  consoleSessionRoutes(app, auth);
  browserCallRoute(app, deps);
  consoleFiles(app, deps.console?.dir ?? DEFAULT_CONSOLE_DIR);

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
  app.openAPIRegistry.registerComponent('securitySchemes', 'consoleCookie', {
    type: 'apiKey',
    in: 'cookie',
    name: CONSOLE_COOKIE,
    description: `Set by POST /console/session; requests that change something also send ${CONSOLE_CSRF_HEADER}: 1`,
  });

  app.notFound((c) => fail(c, 404, 'not_found', `no route for ${c.req.method} ${c.req.path}`));
  app.onError((e, c) => {
    // Malformed JSON and the like surface as HTTPException(400) from the validators.
    if (e instanceof HTTPException && e.status === 400) return fail(c, 400, 'invalid_request', e.message);
    if (e instanceof HistoryUnavailableError) return fail(c, 503, 'history_unavailable', e.message);
    if (e instanceof UnavailableError) return fail(c, 503, e.code, e.message);
    return fail(c, 500, 'internal', e.message);
  });
  return app;
}

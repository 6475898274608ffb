import { readFile, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { type OpenAPIHono, createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { getMimeType } from 'hono/utils/mime';
import { BROWSER_TICKET_HEADER } from '../../calls/browser-tickets.ts';
import { type ApiAuth, CONSOLE_COOKIE, SignInLimiter } from '../console-session.ts';
import { BrowserCall, ConsoleSessionState, ConsoleSignIn } from '../schemas.ts';
import { err, fail, type ApiDeps } from './shared.ts';

export const CONSOLE_NOT_BUILT = 'console not built: run npm run build:console';

/** One path segment of an asset: no dot first (so no `.` / `..` / hidden files), nothing to escape the folder. */
const ASSET_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** An error in the API's JSON shape for the statuses `fail` does not cover. */
export function refuse(c: Context, status: 403 | 429, code: string, message: string) {
  return c.json({ error: { code, message } }, status);
}

/**
 * The built console's files, served without auth (the page asks for the token itself): `GET /` is
 * index.html, `GET /console/assets/<path>` the files beside it. Always revalidated (no-cache + ETag), so a
 * new build is picked up at the next load.
 */
export function consoleFiles(app: OpenAPIHono, dir: string): void {
  const assets = join(dir, 'assets');
  app.on(['GET', 'HEAD'], '/', async (c) => {
    const file = await readIfFile(join(dir, 'index.html'));
    if (!file) return c.text(CONSOLE_NOT_BUILT, 503, { 'Cache-Control': 'no-store' });
    return serve(c, 'index.html', file, {
      // The page holds a "Call the agent" button: no other site may frame it.
      'Content-Security-Policy': "frame-ancestors 'none'",
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
    });
  });
  app.on(['GET', 'HEAD'], '/console/assets/*', async (c) => {
    const segments = c.req.path.slice('/console/assets/'.length).split('/');
    const notFound = () => fail(c, 404, 'not_found', 'no such console file');
    if (segments.length > 4 || !segments.every((s) => ASSET_SEGMENT.test(s))) return notFound();
    const path = join(assets, ...segments);
    if (!path.startsWith(assets + sep)) return notFound();
    const file = await readIfFile(path);
    return file ? serve(c, path, file, {}) : notFound();
  });
}

async function readIfFile(path: string): Promise<{ bytes: Buffer; mtimeMs: number } | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return undefined;
    return { bytes: await readFile(path), mtimeMs: s.mtimeMs };
  } catch {
    return undefined;
  }
}

function serve(c: Context, name: string, file: { bytes: Buffer; mtimeMs: number }, extra: Record<string, string>) {
  const etag = `W/"${file.bytes.length.toString(36)}-${Math.floor(file.mtimeMs).toString(36)}"`;
  const headers = {
    'Content-Type': getMimeType(name) ?? 'application/octet-stream',
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    ETag: etag,
    ...extra,
  };
  if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
  if (c.req.method === 'HEAD') return c.body(null, 200, { ...headers, 'Content-Length': String(file.bytes.length) });
  return c.body(new Uint8Array(file.bytes), 200, headers);
}

/**
 * `GET/POST/DELETE /console/session`: whether the console must sign in, signing in with the API token (a
 * signed HttpOnly cookie, SameSite=Strict), signing out. Open routes: the auth middleware lets them through.
 */
export function consoleSessionRoutes(app: OpenAPIHono, auth: ApiAuth | undefined): void {
  const limiter = new SignInLimiter();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/console/session',
      description: 'Whether the console needs to sign in, and whether this request is signed in (no auth needed)',
      responses: { 200: { content: { 'application/json': { schema: ConsoleSessionState } }, description: 'State' } },
    }),
    (c) => c.json({ authRequired: !!auth, authenticated: !auth || auth.of(c) !== undefined }, 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/console/session',
      description:
        'Sign the console in with the API token: sets the callbridge_console cookie (HttpOnly, SameSite=Strict) that ' +
        'then authorizes requests like the bearer token; requests that change something must also send ' +
        'X-Callbridge-Console: 1. Without API_TOKEN there is nothing to sign in to (204, no cookie).',
      request: { body: { content: { 'application/json': { schema: ConsoleSignIn } }, required: true } },
      responses: {
        204: { description: 'Signed in' },
        400: err('Invalid request'),
        401: err('Wrong token'),
        429: err('Too many wrong tokens lately: try again after Retry-After seconds'),
      },
    }),
    (c) => {
      if (!auth) return c.body(null, 204);
      const wait = limiter.blockedForSeconds();
      if (wait) {
        c.header('Retry-After', String(wait));
        return refuse(c, 429, 'too_many_attempts', `too many wrong tokens: try again in ${wait} s`);
      }
      if (!auth.isToken(c.req.valid('json').token)) {
        limiter.failed();
        return fail(c, 401, 'unauthorized', 'wrong token');
      }
      setCookie(c, CONSOLE_COOKIE, auth.sessions.issue(), {
        httpOnly: true,
        sameSite: 'Strict',
        path: '/',
        maxAge: auth.sessions.maxAgeSeconds,
        secure: overHttps(c),
      });
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/console/session',
      description: 'Sign the console out (clears the cookie)',
      responses: { 204: { description: 'Signed out' } },
    }),
    (c) => {
      deleteCookie(c, CONSOLE_COOKIE, { path: '/', httpOnly: true, sameSite: 'Strict', secure: overHttps(c) });
      return c.body(null, 204);
    },
  );
}

/** The request reached us over https (directly, or through a proxy that says so). */
function overHttps(c: Context): boolean {
  const forwarded = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  return forwarded === 'https' || new URL(c.req.url).protocol === 'https:';
}

/** `POST /console/browser-call`: what the page needs to call the agent over SIP on WebSocket, with a fresh ticket. */
export function browserCallRoute(app: OpenAPIHono, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/console/browser-call',
      description:
        "A single-use ticket for calling the agent from the browser (SIP over WebSocket to FreeSWITCH's browser " +
        'profile, which reaches only the agent). Cookie-authenticated requests need X-Callbridge-Console: 1.',
      security: [{ bearer: [] }, { consoleCookie: [] }],
      responses: {
        200: { content: { 'application/json': { schema: BrowserCall } }, description: 'Dial `target` at `wsUrl`' },
        401: err('Not authorized'),
        404: err('Browser calls are off (BROWSER_CALLS=false)'),
      },
    }),
    (c) => {
      const browser = deps.browserCalls;
      if (!browser) return fail(c, 404, 'browser_calls_off', 'browser calls are off (BROWSER_CALLS=false)');
      const { ticket, expiresAt } = browser.issueTicket();
      const body = {
        wsUrl: browser.wsUrl,
        target: browser.target,
        ticket,
        header: BROWSER_TICKET_HEADER,
        expiresAt,
        iceServers: browser.iceServers,
      };
      return c.json(body, 200, { 'Cache-Control': 'no-store' });
    },
  );
}

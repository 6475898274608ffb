import { Hono } from 'hono';

/** What the HTTP API reads from the rest of callbridge (kept narrow so http/ stays a thin layer). */
export interface ApiDeps {
  health(): { eslConnected: boolean; activeCalls: number };
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
}

/** The Hono application: JSON endpoints on the same port as the media WebSocket. */
export function createHttpApp(deps: ApiDeps): Hono {
  const app = new Hono();
  app.get('/health', (c) => {
    const h = deps.health();
    return c.json({ status: 'ok', esl: h.eslConnected ? 'connected' : 'disconnected', activeCalls: h.activeCalls });
  });
  app.get('/metrics', async (c) => c.text(await deps.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));
  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((err, c) => c.json({ error: { code: 'internal', message: err.message } }, 500));
  return app;
}

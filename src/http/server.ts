import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { MediaRouter } from '../calls/media-port.ts';
import type { Logger } from '../log.ts';
import { attachMediaSockets, type MediaSocketOptions } from './media-socket.ts';
import { StartupError } from '../errors.ts';

export interface HttpServer {
  readonly port: number;
  readonly media: ReturnType<typeof attachMediaSockets>;
  close(timeoutMs: number): Promise<void>;
}

/** One port for the HTTP API and the media WebSocket. */
export async function startHttpServer(
  opts: { app: OpenAPIHono; router: MediaRouter; host: string; port: number; logger: Logger } & Omit<
    MediaSocketOptions,
    'logger'
  >,
): Promise<HttpServer> {
  const server = createAdaptorServer({ fetch: opts.app.fetch }) as Server;
  // Node waits 60 s for a request's headers by default; mod_audio_stream sends its upgrade in one write, so
  // anything slower is a stalled or hostile client holding a socket.
  server.headersTimeout = 10_000;
  const { app: _app, router, host: _host, port: _port, ...mediaOptions } = opts;
  const media = attachMediaSockets(server, router, mediaOptions);
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(listenError(err, opts.host, opts.port));
    server.once('error', failed);
    server.listen(opts.port, opts.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    media,
    /** Close media sockets (1001) and the listener; force-close after `timeoutMs`. */
    async close(timeoutMs: number): Promise<void> {
      media.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        media.terminate();
        server.closeAllConnections();
      }, timeoutMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** The usual reasons a listen fails, said in terms of the settings that fix them. */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code === 'EADDRINUSE')
    return new StartupError(
      `HTTP_PORT ${port} on ${host} is already in use (another callbridge?): stop it or set HTTP_PORT`,
    );
  if (err.code === 'EACCES')
    return new StartupError(`HTTP_PORT ${port} needs privileges this user lacks: use a port above 1023`);
  if (err.code === 'EADDRNOTAVAIL') return new StartupError(`HTTP_HOST ${host} is not an address of this machine`);
  return err;
}

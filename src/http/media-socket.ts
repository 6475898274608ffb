import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { MEDIA_CLOSE, type MediaRouter } from '../calls/media-port.ts';
import type { Logger } from '../log.ts';

const STREAM_PATH = /^\/stream\/([A-Za-z0-9-]{1,64})$/;

/**
 * The WebSocket mod_audio_stream connects to, on the HTTP port: `/stream/<call uuid>?token=<secret>`.
 * Sockets for unknown calls or with a wrong token are accepted and closed at once with a 44xx code (the
 * module logs the code; a refused upgrade would only say "connect failed"). Frames go straight to the call's
 * sink: binary = caller audio, text = metadata and notes.
 */
export function attachMediaSockets(server: Server, router: MediaRouter, opts: { maxMessageBytes: number; logger: Logger }) {
  const { logger } = opts;
  // No compression: PCM does not compress and deflate would cost CPU on every frame.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, perMessageDeflate: false });
  let closing = false;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://callbridge');
    const match = STREAM_PATH.exec(url.pathname);
    if (!match) {
      logger.warn({ path: url.pathname, remote: req.socket.remoteAddress }, 'WebSocket upgrade for an unknown path refused');
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, match[1]!, url.searchParams.get('token') ?? '', req.socket.remoteAddress));
  });

  function accept(ws: WebSocket, callId: string, token: string, remote: string | undefined): void {
    ws.on('error', (err) => logger.debug({ call: callId, err: err.message }, 'media socket error'));
    if (closing) return ws.close(MEDIA_CLOSE.shuttingDown, 'shutting down');
    const result = router.attach(callId, token, {
      sendText: (text) => {
        if (ws.readyState !== ws.OPEN) return false;
        ws.send(text);
        return true;
      },
      close: (code, reason) => ws.close(code, reason),
    });
    if (!result.ok) {
      logger.warn({ call: callId, code: result.code, reason: result.reason, remote }, 'media socket refused');
      ws.close(result.code, result.reason);
      return;
    }
    const sink = result.sink;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return sink.text(data.toString('utf8'));
      // L16 frames are whole 16-bit samples; anything else is malformed and dropped (and counted).
      if (data.length === 0 || (data.length & 1) === 1) return sink.badFrame(data.length);
      sink.audio(data);
    });
    ws.on('close', (code: number, reason: Buffer) => sink.closed(code, reason.toString('utf8')));
  }

  return {
    get connections(): number {
      return wss.clients.size;
    },
    close(): void {
      closing = true;
      for (const ws of wss.clients) ws.close(MEDIA_CLOSE.shuttingDown, 'shutting down');
      wss.close();
    },
    terminate(): void {
      for (const ws of wss.clients) ws.terminate();
    },
  };
}

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { MEDIA_CLOSE, type MediaRouter } from '../calls/media-port.ts';
import type { Logger } from '../log.ts';
import { Counter, type Registry } from 'prom-client';
import { RefusalLog } from './refusal-log.ts';

const STREAM_PATH = /^\/stream\/([A-Za-z0-9-]{1,64})$/;

/**
 * Upgraded sockets not (yet) tied to a call: beyond this, upgrades for calls we do not know are refused with
 * a 503 before the handshake. A refused socket waits for the peer's close frame; scanners and dead clients
 * never send one, and without a cap a burst of them would pile up.
 */
const MAX_UNAUTHENTICATED = 64;
/** How long a refused socket may take to answer our close frame before it is cut (ws waits 30 s). */
const REFUSED_CLOSE_MS = 2000;

export interface MediaSocketOptions {
  maxMessageBytes: number;
  logger: Logger;
  /** Where callbridge_media_sockets_refused_total is registered. */
  registry?: Registry;
  /** True for a call that may stream now: its upgrades are never held back by the cap. */
  isLiveCall?: (callId: string) => boolean;
}

/**
 * The WebSocket mod_audio_stream connects to, on the HTTP port: `/stream/<call uuid>?token=<secret>`.
 * Sockets for unknown calls or with a wrong token are accepted and closed at once with a 44xx code (the
 * module logs the code; a refused upgrade would only say "connect failed"). Frames go straight to the call's
 * sink: binary = caller audio, text = metadata and notes. Nothing here waits: the 101 goes out in the same
 * turn of the event loop as the upgrade request.
 */
export function attachMediaSockets(server: Server, router: MediaRouter, opts: MediaSocketOptions) {
  const { logger } = opts;
  // No compression: PCM does not compress and deflate would cost CPU on every frame.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, perMessageDeflate: false });
  const refusals = new RefusalLog(logger);
  const refusedTotal = new Counter({
    name: 'callbridge_media_sockets_refused_total',
    help: 'Media WebSocket connections refused, by reason (unknown call, bad token, unknown path, too many unauthenticated)',
    labelNames: ['reason'],
    registers: opts.registry ? [opts.registry] : [],
  });
  let unauthenticated = 0;
  let closing = false;

  const refuseHttp = (socket: Duplex, status: string, reason: string, fields: Record<string, unknown>, msg: string) => {
    refusedTotal.inc({ reason });
    refusals.refused(reason, fields, msg);
    // Destroyed once written: a client that never reads or closes must not keep it.
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://callbridge');
    const match = STREAM_PATH.exec(url.pathname);
    const remote = req.socket.remoteAddress;
    if (!match)
      return refuseHttp(
        socket,
        '404 Not Found',
        'unknown_path',
        { path: url.pathname.slice(0, 100), remote },
        'WebSocket upgrade for an unknown path refused',
      );
    const callId = match[1]!;
    if (unauthenticated >= MAX_UNAUTHENTICATED && !opts.isLiveCall?.(callId)) {
      return refuseHttp(
        socket,
        '503 Service Unavailable',
        'too_many_unauthenticated',
        { call: callId, remote, limit: MAX_UNAUTHENTICATED },
        'media socket refused: too many unauthenticated connections',
      );
    }
    unauthenticated++;
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (!accept(ws, callId, url.searchParams.get('token') ?? '', remote)) return;
      unauthenticated--;
    });
  });

  /** True when the socket now belongs to a call; false when it was refused (it counts until it is closed). */
  function accept(ws: WebSocket, callId: string, token: string, remote: string | undefined): boolean {
    ws.on('error', (err) => logger.debug({ call: callId, err: err.message }, 'media socket error'));
    const refused = (code: number, reason: string) => {
      const cut = setTimeout(() => ws.terminate(), REFUSED_CLOSE_MS).unref();
      ws.once('close', () => {
        clearTimeout(cut);
        unauthenticated--;
      });
      ws.close(code, reason);
      return false;
    };
    if (closing) return refused(MEDIA_CLOSE.shuttingDown, 'shutting down');
    const result = router.attach(callId, token, {
      sendText: (text) => {
        if (ws.readyState !== ws.OPEN) return false;
        ws.send(text);
        return true;
      },
      close: (code, reason) => ws.close(code, reason),
    });
    if (!result.ok) {
      const reason = result.code === MEDIA_CLOSE.badToken ? 'bad_token' : 'unknown_call';
      refusedTotal.inc({ reason });
      refusals.refused(
        reason,
        { call: callId, code: result.code, reason: result.reason, remote },
        'media socket refused',
      );
      return refused(result.code, result.reason);
    }
    const sink = result.sink;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return sink.text(data.toString('utf8'));
      // L16 frames are whole 16-bit samples; anything else is malformed and dropped (and counted).
      if (data.length === 0 || (data.length & 1) === 1) return sink.badFrame(data.length);
      sink.audio(data);
    });
    ws.on('close', (code: number, reason: Buffer) => sink.closed(code, reason.toString('utf8')));
    return true;
  }

  return {
    get connections(): number {
      return wss.clients.size;
    },
    close(): void {
      closing = true;
      refusals.flush();
      for (const ws of wss.clients) ws.close(MEDIA_CLOSE.shuttingDown, 'shutting down');
      wss.close();
    },
    terminate(): void {
      for (const ws of wss.clients) ws.terminate();
    },
  };
}

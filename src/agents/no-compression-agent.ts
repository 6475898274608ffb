/**
 * HTTP agents for WebSocket clients that offer permessage-deflate and give no way to stop it (the Deepgram SDK
 * builds its `ws` options itself; only an agent can be passed in): the offer is taken off the upgrade request
 * before it leaves. A service that would accept it then never deflates our audio messages, which would cost
 * CPU on both sides for audio that barely compresses. (Gemini Live's socket is handled in
 * gemini-live/live-socket-capture.ts.)
 */
import http from 'node:http';
import https from 'node:https';

const OFFER = 'Sec-WebSocket-Extensions';

declare module 'http' {
  interface Agent {
    /** Node calls it from ClientRequest's constructor: headers set, not yet written. Undocumented, stable since 0.x. */
    addRequest(req: ClientRequest, options: unknown): void;
  }
}

class PlainAgent extends http.Agent {
  override addRequest(req: http.ClientRequest, options: unknown): void {
    req.removeHeader(OFFER);
    super.addRequest(req, options);
  }
}

class TlsAgent extends https.Agent {
  override addRequest(req: http.ClientRequest, options: unknown): void {
    req.removeHeader(OFFER);
    super.addRequest(req, options);
  }
}

const plain = new PlainAgent();
const tls = new TlsAgent();

/** The agent for a WebSocket URL (ws: or wss:) whose client must not offer compression. */
export function noCompressionAgent(url: string): http.Agent {
  return url.startsWith('wss:') || url.startsWith('https:') ? tls : plain;
}

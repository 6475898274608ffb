/**
 * The session class tests get: each client message read as the service does (cancel, or a generation request
 * that is checked, opens or continues a context, and is queued for speaking or failed as scripted), on top of
 * wire-session → speaking-session.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { FakeTtsContext } from './options.ts';
import { validate } from './protocol.ts';
import { SpeakingSession } from './speaking-session.ts';
import type { CartesiaSessionHost } from './wire-session.ts';

/** One client connection. */
export class FakeCartesiaSession extends SpeakingSession {
  constructor(id: number, ws: WebSocket, req: IncomingMessage, query: URLSearchParams, fake: CartesiaSessionHost) {
    super(id, ws, req, query, fake);
  }

  // ---- internals ------------------------------------------------------------------------------

  protected override onMessage(buf: Buffer): void {
    let msg: Record<string, any>;
    try {
      msg = JSON.parse(buf.toString('utf8')) as Record<string, any>;
    } catch {
      this.sendError(undefined, { status_code: 400, title: 'Invalid JSON', message: 'could not parse message' });
      return;
    }
    this.requests.push(msg);
    this.emit('request', msg);
    const contextId = typeof msg.context_id === 'string' ? msg.context_id : undefined;
    if (msg.cancel === true) {
      if (contextId === undefined) return;
      this.cancels.push({ contextId, at: performance.now() });
      const ctx = this.contexts.get(contextId);
      if (ctx) {
        ctx.cancelled = true;
        ctx.cancelledAt = performance.now();
      }
      this.queues.delete(contextId);
      this.emit('cancel', contextId);
      return;
    }
    const n = ++this.fake.generationRequests;
    const bad = validate(msg);
    if (bad) {
      this.sendError(contextId, bad);
      return;
    }
    const scripted = this.fake.options.failRequest?.(msg, n);
    let ctx = this.contexts.get(contextId!);
    if (!ctx) {
      const of = msg.output_format as FakeTtsContext['outputFormat'];
      ctx = {
        id: contextId!,
        transcripts: [],
        modelId: String(msg.model_id),
        voice: msg.voice,
        outputFormat: { container: of.container, encoding: of.encoding, sample_rate: of.sample_rate },
        addTimestamps: msg.add_timestamps === true,
        language: typeof msg.language === 'string' ? msg.language : undefined,
        ended: false,
        cancelled: false,
        cancelledAt: undefined,
        done: false,
        audioBytes: 0,
        audioMs: 0,
        chunks: 0,
        firstChunkAt: undefined,
        errored: undefined,
      };
      this.contexts.set(ctx.id, ctx);
      this.queues.set(ctx.id, { items: [], running: false, phase: 0, offsetSec: 0 });
      this.emit('context', ctx);
    }
    if (ctx.cancelled || ctx.done || ctx.errored) return; // like the service: late input for a finished context is ignored
    ctx.transcripts.push(String(msg.transcript ?? ''));
    if (scripted) {
      const { thenClose, ...spec } = scripted;
      if (thenClose === undefined) return this.sendError(ctx.id, spec);
      const sock = (this.ws as unknown as { _socket: Duplex })._socket;
      sock.cork();
      this.sendError(ctx.id, spec);
      this.close(thenClose.code, thenClose.reason);
      sock.uncork();
      return;
    }
    if (msg.continue === false) ctx.ended = true;
    const q = this.queues.get(ctx.id)!;
    const text = String(msg.transcript ?? '');
    if (text.trim()) q.items.push(text);
    if (!q.running) void this.speak(ctx);
  }
}

/**
 * The base of a fake Cartesia session: what the client sent and the contexts it opened, sending server messages
 * (recorded), error messages, and each context's queue of text to speak. The layers above fill and drain them.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { WsFakeSession } from '../ws-fake.ts';
import type { CartesiaErrorSpec, CartesiaFakeOptions, FakeTtsContext } from './options.ts';

/** What a session needs from its fake: the options, and the count of generation requests over all sessions. */
export interface CartesiaSessionHost {
  readonly options: CartesiaFakeOptions;
  generationRequests: number;
}

/** One context's transcripts waiting to be spoken, whether a speaker loop runs, and where its audio stands. */
export interface SpeechQueue {
  items: string[];
  running: boolean;
  phase: number;
  offsetSec: number;
}

export abstract class CartesiaWireSession extends WsFakeSession {
  readonly headers: IncomingMessage['headers'];
  readonly query: URLSearchParams;
  /** Every parsed client message, in order. */
  readonly requests: Record<string, any>[] = [];
  /** Context ids cancelled, in order, with when the cancel arrived. */
  readonly cancels: { contextId: string; at: number }[] = [];
  readonly contexts = new Map<string, FakeTtsContext>();
  /** Every server message sent (audio payloads replaced by their size). */
  readonly sent: Record<string, any>[] = [];

  protected readonly fake: CartesiaSessionHost;
  /** Per context: transcripts waiting to be spoken, and whether a speaker loop runs. */
  protected readonly queues = new Map<string, SpeechQueue>();

  protected constructor(
    id: number,
    ws: WebSocket,
    req: IncomingMessage,
    query: URLSearchParams,
    fake: CartesiaSessionHost,
  ) {
    super(id, ws);
    this.headers = req.headers;
    this.query = query;
    this.fake = fake;
  }

  /** Resolves when a context with this id (or the next new one) exists. */
  waitForContext(pred: (c: FakeTtsContext) => boolean = () => true, timeoutMs = 3000): Promise<FakeTtsContext> {
    for (const c of this.contexts.values()) if (pred(c)) return Promise.resolve(c);
    return new Promise((resolve, reject) => {
      const on = (c: FakeTtsContext) => {
        if (!pred(c)) return;
        clearTimeout(timer);
        this.off('context', on);
        resolve(c);
      };
      const timer = setTimeout(() => {
        this.off('context', on);
        reject(new Error(`fake cartesia session ${this.id}: no matching context within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('context', on);
    });
  }

  send(msg: Record<string, any>): void {
    if (this.isClosed) return;
    if (this.fake.options.recordSent === false) {
      /* load runs: counters only (contexts keep their own) */
    } else if (msg.type === 'chunk')
      this.sent.push({ ...msg, data: `<${Buffer.byteLength(String(msg.data), 'base64')} bytes>` });
    else this.sent.push(msg);
    this.ws.send(JSON.stringify(msg));
  }

  /** An error message for a context (status_code 500 by default), marking it done as the service does. */
  sendError(contextId: string | undefined, spec: Partial<CartesiaErrorSpec> = {}): void {
    const e: CartesiaErrorSpec = {
      status_code: spec.status_code ?? 500,
      title: spec.title ?? 'Internal Server Error',
      message: spec.message ?? 'fake error',
      ...(spec.error_code ? { error_code: spec.error_code } : {}),
    };
    if (contextId !== undefined) {
      const ctx = this.contexts.get(contextId);
      if (ctx) ctx.errored = e;
      this.queues.delete(contextId);
    }
    this.send({ type: 'error', ...(contextId !== undefined ? { context_id: contextId } : {}), ...e, done: true });
  }

  /** Dropping the queues ends every speaker loop (`live()` fails once its sleep returns). */
  protected override stop(): void {
    super.stop();
    this.queues.clear();
  }
}

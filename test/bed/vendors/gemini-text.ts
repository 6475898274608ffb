/**
 * A local fake of the Gemini API's streaming text generation (`models.generateContentStream`), speaking the
 * real wire protocol: `POST /<version>/models/<model>:streamGenerateContent?alt=sse` with the key in
 * `x-goog-api-key`, answered by Server-Sent Events whose `data:` lines are GenerateContentResponse JSON
 * (`candidates[0].content.parts[].text`; the last one carries `finishReason` and `usageMetadata`).
 *
 * The official SDK reaches it with
 *   new GoogleGenAI({ apiKey, httpOptions: { baseUrl: fake.baseUrl, apiVersion: 'v1beta' } })
 *
 * Errors look like Google's: a non-2xx status with `{"error":{"code","message","status"}}` (the SDK throws
 * ApiError with that status), or, mid-stream, an SSE event `data: {"error":{...}}` (the SDK throws too).
 *
 * Function calling: a script's `tokens` may hold parts instead of text (`{functionCall: {name, args}}`, with a
 * `thoughtSignature` as Gemini 3 attaches), each sent as one event; every request records the tools it declared
 * and the `functionCall` / `functionResponse` parts its contents carried back.
 *
 * Each request is answered by a `GeminiReplyScript` (per test: `fake.script(...)`, a queue of scripts, or a
 * function of the request); without one, a canned sentence is streamed (automatic mode, usable by a load
 * benchmark). Every request is recorded with its parsed body and whether the client went away before the
 * answer was complete (`aborted`: the SDK's AbortSignal closes the connection).
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Handout, closeServers, listenOnLoopback } from './handout.ts';

export interface GeminiErrorBody {
  code: number;
  message: string;
  status: string;
}

/** A part the fake can stream besides text: a function call (its `id` only when given). */
export type GeminiScriptPart =
  | { text: string }
  | { functionCall: { name: string; args?: Record<string, unknown>; id?: string }; thoughtSignature?: string };

export type GeminiReplyScript =
  | {
      /** Text pieces (or parts) streamed one per SSE event. */
      tokens: (string | GeminiScriptPart)[];
      /** Delay before the first event (time to first token). Default 0. */
      firstTokenDelayMs?: number;
      /** Delay between events. Default 0. */
      tokenDelayMs?: number;
      /** Default STOP. */
      finishReason?: string;
      /** After this many tokens: stall forever (no more data, connection kept open). */
      stallAfter?: number;
      /** After this many tokens: drop the TCP connection. */
      dropAfter?: number;
      /** After this many tokens: an SSE error event, then the end of the response. */
      errorAfter?: { tokens: number; error: GeminiErrorBody };
    }
  | { status: number; error: GeminiErrorBody; delayMs?: number }
  /** Drop the connection without an answer. */
  | { destroy: true; delayMs?: number }
  /** Accept the request and never answer (timeout tests). */
  | { hang: true };

export interface GeminiTextFakeOptions {
  /** The key the fake accepts; undefined accepts any non-empty key. */
  apiKey?: string;
  /** Accepted model names (without `models/`); undefined accepts any. */
  models?: string[];
  /** Automatic mode: the reply to requests without a script. Default: a canned two-sentence answer. */
  autoReply?: string | ((req: GeminiTextRequest) => string);
  /** Automatic mode pacing: words per event, delays. Defaults 3, 0, 0. */
  autoWordsPerToken?: number;
  autoFirstTokenDelayMs?: number;
  autoTokenDelayMs?: number;
}

export interface GeminiTextRequest {
  id: number;
  method: string;
  /** Path without query, e.g. `/v1beta/models/gemini-flash-latest:streamGenerateContent`. */
  path: string;
  query: URLSearchParams;
  model: string;
  apiVersion: string;
  headers: IncomingMessage['headers'];
  /** The parsed JSON body (contents, systemInstruction, generationConfig, ...). */
  body: Record<string, any>;
  /** `contents` flattened to {role, text} (text parts joined). */
  turns: { role: string; text: string }[];
  /** The system instruction's text, if any. */
  systemText: string | undefined;
  /** Function declarations sent (`tools[].functionDeclarations`, flattened). */
  functionDeclarations: Record<string, any>[];
  /** `functionCall` parts of the contents (what the client says the model called), with their signature. */
  functionCalls: { name: string; args: unknown; id?: string; thoughtSignature?: string }[];
  /** `functionResponse` parts of the contents (the answers the client sends back). */
  functionResponses: { name: string; response: any; id?: string }[];
  receivedAt: number;
  /** Events sent (text tokens), and when the first one went out. */
  tokensSent: number;
  firstTokenAt: number | undefined;
  /** performance.now() when the response ended or the connection closed. */
  endedAt: number | undefined;
  /** The response was completed (finishReason sent, or a scripted error/drop delivered). */
  completed: boolean;
  /** The client closed the connection before the response was complete (an aborted request). */
  aborted: boolean;
  /** Resolves when the exchange is over (completed or aborted). */
  done: Promise<void>;
}

const PATH_RE = /^\/+(v1|v1beta|v1alpha)\/models\/([^/:]+):(streamGenerateContent|generateContent)$/;
const DEFAULT_REPLY = 'Sure, I can help with that. What time would you like to come in?';

function statusText(code: number): string {
  return (
    {
      400: 'INVALID_ARGUMENT',
      401: 'UNAUTHENTICATED',
      403: 'PERMISSION_DENIED',
      404: 'NOT_FOUND',
      429: 'RESOURCE_EXHAUSTED',
      500: 'INTERNAL',
      503: 'UNAVAILABLE',
      504: 'DEADLINE_EXCEEDED',
    }[code] ?? 'UNKNOWN'
  );
}

/** Split text into SSE tokens of `n` words (keeping the spaces, as the service does). */
export function tokenize(text: string, wordsPerToken = 3): string[] {
  const words = text.split(/(?<=\s)/);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += wordsPerToken) out.push(words.slice(i, i + wordsPerToken).join(''));
  return out;
}

export class GeminiTextFake extends EventEmitter {
  /** `http://127.0.0.1:PORT`, for `httpOptions.baseUrl`. */
  readonly baseUrl: string;
  readonly port: number;
  readonly options: GeminiTextFakeOptions;
  readonly requests: GeminiTextRequest[] = [];
  /** Exceptions in the fake's own handlers. */
  readonly errors: Error[] = [];

  private readonly server: Server;
  private readonly sockets: Set<Duplex>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly scripts: (GeminiReplyScript | ((req: GeminiTextRequest) => GeminiReplyScript))[] = [];
  private defaultScript: ((req: GeminiTextRequest) => GeminiReplyScript) | undefined;
  private readonly handout = new Handout<GeminiTextRequest>(this.requests, 'fake gemini text: no request');
  private stopped = false;

  private constructor(server: Server, port: number, sockets: Set<Duplex>, options: GeminiTextFakeOptions) {
    super();
    this.sockets = sockets;
    this.server = server;
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.options = options;
  }

  static async start(options: GeminiTextFakeOptions = {}): Promise<GeminiTextFake> {
    let fake: GeminiTextFake | undefined;
    const server = createServer((req, res) => {
      try {
        fake!.onRequest(req, res);
      } catch (e) {
        fake!.errors.push(e instanceof Error ? e : new Error(String(e)));
        res.destroy();
      }
    });
    const sockets = new Set<Duplex>();
    const port = await listenOnLoopback(server, sockets);
    fake = new GeminiTextFake(server, port, sockets, options);
    return fake;
  }

  /** Queue scripts for the next requests, in order (each used once). */
  script(...scripts: (GeminiReplyScript | ((req: GeminiTextRequest) => GeminiReplyScript))[]): void {
    this.scripts.push(...scripts);
  }

  /** The script for requests when the queue is empty (replaces the automatic canned reply). */
  setDefault(fn: ((req: GeminiTextRequest) => GeminiReplyScript) | undefined): void {
    this.defaultScript = fn;
  }

  /** The next request not yet handed out (in arrival order). */
  nextRequest(timeoutMs = 3000): Promise<GeminiTextRequest> {
    return this.handout.next(timeoutMs);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.handout.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await closeServers({ sessions: [], sockets: this.sockets, server: this.server });
  }

  // ---- internals ------------------------------------------------------------------------------

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : rawUrl.slice(q + 1));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        this.onBody(req, res, path, query, Buffer.concat(chunks));
      } catch (e) {
        this.errors.push(e instanceof Error ? e : new Error(String(e)));
        res.destroy();
      }
    });
  }

  private onBody(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams, raw: Buffer): void {
    const sendError = (code: number, message: string) => {
      const body = JSON.stringify({ error: { code, message, status: statusText(code) } });
      res.writeHead(code, {
        'content-type': 'application/json; charset=UTF-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    };
    const m = PATH_RE.exec(path);
    if (req.method !== 'POST' || !m) {
      sendError(404, `Not found: ${req.method} ${path}`);
      return;
    }
    const key = String(req.headers['x-goog-api-key'] ?? query.get('key') ?? '');
    if (!key) {
      sendError(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      );
      return;
    }
    if (this.options.apiKey !== undefined && key !== this.options.apiKey) {
      sendError(400, 'API key not valid. Please pass a valid API key.');
      return;
    }
    const model = m[2]!;
    if (this.options.models && !this.options.models.includes(model)) {
      sendError(
        404,
        `models/${model} is not found for API version ${m[1]}, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`,
      );
      return;
    }
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw.toString('utf8')) as Record<string, any>;
    } catch {
      sendError(400, 'Invalid JSON payload received.');
      return;
    }
    if (!Array.isArray(body.contents) || body.contents.length === 0) {
      sendError(400, '* GenerateContentRequest.contents: contents is not specified');
      return;
    }
    const turns = (body.contents as any[]).map((c) => ({
      role: String(c?.role ?? ''),
      text: Array.isArray(c?.parts)
        ? c.parts.map((p: any) => (typeof p?.text === 'string' ? p.text : '')).join('')
        : '',
    }));
    const sys = body.systemInstruction ?? body.system_instruction;
    const systemText =
      sys && Array.isArray(sys.parts)
        ? sys.parts.map((p: any) => p?.text ?? '').join('')
        : typeof sys === 'string'
          ? sys
          : undefined;
    const parts = (body.contents as any[]).flatMap((c) => (Array.isArray(c?.parts) ? c.parts : []));
    const functionCalls = parts
      .filter((p: any) => p?.functionCall)
      .map((p: any) => ({
        ...p.functionCall,
        ...(p.thoughtSignature ? { thoughtSignature: p.thoughtSignature } : {}),
      }));
    const functionResponses = parts.filter((p: any) => p?.functionResponse).map((p: any) => p.functionResponse);
    const functionDeclarations = Array.isArray(body.tools)
      ? (body.tools as any[]).flatMap((t) => (Array.isArray(t?.functionDeclarations) ? t.functionDeclarations : []))
      : [];
    let resolveDone!: () => void;
    const record: GeminiTextRequest = {
      id: this.requests.length + 1,
      method: req.method,
      path,
      query,
      model,
      apiVersion: m[1]!,
      headers: req.headers,
      body,
      turns,
      systemText,
      functionDeclarations,
      functionCalls,
      functionResponses,
      receivedAt: performance.now(),
      tokensSent: 0,
      firstTokenAt: undefined,
      endedAt: undefined,
      completed: false,
      aborted: false,
      done: new Promise<void>((r) => {
        resolveDone = r;
      }),
    };
    this.requests.push(record);
    const finish = (completed: boolean) => {
      if (record.endedAt !== undefined) return;
      record.endedAt = performance.now();
      record.completed = completed;
      record.aborted = !completed;
      resolveDone();
    };
    // 'close' on the response before we ended it = the client went away (abort) or we dropped it on purpose.
    res.on('close', () => finish(res.writableFinished || record.completed));
    this.handout.arrived(record);
    this.emit('request', record);

    const next = this.scripts.shift();
    const script =
      next === undefined
        ? (this.defaultScript ?? ((r) => this.autoScript(r)))(record)
        : typeof next === 'function'
          ? next(record)
          : next;
    this.answer(record, res, script, () => {
      record.completed = true;
    });
  }

  private autoScript(req: GeminiTextRequest): GeminiReplyScript {
    const o = this.options;
    const text = typeof o.autoReply === 'function' ? o.autoReply(req) : (o.autoReply ?? DEFAULT_REPLY);
    return {
      tokens: tokenize(text, o.autoWordsPerToken ?? 3),
      firstTokenDelayMs: o.autoFirstTokenDelayMs ?? 0,
      tokenDelayMs: o.autoTokenDelayMs ?? 0,
    };
  }

  private answer(
    record: GeminiTextRequest,
    res: ServerResponse,
    script: GeminiReplyScript,
    markComplete: () => void,
  ): void {
    if ('hang' in script) return;
    if ('destroy' in script) {
      this.later(script.delayMs ?? 0, () => {
        markComplete();
        res.destroy();
      });
      return;
    }
    if ('status' in script) {
      this.later(script.delayMs ?? 0, () => {
        if (res.destroyed) return;
        markComplete();
        const body = JSON.stringify({ error: script.error });
        res.writeHead(script.status, {
          'content-type': 'application/json; charset=UTF-8',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      });
      return;
    }
    const modelVersion = record.model;
    const responseId = `fake-${record.id}`;
    let headersSent = false;
    const event = (obj: unknown) => {
      if (!headersSent) {
        headersSent = true;
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          'x-content-type-options': 'nosniff',
        });
      }
      res.write(`data: ${JSON.stringify(obj)}\r\n\r\n`);
    };
    const tokens = script.tokens;
    let i = 0;
    const step = () => {
      if (res.destroyed) return;
      if (script.stallAfter !== undefined && i >= script.stallAfter) {
        if (!headersSent) {
          headersSent = true;
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.flushHeaders();
        }
        return; // keep the connection open, send nothing more
      }
      if (script.dropAfter !== undefined && i >= script.dropAfter) {
        markComplete();
        res.destroy();
        return;
      }
      if (script.errorAfter !== undefined && i >= script.errorAfter.tokens) {
        markComplete();
        event({ error: script.errorAfter.error });
        res.end();
        return;
      }
      if (i >= tokens.length) {
        markComplete();
        const promptTokens = record.turns.reduce((n, t) => n + Math.ceil(t.text.length / 4), 0);
        const outText = tokens.map((t) => (typeof t === 'string' ? t : 'text' in t ? t.text : '')).join('');
        const outTokens = Math.ceil(outText.length / 4);
        event({
          candidates: [
            {
              content: { parts: [{ text: '' }], role: 'model' },
              finishReason: script.finishReason ?? 'STOP',
              index: 0,
            },
          ],
          usageMetadata: {
            promptTokenCount: promptTokens,
            candidatesTokenCount: outTokens,
            totalTokenCount: promptTokens + outTokens,
          },
          modelVersion,
          responseId,
        });
        res.end();
        return;
      }
      const token = tokens[i++]!;
      const part = typeof token === 'string' ? { text: token } : token;
      if (record.firstTokenAt === undefined) record.firstTokenAt = performance.now();
      record.tokensSent++;
      event({ candidates: [{ content: { parts: [part], role: 'model' }, index: 0 }], modelVersion, responseId });
      this.later(script.tokenDelayMs ?? 0, step);
    };
    this.later(script.firstTokenDelayMs ?? 0, step);
  }
}

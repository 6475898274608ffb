/**
 * One `models/{model}:streamGenerateContent?alt=sse` request of the Gemini API over node:http(s), its
 * Server-Sent Events parsed as they arrive: the same request and answers as @google/genai's
 * `generateContentStream` (Gemini API v1beta, key in `x-goog-api-key`), without its cost per event. The SDK
 * wraps every SSE event in a fetch `Response` and parses its JSON through a web stream (twice: once to look
 * for an error), and fetch itself costs per request: measured at ~1.8 ms of CPU per reply in the cascade bench,
 * a sixth of callbridge's busy time; here one JSON.parse per event.
 *
 * Errors read as the SDK's: a non-2xx answer throws with `status` and the error body as JSON text; an SSE event
 * carrying `{"error": {"code": 4xx|5xx}}` throws `got status: STATUS. {event}` with `status` = its code; a
 * body ending in the middle of an event throws. `signal` aborts the request (the connection is dropped).
 */
import http from 'node:http';
import https from 'node:https';

/** A streamed GenerateContentResponse, as far as the cascade reads it. */
export interface GeminiChunk {
  candidates?: {
    content?: {
      parts?: {
        text?: string;
        thought?: boolean;
        thoughtSignature?: string;
        functionCall?: { name?: string; id?: string; args?: Record<string, unknown> };
      }[];
    };
  }[];
}

/** What a failed request throws: `status` is the HTTP status or the streamed error's code. */
export class GeminiApiError extends Error {
  readonly status: number;

  constructor(message: string, status: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

const DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';
/** Longest error body read (the rest is dropped). */
const MAX_ERROR_BODY = 64 * 1024;
/** Longest SSE event accepted (a chunk is a few KB): beyond it the answer is refused, not buffered without end. */
export const MAX_EVENT_BYTES = 1024 * 1024;
/** SSE event delimiters the API may use (the first one found ends an event). */
const DELIMITERS = ['\n\n', '\r\r', '\r\n\r\n'];

// Kept-alive connections, as fetch keeps them: a reply's request reuses the previous one's connection.
const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/** The request URL for `model` ('gemini-flash-latest', 'models/…' or 'tunedModels/…') at `baseUrl`. */
export function streamUrl(model: string, baseUrl: string | undefined): URL {
  const base = (baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  const path = model.startsWith('models/') || model.startsWith('tunedModels/') ? model : `models/${model}`;
  return new URL(`${base}/v1beta/${path}:streamGenerateContent?alt=sse`);
}

/** POST `body` (JSON text) and yield each streamed chunk; ends when the answer does. */
export async function* streamGenerateContent(
  url: URL,
  apiKey: string,
  body: string,
  signal: AbortSignal,
): AsyncGenerator<GeminiChunk> {
  const res = await post(url, apiKey, body, signal);
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) throw await httpError(res, status);
  res.setEncoding('utf8');
  let buffer = '';
  for await (const piece of res as AsyncIterable<string>) {
    buffer += piece;
    for (;;) {
      let at = -1;
      let len = 0;
      for (const d of DELIMITERS) {
        const i = buffer.indexOf(d);
        if (i !== -1 && (at === -1 || i < at)) {
          at = i;
          len = d.length;
        }
      }
      if (at === -1) {
        if (buffer.length > MAX_EVENT_BYTES) throw new Error(`stream event over ${MAX_EVENT_BYTES} bytes`);
        break;
      }
      const event = buffer.slice(0, at).trim();
      buffer = buffer.slice(at + len);
      if (event.startsWith('data:')) yield parseEvent(event.slice(5).trim());
    }
  }
  if (buffer.trim().length > 0) throw new Error('Incomplete JSON segment at the end');
}

function post(url: URL, apiKey: string, body: string, signal: AbortSignal): Promise<http.IncomingMessage> {
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(url, {
      method: 'POST',
      agent: secure ? agents.https : agents.http,
      signal,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-goog-api-key': apiKey,
      },
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.end(body);
  });
}

/** A streamed event: the chunk, or the error it carries (thrown). */
function parseEvent(json: string): GeminiChunk {
  let chunk: unknown;
  try {
    chunk = JSON.parse(json);
  } catch (e) {
    throw new Error(`exception parsing stream chunk ${json}. ${e}`);
  }
  const error = (chunk as { error?: unknown } | null)?.error;
  if (error !== null && typeof error === 'object') {
    const { code, status } = error as { code?: unknown; status?: unknown };
    if (typeof code === 'number' && code >= 400 && code < 600) {
      throw new GeminiApiError(`got status: ${String(status)}. ${JSON.stringify(chunk)}`, code);
    }
  }
  return chunk as GeminiChunk;
}

/** The error of a non-2xx answer: its JSON body as text (a text body is wrapped as the API's error shape). */
async function httpError(res: http.IncomingMessage, status: number): Promise<Error> {
  res.setEncoding('utf8');
  let text = '';
  for await (const piece of res as AsyncIterable<string>) {
    if (text.length < MAX_ERROR_BODY) text += piece;
  }
  let body: unknown;
  if (res.headers['content-type']?.includes('application/json')) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  body ??= { error: { message: text, code: status, status: res.statusMessage ?? '' } };
  const message = JSON.stringify(body);
  return status >= 400 && status < 600 ? new GeminiApiError(message, status) : new Error(message);
}

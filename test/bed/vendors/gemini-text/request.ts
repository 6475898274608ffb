/** Reading a request as the service does: the URL, the key, the model and the body, then what its contents carry. */
import type { IncomingMessage } from 'node:http';
import type { GeminiTextFakeOptions, GeminiTextRequest } from './options.ts';
import { PATH_RE } from './protocol.ts';

/** A request the service would refuse: the status and message of Google's error. */
export interface Refused {
  code: number;
  message: string;
}

/** A request the service would answer. */
export interface Accepted {
  model: string;
  apiVersion: string;
  body: Record<string, any>;
}

/** The checks in the service's order: method and path, key, model, JSON body, `contents`. */
export function checkRequest(
  req: IncomingMessage,
  path: string,
  query: URLSearchParams,
  raw: Buffer,
  options: GeminiTextFakeOptions,
): Refused | Accepted {
  const m = PATH_RE.exec(path);
  if (req.method !== 'POST' || !m) return { code: 404, message: `Not found: ${req.method} ${path}` };
  const key = String(req.headers['x-goog-api-key'] ?? query.get('key') ?? '');
  if (!key) {
    return {
      code: 403,
      message:
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    };
  }
  if (options.apiKey !== undefined && key !== options.apiKey) {
    return { code: 400, message: 'API key not valid. Please pass a valid API key.' };
  }
  const model = m[2]!;
  if (options.models && !options.models.includes(model)) {
    return {
      code: 404,
      message: `models/${model} is not found for API version ${m[1]}, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`,
    };
  }
  let body: Record<string, any>;
  try {
    body = JSON.parse(raw.toString('utf8')) as Record<string, any>;
  } catch {
    return { code: 400, message: 'Invalid JSON payload received.' };
  }
  if (!Array.isArray(body.contents) || body.contents.length === 0) {
    return { code: 400, message: '* GenerateContentRequest.contents: contents is not specified' };
  }
  return { model, apiVersion: m[1]!, body };
}

type Contents = Pick<
  GeminiTextRequest,
  'turns' | 'systemText' | 'functionDeclarations' | 'functionCalls' | 'functionResponses'
>;

/** What a checked body carries, flattened for tests: turns, system text, tools and function parts. */
export function readContents(body: Record<string, any>): Contents {
  const turns = (body.contents as any[]).map((c) => ({
    role: String(c?.role ?? ''),
    text: Array.isArray(c?.parts) ? c.parts.map((p: any) => (typeof p?.text === 'string' ? p.text : '')).join('') : '',
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
  return { turns, systemText, functionDeclarations, functionCalls, functionResponses };
}

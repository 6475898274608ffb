import type { Stack } from './stack.ts';

export interface JsonAnswer {
  status: number;
  body: any;
}

/**
 * The HTTP API of a stack as a test calls it: JSON in and out, every request bounded by `timeoutMs`. Bodies
 * that are not JSON (a 204, say) come back as undefined.
 */
export function stackApi(stack: Stack, timeoutMs = 5000) {
  const base = `http://127.0.0.1:${stack.bridge.http.port}`;
  const send = async (method: string, path: string, body?: unknown): Promise<JsonAnswer> => {
    const res = await fetch(base + path, {
      method,
      ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed };
  };
  return {
    base,
    get: (path: string) => send('GET', path),
    post: (path: string, body: unknown) => send('POST', path, body),
    del: (path: string) => send('DELETE', path),
    /** A text endpoint (/metrics). */
    text: async (path: string) => (await fetch(base + path, { signal: AbortSignal.timeout(timeoutMs) })).text(),
  };
}

/**
 * The API as the page uses it: same-origin requests with the session cookie, the CSRF header on every
 * non-GET, and the API's `{error: {message, details}}` turned into an ApiError. A 401 anywhere sends the
 * page back to the login (see main.ts).
 */

export class ApiError extends Error {
  readonly status: number;
  readonly details: string[];

  constructor(status: number, message: string, details: string[] = []) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

let onUnauthorized: () => void = () => {};

/** Called on any 401 (the session expired, the token changed). */
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

/** The session is gone, learnt some other way than a 401 (an event stream closed). */
export function signedOut(): void {
  onUnauthorized();
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-callbridge-console'] = '1';
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'callbridge cannot be reached');
  }
  if (res.status === 401 && path !== '/console/session') onUnauthorized();
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const error = (json as { error?: { message?: string; details?: string[] } } | undefined)?.error;
    throw new ApiError(res.status, error?.message ?? `HTTP ${res.status}`, error?.details ?? []);
  }
  return json as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  del: <T>(path: string) => request<T>('DELETE', path),
};

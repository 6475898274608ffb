/** The API's wire details the fake shares: the endpoint path, Google's error statuses, JSON error answers. */
import type { ServerResponse } from 'node:http';

export const PATH_RE = /^\/+(v1|v1beta|v1alpha)\/models\/([^/:]+):(streamGenerateContent|generateContent)$/;

export function statusText(code: number): string {
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

/** A non-2xx answer with a JSON body (`{"error":{...}}`, which the SDK turns into an ApiError). */
export function writeJsonError(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

import { createHmac } from 'node:crypto';

/**
 * How callbridge signs what it POSTs to its users (the settings callback, webhook tools):
 * `X-Callbridge-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
 * `X-Callbridge-Timestamp: <unix seconds>`. The receiver recomputes it over the raw body and rejects stale
 * timestamps (replays).
 */
export function signCallback(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The headers of a signed JSON POST of `body` (the signature only when there is a secret). */
export function signedHeaders(secret: string | undefined, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-callbridge-timestamp': String(timestamp),
  };
  if (secret) headers['x-callbridge-signature'] = signCallback(secret, timestamp, body);
  return headers;
}

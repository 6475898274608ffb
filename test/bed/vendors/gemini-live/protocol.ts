/** The Live API's wire details the fake's sessions share: the endpoint path, the audio frame layout, the service's close reasons. */

export const PATH_RE =
  /^\/+ws\/google\.ai\.generativelanguage\.(v1alpha|v1beta|v1)\.GenerativeService\.(BidiGenerateContent|BidiGenerateContentConstrained)$/;
/** Caller audio as the SDK and the adapter frame it, recognised by prefix on the hot path (no JSON.parse). */
export const AUDIO_PREFIX = Buffer.from('{"realtimeInput":{"audio":{"data":"');
export const MIME_INFIX = Buffer.from('","mimeType":"');
export const QUOTE = 0x22;

export const HANDLE_REFUSED_REASON = 'Session resumption handle is invalid or has expired.';
export const HANDLE_IN_USE_REASON = 'The session is still connected on another stream.';
export const DEADLINE_REASON = 'Deadline expired before operation could complete.';
export const BAD_KEY_REASON = 'API key not valid. Please pass a valid API key.';
export const NO_KEY_REASON =
  "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.";
export const DEFAULT_CLOSE_REASONS: Record<number, string> = {
  1007: 'Request contains an invalid argument.',
  1008: BAD_KEY_REASON,
  1011: 'Internal error encountered.',
  1013: 'The service is currently unavailable.',
};

/** The sample rate of an audio mime type such as `audio/pcm;rate=16000` (16 kHz when it names none). */
export function rateOf(mimeType: string): number {
  const m = /rate=(\d+)/.exec(mimeType);
  return m ? Number(m[1]) : 16000;
}

/** A close reason cut to the 123 bytes a close frame can carry (as Google's are). */
export function truncateReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

let scratch = Buffer.alloc(0);
/** Base64 caller audio decoded into one buffer reused by every session (valid until the next call). */
export function decodeScratch(base64: string): Buffer {
  const max = (base64.length * 3) >> 2;
  if (scratch.length < max) scratch = Buffer.alloc(Math.max(max, 4096));
  return scratch.subarray(0, scratch.write(base64, 'base64'));
}

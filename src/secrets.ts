import { timingSafeEqual } from 'node:crypto';

/** Constant-time comparison of two secrets (tokens, signatures); false when their UTF-8 lengths differ. */
export function safeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Settings whose values are secrets (API keys, tokens, passwords, signing secrets): never echoed anywhere. */
export function isSecretName(name: string): boolean {
  return /KEY|TOKEN|PASSWORD|SECRET/i.test(name);
}

/** A URL with any `user:password@` replaced, for messages that quote a configured URL. */
export function redactUrlCredentials(value: string): string {
  return value.replace(/(\/\/)[^/@\s]*@/g, '$1***@');
}

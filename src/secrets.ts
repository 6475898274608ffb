import { timingSafeEqual } from 'node:crypto';

/** Constant-time comparison of two secrets (tokens, signatures); false when their UTF-8 lengths differ. */
export function safeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Automatic mode: a request without a script gets a canned sentence (or `autoReply`), a few words per event. */
import type { GeminiReplyScript, GeminiTextFakeOptions, GeminiTextRequest } from './options.ts';

const DEFAULT_REPLY = 'Sure, I can help with that. What time would you like to come in?';

/** Split text into SSE tokens of `n` words (keeping the spaces, as the service does). */
export function tokenize(text: string, wordsPerToken = 3): string[] {
  const words = text.split(/(?<=\s)/);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += wordsPerToken) out.push(words.slice(i, i + wordsPerToken).join(''));
  return out;
}

export function autoScript(o: GeminiTextFakeOptions, req: GeminiTextRequest): GeminiReplyScript {
  const text = typeof o.autoReply === 'function' ? o.autoReply(req) : (o.autoReply ?? DEFAULT_REPLY);
  return {
    tokens: tokenize(text, o.autoWordsPerToken ?? 3),
    firstTokenDelayMs: o.autoFirstTokenDelayMs ?? 0,
    tokenDelayMs: o.autoTokenDelayMs ?? 0,
  };
}

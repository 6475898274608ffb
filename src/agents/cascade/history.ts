/**
 * The conversation the cascade sends its model, kept within a token budget so that a long call's requests do
 * not grow without limit (each request carries the whole history: latency and cost grow with it).
 *
 * Tokens are estimated as characters / 4, rounded up per message: close enough for English and for a budget
 * (no tokenizer round trip per turn). The oldest exchanges go first, whole: a caller turn together with the
 * agent turns that answered it (or, at the very start, a greeting nobody asked for), so the model never sees
 * an answer without its question. The system instructions and the caller turn being answered always stay,
 * even when they alone are over the budget. Trimmed, not summarised: a summary would cost a model request
 * per trim and its latency.
 *
 * Tool calls and their answers count too (as their JSON): an exchange is the caller turn with everything
 * after it (agent turns, tool calls, tool answers), so a call is never kept without its answer.
 */
import type { ChatMessage } from './stages.ts';

/** Estimated tokens of a text: characters / 4, rounded up. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Estimated tokens of one message: its text, and its tool calls or answers as JSON. */
export function messageTokens(m: ChatMessage): number {
  let n = estimateTokens(m.text);
  if (m.toolCalls !== undefined) for (const c of m.toolCalls) n += estimateTokens(JSON.stringify(c.call));
  if (m.toolAnswers !== undefined) for (const a of m.toolAnswers) n += estimateTokens(JSON.stringify(a.result));
  return n;
}

/** Estimated tokens of a request: the system instructions and every message. */
export function requestTokens(systemInstructions: string, history: readonly ChatMessage[]): number {
  let n = estimateTokens(systemInstructions);
  for (const m of history) n += messageTokens(m);
  return n;
}

/**
 * Drop the oldest exchanges of `history` (in place) until the request fits `budget` tokens; returns how many
 * messages were dropped. The last caller turn and everything after it are kept whatever their size.
 */
export function trimHistory(history: ChatMessage[], systemInstructions: string, budget: number): number {
  let total = requestTokens(systemInstructions, history);
  if (total <= budget) return 0;
  let keepFrom = history.length - 1;
  while (keepFrom > 0 && history[keepFrom]!.role !== 'user') keepFrom--;
  let drop = 0;
  while (total > budget && drop < keepFrom) {
    // One exchange: a caller turn and what answered it (a leading greeting: agent turns alone).
    let end = drop + 1;
    while (end < keepFrom && history[end]!.role !== 'user') end++;
    for (let i = drop; i < end; i++) total -= messageTokens(history[i]!);
    drop = end;
  }
  if (drop > 0) history.splice(0, drop);
  return drop;
}

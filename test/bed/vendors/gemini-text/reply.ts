/**
 * Answering one request by its script: a scripted HTTP error, a drop, no answer at all, or the SSE stream
 * (one event per token, then `finishReason` and `usageMetadata`; or a stall, a drop or an error event midway).
 */
import type { ServerResponse } from 'node:http';
import type { GeminiReplyScript, GeminiTextRequest } from './options.ts';
import { writeJsonError } from './protocol.ts';

/** A timer the fake clears when it stops. */
export type Later = (ms: number, fn: () => void) => void;

export function answer(
  record: GeminiTextRequest,
  res: ServerResponse,
  script: GeminiReplyScript,
  markComplete: () => void,
  later: Later,
): void {
  if ('hang' in script) return;
  if ('destroy' in script) {
    later(script.delayMs ?? 0, () => {
      markComplete();
      res.destroy();
    });
    return;
  }
  if ('status' in script) {
    later(script.delayMs ?? 0, () => {
      if (res.destroyed) return;
      markComplete();
      writeJsonError(res, script.status, JSON.stringify({ error: script.error }));
    });
    return;
  }
  const modelVersion = record.model;
  const responseId = `fake-${record.id}`;
  let headersSent = false;
  const event = (obj: unknown) => {
    if (!headersSent) {
      headersSent = true;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
      });
    }
    res.write(`data: ${JSON.stringify(obj)}\r\n\r\n`);
  };
  const tokens = script.tokens;
  let i = 0;
  const step = () => {
    if (res.destroyed) return;
    if (script.stallAfter !== undefined && i >= script.stallAfter) {
      if (!headersSent) {
        headersSent = true;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
      }
      return; // keep the connection open, send nothing more
    }
    if (script.dropAfter !== undefined && i >= script.dropAfter) {
      markComplete();
      res.destroy();
      return;
    }
    if (script.errorAfter !== undefined && i >= script.errorAfter.tokens) {
      markComplete();
      event({ error: script.errorAfter.error });
      res.end();
      return;
    }
    if (i >= tokens.length) {
      markComplete();
      const promptTokens = record.turns.reduce((n, t) => n + Math.ceil(t.text.length / 4), 0);
      const outText = tokens.map((t) => (typeof t === 'string' ? t : 'text' in t ? t.text : '')).join('');
      const outTokens = Math.ceil(outText.length / 4);
      event({
        candidates: [
          {
            content: { parts: [{ text: '' }], role: 'model' },
            finishReason: script.finishReason ?? 'STOP',
            index: 0,
          },
        ],
        usageMetadata: {
          promptTokenCount: promptTokens,
          candidatesTokenCount: outTokens,
          totalTokenCount: promptTokens + outTokens,
        },
        modelVersion,
        responseId,
      });
      res.end();
      return;
    }
    const token = tokens[i++]!;
    const part = typeof token === 'string' ? { text: token } : token;
    if (record.firstTokenAt === undefined) record.firstTokenAt = performance.now();
    record.tokensSent++;
    event({ candidates: [{ content: { parts: [part], role: 'model' }, index: 0 }], modelVersion, responseId });
    later(script.tokenDelayMs ?? 0, step);
  };
  later(script.firstTokenDelayMs ?? 0, step);
}

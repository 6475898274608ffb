import type { ToolResult } from '../../agents/tools/types.ts';
import { errorText } from '../../errors.ts';
import type { WebhookTool } from './tool-config.ts';

/**
 * One webhook tool call: a signed JSON POST to the tool's URL, its JSON answer back to the model. Whatever
 * goes wrong (refused connection, non-2xx, timeout, an answer that is not JSON or too large) becomes an error
 * result the model can talk about; nothing throws and nothing waits past the tool's timeout.
 */

/** Largest answer read from a tool's server: it goes into the model's context whole. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** How a tool call ended, for metrics: `cancelled` when the model (or the call's end) withdrew it. */
export type ToolOutcome = 'ok' | 'error' | 'timeout' | 'cancelled';

export interface WebhookAnswer {
  result: ToolResult;
  outcome: ToolOutcome;
  /** The HTTP status, when there was one. */
  status?: number;
}

export interface WebhookCall {
  tool: WebhookTool;
  /** The request body (call ids, tool name, arguments). */
  body: Record<string, unknown>;
  /** Content type, timestamp and signature headers for a serialized body (see calls/signing.ts). */
  headers(body: string): Record<string, string>;
  /** The call's (or the model's) cancellation. */
  signal: AbortSignal;
}

export async function callWebhook(c: WebhookCall, fetchImpl: typeof fetch = fetch): Promise<WebhookAnswer> {
  const { tool } = c;
  const timeout = AbortSignal.timeout(tool.timeoutMs);
  const signal = AbortSignal.any([c.signal, timeout]);
  const fail = (error: string, outcome: ToolOutcome = 'error', status?: number): WebhookAnswer => ({
    result: { ok: false, error },
    outcome,
    ...(status !== undefined && { status }),
  });
  const stopped = (): WebhookAnswer | undefined => {
    if (c.signal.aborted) return fail('the tool call was cancelled', 'cancelled');
    if (timeout.aborted) return fail(`the tool did not answer within ${tool.timeoutMs} ms`, 'timeout');
    return undefined;
  };
  try {
    const body = JSON.stringify(c.body);
    // A redirect would re-send the signed body somewhere its author did not name: treated as a failure.
    const res = await fetchImpl(tool.url, {
      method: 'POST',
      headers: c.headers(body),
      body,
      signal,
      redirect: 'manual',
    });
    const { status } = res;
    if (status < 200 || status > 299) {
      await res.body?.cancel().catch(() => {});
      return fail(`the tool's server answered HTTP ${status}`, 'error', status);
    }
    const text = await readCapped(res, MAX_ANSWER_BYTES);
    if (text === undefined) return fail(`the tool's answer is larger than ${MAX_ANSWER_BYTES} bytes`, 'error', status);
    if (status === 204 || text.trim() === '') return { result: { ok: true, result: null }, outcome: 'ok', status };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return fail("the tool's answer is not valid JSON", 'error', status);
    }
    return { result: { ok: true, result: json }, outcome: 'ok', status };
  } catch (err) {
    return stopped() ?? fail(`the tool could not be reached: ${causeText(err)}`);
  }
}

/** The body as text, or undefined once it passes `max` bytes (the rest is not read). */
async function readCapped(res: Response, max: number): Promise<string | undefined> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    return undefined;
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** fetch's "fetch failed" hides the reason (ECONNREFUSED, ENOTFOUND) in `cause`. */
function causeText(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : errorText(cause ?? err);
}

/**
 * A local fake of the Gemini API's streaming text generation (`models.generateContentStream`), speaking the
 * real wire protocol: `POST /<version>/models/<model>:streamGenerateContent?alt=sse` with the key in
 * `x-goog-api-key`, answered by Server-Sent Events whose `data:` lines are GenerateContentResponse JSON
 * (`candidates[0].content.parts[].text`; the last one carries `finishReason` and `usageMetadata`).
 *
 * The official SDK reaches it with
 *   new GoogleGenAI({ apiKey, httpOptions: { baseUrl: fake.baseUrl, apiVersion: 'v1beta' } })
 *
 * Errors look like Google's: a non-2xx status with `{"error":{"code","message","status"}}` (the SDK throws
 * ApiError with that status), or, mid-stream, an SSE event `data: {"error":{...}}` (the SDK throws too).
 *
 * Function calling: a script's `tokens` may hold parts instead of text (`{functionCall: {name, args}}`, with a
 * `thoughtSignature` as Gemini 3 attaches), each sent as one event; every request records the tools it declared
 * and the `functionCall` / `functionResponse` parts its contents carried back.
 *
 * Each request is answered by a `GeminiReplyScript` (per test: `fake.script(...)`, a queue of scripts, or a
 * function of the request); without one, a canned sentence is streamed (automatic mode, usable by a load
 * benchmark). Every request is recorded with its parsed body and whether the client went away before the
 * answer was complete (`aborted`: the SDK's AbortSignal closes the connection).
 */
// The implementation lives in gemini-text/, one job per file; this file is the public entry (names unchanged).
export type {
  GeminiErrorBody,
  GeminiReplyScript,
  GeminiScriptPart,
  GeminiTextFakeOptions,
  GeminiTextRequest,
} from './gemini-text/options.ts';
export { tokenize } from './gemini-text/auto-reply.ts';
export { GeminiTextFake } from './gemini-text/fake.ts';

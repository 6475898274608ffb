/**
 * Gemini text generation (the API's `streamGenerateContent`, SSE) as the cascade's LanguageModel.
 *
 * Each reply is one streaming request carrying the system instructions and the whole conversation. Our own
 * AbortController ends it on barge-in, on a first-token/stall timeout, or when the consumer stops reading.
 * The request goes out over node:http(s) (gemini-stream.ts), as @google/genai's `generateContentStream`
 * would send it (its types are used here) but without its CPU cost per event; with no automatic continuation
 * or retry (retries are the agent's decision) and no whole-request timeout: the first-token and stall
 * timeouts are ours, per chunk. Parts are read directly (thought parts are skipped).
 *
 * Tools: the call's declarations go out as `tools: [{functionDeclarations}]` (JSON Schema parameters as
 * `parametersJsonSchema`); each `functionCall` part is yielded as an LlmToolCall, its `thoughtSignature` kept so
 * the call can be sent back as the model made it (Gemini 3 rejects a call without its signature).
 */
import type { Content, GenerateContentConfig, Part, ThinkingConfig, ThinkingLevel } from '@google/genai';
import type { ToolDeclaration } from '../tools/types.ts';
import { StageError, type ChatMessage, type LanguageModel, type LlmRequest, type LlmToolCall } from './stages.ts';
import { errorText } from '../../errors.ts';
import type { AgentSettings } from '../agent.ts';
import type { googleSettings } from '../google-settings.ts';
import type { EnvOf } from '../vendor-settings.ts';
import { retryableStatus } from '../connect-retry.ts';
import type { GeminiThinking, geminiTextSettings } from './gemini-llm-settings.ts';
import { streamGenerateContent, streamUrl } from './gemini-stream.ts';

export type { GeminiThinking };

export interface GeminiLlmOptions {
  apiKey: string;
  /** e.g. 'gemini-flash-latest'. */
  model: string;
  /** Override of the API endpoint (tests, proxies), e.g. 'http://127.0.0.1:PORT'. */
  baseUrl?: string;
  /** Time to the first text and between chunks; beyond it the request is aborted as a (retryable) fault. */
  timeoutMs: number;
  /**
   * 'minimal'|'low'|'medium'|'high' → thinkingConfig.thinkingLevel (Gemini 3 models); 'off' → thinkingBudget 0
   * (Gemini 2.5); 'default' → the model's default. Thinking delays the first token: keep it low for calls.
   */
  thinking: GeminiThinking;
  maxOutputTokens?: number;
  temperature?: number;
}

/** Prepended when the conversation starts with the agent (a greeting): the API expects a user turn first. */
const CALL_STARTED = '(The call has been answered.)';

/** One message as Gemini parts: its text, then its tool calls (agent) or answers (tool). */
function toParts(m: ChatMessage): Part[] {
  const parts: Part[] = [];
  const text = m.text.trim();
  if (text) parts.push({ text });
  for (const c of m.toolCalls ?? []) {
    const { name, args } = c.call;
    const part: Part = { functionCall: { name, args: { ...args }, ...(c.modelId ? { id: c.modelId } : {}) } };
    if (c.signature !== undefined) part.thoughtSignature = c.signature;
    parts.push(part);
  }
  for (const a of m.toolAnswers ?? []) {
    const response = a.result.ok ? { output: a.result.result } : { error: a.result.error };
    const id = a.call.modelId;
    parts.push({ functionResponse: { name: a.call.call.name, response, ...(id ? { id } : {}) } });
  }
  return parts;
}

/**
 * The conversation as Gemini `contents`: consecutive turns of one role merged (text into text, other parts
 * appended), first turn a user one. Tool answers are user content, as the API wants them.
 */
export function toContents(history: readonly ChatMessage[]): Content[] {
  const out: Content[] = [];
  for (const m of history) {
    const parts = toParts(m);
    if (parts.length === 0) continue;
    const role = m.role === 'agent' ? 'model' : 'user';
    const last = out[out.length - 1];
    if (last === undefined || last.role !== role) {
      out.push({ role, parts });
      continue;
    }
    const tail = last.parts!.at(-1)!;
    const first = parts[0]!;
    if (typeof tail.text === 'string' && typeof first.text === 'string' && tail.thoughtSignature === undefined) {
      tail.text = `${tail.text} ${first.text}`;
      parts.shift();
    }
    last.parts!.push(...parts);
  }
  if (out.length > 0 && out[0]!.role !== 'user') out.unshift({ role: 'user', parts: [{ text: CALL_STARTED }] });
  return out;
}

/** The call's tools as Gemini function declarations. */
export function toFunctionDeclarations(tools: readonly ToolDeclaration[]): GenerateContentConfig['tools'] {
  const functionDeclarations = tools.map((t) => ({
    name: t.name,
    description: t.description,
    parametersJsonSchema: t.parameters,
  }));
  return [{ functionDeclarations }];
}

export class GeminiLlm implements LanguageModel {
  readonly name = 'gemini';
  readonly #opts: GeminiLlmOptions;
  readonly #url: URL;
  readonly #thinkingConfig: ThinkingConfig | undefined;

  constructor(opts: GeminiLlmOptions) {
    this.#opts = opts;
    this.#url = streamUrl(opts.model, opts.baseUrl);
    switch (opts.thinking) {
      case 'default':
        this.#thinkingConfig = undefined;
        break;
      case 'off':
        this.#thinkingConfig = { thinkingBudget: 0 };
        break;
      default:
        this.#thinkingConfig = { thinkingLevel: opts.thinking.toUpperCase() as ThinkingLevel };
    }
  }

  async *stream(req: LlmRequest): AsyncGenerator<string | LlmToolCall> {
    const { model, timeoutMs } = this.#opts;
    if (!this.#opts.apiKey) throw new StageError('llm', 'gemini: no API key configured (GOOGLE_API_KEY)', false);
    if (req.signal.aborted) return;
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort();
    req.signal.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    let gotText = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        ctrl.abort();
      }, timeoutMs);
    };
    const body = this.#requestBody(req);
    let calls = 0;
    let finished = false;
    try {
      arm();
      for await (const chunk of streamGenerateContent(this.#url, this.#opts.apiKey, body, ctrl.signal)) {
        arm();
        const parts = chunk.candidates?.[0]?.content?.parts;
        if (parts === undefined) continue;
        for (const p of parts) {
          if (typeof p.text === 'string' && p.text && p.thought !== true) {
            gotText = true;
            yield p.text;
          } else if (p.functionCall?.name) {
            gotText = true;
            const fc = p.functionCall;
            const name = fc.name!;
            yield {
              // Gemini's text API often gives no call id: ours only has to be unique within the turn.
              call: { id: fc.id || `${name}-${++calls}`, name, args: fc.args ?? {} },
              modelId: fc.id || undefined,
              signature: p.thoughtSignature,
            };
          }
        }
      }
      finished = true;
    } catch (e) {
      if (req.signal.aborted) return;
      if (timedOut) {
        throw new StageError(
          'llm',
          `gemini: ${gotText ? 'stream stalled' : 'no first token'} for ${timeoutMs} ms (model ${model})`,
          true,
        );
      }
      const status = (e as { status?: unknown }).status;
      const code = typeof status === 'number' ? status : undefined;
      throw new StageError(
        'llm',
        `gemini: request to model ${model} failed: ${errorText(e).slice(0, 300)}`,
        retryableStatus(code),
        { cause: e },
      );
    } finally {
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onAbort);
      if (!finished) ctrl.abort(); // the consumer stopped early or it failed: release the connection
    }
  }

  /** The request as @google/genai sends it to the Gemini API (its `generateContentParametersToMldev`). */
  #requestBody(req: LlmRequest): string {
    const generationConfig: GenerateContentConfig = {};
    if (this.#opts.temperature !== undefined) generationConfig.temperature = this.#opts.temperature;
    if (this.#opts.maxOutputTokens !== undefined) generationConfig.maxOutputTokens = this.#opts.maxOutputTokens;
    if (this.#thinkingConfig !== undefined) generationConfig.thinkingConfig = this.#thinkingConfig;
    const body: Record<string, unknown> = { contents: toContents(req.history) };
    if (req.systemInstructions != null) {
      body.systemInstruction = { role: 'user', parts: [{ text: req.systemInstructions }] } satisfies Content;
    }
    body.generationConfig = generationConfig;
    if (req.tools !== undefined && req.tools.length > 0) {
      body.tools = toFunctionDeclarations(req.tools);
      if (req.toolChoice === 'none') body.toolConfig = { functionCallingConfig: { mode: 'NONE' } };
    }
    return JSON.stringify(body);
  }
}

/** GeminiLlm options for one call: the environment, overridden by the call's settings. */
export function geminiTextOptions(
  env: EnvOf<typeof geminiTextSettings> & EnvOf<typeof googleSettings>,
  settings: AgentSettings,
): GeminiLlmOptions {
  return {
    apiKey: env.GOOGLE_API_KEY ?? '',
    model: settings.llmModel ?? env.GEMINI_TEXT_MODEL,
    ...(env.GEMINI_BASE_URL !== undefined ? { baseUrl: env.GEMINI_BASE_URL } : {}),
    timeoutMs: env.GEMINI_TEXT_TIMEOUT_MS,
    thinking: env.GEMINI_TEXT_THINKING,
  };
}

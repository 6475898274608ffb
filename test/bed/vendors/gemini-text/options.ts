/** The Gemini text fake's options, reply scripts and request records (public: re-exported by ../gemini-text.ts). */
import type { IncomingMessage } from 'node:http';

export interface GeminiErrorBody {
  code: number;
  message: string;
  status: string;
}

/** A part the fake can stream besides text: a function call (its `id` only when given). */
export type GeminiScriptPart =
  | { text: string }
  | { functionCall: { name: string; args?: Record<string, unknown>; id?: string }; thoughtSignature?: string };

export type GeminiReplyScript =
  | {
      /** Text pieces (or parts) streamed one per SSE event. */
      tokens: (string | GeminiScriptPart)[];
      /** Delay before the first event (time to first token). Default 0. */
      firstTokenDelayMs?: number;
      /** Delay between events. Default 0. */
      tokenDelayMs?: number;
      /** Default STOP. */
      finishReason?: string;
      /** After this many tokens: stall forever (no more data, connection kept open). */
      stallAfter?: number;
      /** After this many tokens: drop the TCP connection. */
      dropAfter?: number;
      /** After this many tokens: an SSE error event, then the end of the response. */
      errorAfter?: { tokens: number; error: GeminiErrorBody };
    }
  | { status: number; error: GeminiErrorBody; delayMs?: number }
  /** Drop the connection without an answer. */
  | { destroy: true; delayMs?: number }
  /** Accept the request and never answer (timeout tests). */
  | { hang: true };

export interface GeminiTextFakeOptions {
  /** The key the fake accepts; undefined accepts any non-empty key. */
  apiKey?: string;
  /** Accepted model names (without `models/`); undefined accepts any. */
  models?: string[];
  /** Automatic mode: the reply to requests without a script. Default: a canned two-sentence answer. */
  autoReply?: string | ((req: GeminiTextRequest) => string);
  /** Automatic mode pacing: words per event, delays. Defaults 3, 0, 0. */
  autoWordsPerToken?: number;
  autoFirstTokenDelayMs?: number;
  autoTokenDelayMs?: number;
}

export interface GeminiTextRequest {
  id: number;
  method: string;
  /** Path without query, e.g. `/v1beta/models/gemini-flash-latest:streamGenerateContent`. */
  path: string;
  query: URLSearchParams;
  model: string;
  apiVersion: string;
  headers: IncomingMessage['headers'];
  /** The parsed JSON body (contents, systemInstruction, generationConfig, ...). */
  body: Record<string, any>;
  /** `contents` flattened to {role, text} (text parts joined). */
  turns: { role: string; text: string }[];
  /** The system instruction's text, if any. */
  systemText: string | undefined;
  /** Function declarations sent (`tools[].functionDeclarations`, flattened). */
  functionDeclarations: Record<string, any>[];
  /** `functionCall` parts of the contents (what the client says the model called), with their signature. */
  functionCalls: { name: string; args: unknown; id?: string; thoughtSignature?: string }[];
  /** `functionResponse` parts of the contents (the answers the client sends back). */
  functionResponses: { name: string; response: any; id?: string }[];
  receivedAt: number;
  /** Events sent (text tokens), and when the first one went out. */
  tokensSent: number;
  firstTokenAt: number | undefined;
  /** performance.now() when the response ended or the connection closed. */
  endedAt: number | undefined;
  /** The response was completed (finishReason sent, or a scripted error/drop delivered). */
  completed: boolean;
  /** The client closed the connection before the response was complete (an aborted request). */
  aborted: boolean;
  /** Resolves when the exchange is over (completed or aborted). */
  done: Promise<void>;
}

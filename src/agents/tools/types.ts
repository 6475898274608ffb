/**
 * What an agent needs to know about tools: what the model may call (declarations, per call), what a call
 * looks like, and what comes back. Agents declare the tools to their model and hand every call to the
 * session through `AgentSink.runTool`; the session runs it (a signed webhook, or a built-in that acts on the
 * call: end, transfer, DTMF) and the agent returns the result to the model. Agents never run tools
 * themselves, so they never touch FreeSWITCH or HTTP.
 */

/** A JSON Schema object describing a tool's arguments (the subset vendors accept: type object, properties). */
export interface JsonSchemaObject {
  readonly type: 'object';
  readonly properties?: Readonly<Record<string, unknown>>;
  readonly required?: readonly string[];
  readonly [key: string]: unknown;
}

/**
 * How a tool's answer reaches the model when the model does not wait for it (Gemini Live 3.8 non-blocking
 * calls): `silent` adds it to the context, `when_idle` makes the model speak of it once it is not speaking,
 * `interrupt` makes it speak of it at once.
 */
export type ToolScheduling = 'silent' | 'when_idle' | 'interrupt';

/** One tool the model may call on this call. */
export interface ToolDeclaration {
  readonly name: string;
  readonly description: string;
  readonly parameters: JsonSchemaObject;
  /** `blocking`: the model waits for the answer before going on; `non_blocking`: it goes on talking. */
  readonly behavior?: 'blocking' | 'non_blocking';
  readonly scheduling?: ToolScheduling;
}

/** The model asked for a tool. `id` is the vendor's call id (echoed back with the answer). */
export interface ToolCallRequest {
  readonly id: string;
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
}

/** Every call gets an answer, an error included: a model never continues a turn with a call unanswered. */
export type ToolResult =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: string };

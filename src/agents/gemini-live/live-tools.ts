/**
 * Tools on Gemini Live: the declarations in the setup, and every function call the model makes handed to the
 * session (`sink.runTool`) and answered with a `toolResponse`, an error included (the model does not continue
 * a turn until every call has an answer). A `toolCallCancellation` aborts the call and drops its answer.
 *
 * A call outlives the connection it came on: the service issues no resumable handle while a call is pending,
 * so a resumed session never knows a call made on the connection before. Its tool keeps running; if the
 * resumed model asks again (same name, same arguments) the new call waits for the running one instead of
 * running the tool twice, otherwise the result reaches the model as text (`[Result of your earlier call ...]`):
 * a toolResponse naming an id the session never issued could be refused, and a refusal ends the call.
 */
import {
  Behavior,
  type FunctionCall,
  type FunctionDeclaration,
  FunctionResponseScheduling,
  type Tool,
} from '@google/genai';
import type { Logger } from 'pino';
import { errorText } from '../../errors.ts';
import type { AgentSink } from '../agent.ts';
import type { ToolDeclaration, ToolResult, ToolScheduling } from '../tools/types.ts';
import { isLive38 } from './models.ts';

/** Calls in progress at once; beyond it a call is answered with an error at once (a runaway model). */
const MAX_PENDING = 32;

/**
 * Built-ins whose answer needs no words: hanging up or sending digits is heard on the call itself, and a
 * model prompted by their answer would speak over the goodbye or narrate the keypad.
 */
const SILENT_BUILTINS = new Set(['end_call', 'send_dtmf']);

const SCHEDULING: Record<ToolScheduling, FunctionResponseScheduling> = {
  silent: FunctionResponseScheduling.SILENT,
  when_idle: FunctionResponseScheduling.WHEN_IDLE,
  interrupt: FunctionResponseScheduling.INTERRUPT,
};

/** The 3.8 Live models run function calls non-blocking unless a declaration says BLOCKING; older ones block. */
export function defaultBehavior(model: string): 'blocking' | 'non_blocking' {
  return isLive38(model) ? 'non_blocking' : 'blocking';
}

/**
 * The setup's `tools`: one function declaration per tool, its parameters as JSON Schema, its behavior only
 * when the declaration names one (otherwise the model's own default applies, see `defaultBehavior`).
 */
export function liveTools(tools: readonly ToolDeclaration[] | undefined): Tool[] | undefined {
  if (tools === undefined || tools.length === 0) return undefined;
  const functionDeclarations = tools.map((t): FunctionDeclaration => {
    const d: FunctionDeclaration = { name: t.name, description: t.description, parametersJsonSchema: t.parameters };
    if (t.behavior !== undefined) d.behavior = t.behavior === 'blocking' ? Behavior.BLOCKING : Behavior.NON_BLOCKING;
    return d;
  });
  return [{ functionDeclarations }];
}

/**
 * How a non-blocking call's answer is scheduled: the declaration's choice, else SILENT for end_call and
 * send_dtmf and WHEN_IDLE for everything else (a lookup's answer is spoken once the model has finished its
 * sentence, never over the caller or itself; INTERRUPT only when a tool declares it urgent). A failed call is
 * never silent: the caller must hear that it did not work.
 */
export function schedulingFor(
  name: string,
  decl: ToolDeclaration | undefined,
  ok: boolean,
): FunctionResponseScheduling {
  const s = decl?.scheduling ?? (SILENT_BUILTINS.has(name) ? 'silent' : 'when_idle');
  return !ok && s === 'silent' ? FunctionResponseScheduling.WHEN_IDLE : SCHEDULING[s];
}

interface Pending {
  /** The service's id (the newest one when a resumed model asked again); `undefined` when it sent none. */
  id: string | undefined;
  readonly key: string;
  readonly name: string;
  readonly argsJson: string;
  readonly controller: AbortController;
  readonly startedAt: number;
  /** The connection generation the call (or its repeat) came on: an older one means the service forgot it. */
  generation: number;
}

export interface LiveToolsHost {
  sink(): AgentSink | undefined;
  /** A client message for the current connection (numbered and kept for replay like any other). */
  send(msg: string): void;
  /** The pending set changed (a switch may have been waiting for it). */
  pendingChanged(pending: ReadonlySet<string>): void;
}

export class LiveTools {
  readonly #decls: ReadonlyMap<string, ToolDeclaration>;
  readonly #behavior: 'blocking' | 'non_blocking';
  readonly #log: Logger;
  readonly #host: LiveToolsHost;
  readonly #pending = new Map<string, Pending>();
  #generation = 0;
  #seq = 0;
  #closed = false;

  constructor(tools: readonly ToolDeclaration[] | undefined, model: string, log: Logger, host: LiveToolsHost) {
    this.#decls = new Map((tools ?? []).map((t) => [t.name, t]));
    this.#behavior = defaultBehavior(model);
    this.#log = log;
    this.#host = host;
  }

  /** Ids of the calls the current connection is waiting for (a switch now would lose them). */
  get pending(): ReadonlySet<string> {
    const ids = new Set<string>();
    for (const p of this.#pending.values()) if (p.generation === this.#generation) ids.add(p.key);
    return ids;
  }

  toolCall(calls: readonly FunctionCall[]): void {
    for (const c of calls) this.#start(c);
    this.#host.pendingChanged(this.pending);
  }

  /** The service withdrew these calls (the caller interrupted): abort them and never answer them. */
  cancelled(ids: readonly string[]): void {
    for (const id of ids) {
      const p = [...this.#pending.values()].find((x) => x.id === id && x.generation === this.#generation);
      if (p === undefined) continue;
      this.#pending.delete(p.key);
      p.controller.abort(new Error('cancelled by the model'));
      this.#log.debug(
        { tool: p.name, id, ms: Math.round(performance.now() - p.startedAt) },
        'gemini live tool call cancelled',
      );
    }
    this.#host.pendingChanged(this.pending);
  }

  /** The connection is being replaced: the session that comes next does not know the calls pending now. */
  connectionEnded(): void {
    this.#generation++;
    this.#host.pendingChanged(this.pending);
  }

  /**
   * A message about to be re-sent to a resumed session: a toolResponse becomes the text form of its results
   * (the session it answered is gone); one message for one, so the numbering of client messages holds.
   */
  forReplay(msg: string): string {
    if (!msg.startsWith('{"toolResponse"')) return msg;
    const parsed = JSON.parse(msg) as { toolResponse: { functionResponses: { name: string; response: unknown }[] } };
    const texts = parsed.toolResponse.functionResponses.map((r) => resultText(r.name, undefined, r.response));
    return JSON.stringify({ realtimeInput: { text: texts.join(' ') } });
  }

  /** Abort every call in progress; their answers are dropped. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const p of this.#pending.values()) p.controller.abort(new Error('call ended'));
    this.#pending.clear();
  }

  #start(c: FunctionCall): void {
    const name = c.name ?? '';
    const argsJson = JSON.stringify(c.args ?? {});
    // A resumed model asking again for a call still running from before: answer it with that call's result.
    for (const p of this.#pending.values()) {
      if (p.generation !== this.#generation && p.name === name && p.argsJson === argsJson) {
        p.id = c.id;
        p.generation = this.#generation;
        this.#log.debug({ tool: name, id: c.id }, 'gemini live tool call repeated after a resumption: still running');
        return;
      }
    }
    const p: Pending = {
      id: c.id,
      key: c.id ?? `unnamed-${++this.#seq}`,
      name,
      argsJson,
      controller: new AbortController(),
      startedAt: performance.now(),
      generation: this.#generation,
    };
    const sink = this.#host.sink();
    if (this.#closed || sink === undefined) return;
    if (this.#pending.size >= MAX_PENDING || this.#pending.has(p.key)) {
      this.#answer(p, { ok: false, error: `too many tool calls in progress (${MAX_PENDING})` });
      return;
    }
    if (sink.runTool === undefined) {
      this.#answer(p, { ok: false, error: 'tools are not available on this call' });
      return;
    }
    this.#pending.set(p.key, p);
    let running: Promise<ToolResult>;
    try {
      running = sink.runTool({ id: p.key, name, args: c.args ?? {} }, p.controller.signal);
    } catch (e) {
      running = Promise.resolve({ ok: false, error: errorText(e) });
    }
    running
      .catch((e: unknown): ToolResult => ({ ok: false, error: errorText(e) }))
      .then((result) => {
        if (this.#pending.get(p.key) !== p) return; // cancelled, or the call ended
        this.#pending.delete(p.key);
        this.#answer(p, result);
        this.#host.pendingChanged(this.pending);
      });
  }

  #answer(p: Pending, result: ToolResult): void {
    const ms = Math.round(performance.now() - p.startedAt);
    this.#log.debug({ tool: p.name, id: p.id, ms, ok: result.ok }, 'gemini live tool call answered');
    // "output" and "error" are the keys FunctionResponse documents (the cascade answers the same way).
    const response = result.ok ? { output: result.result } : { error: result.error };
    if (p.generation !== this.#generation) {
      this.#host.send(JSON.stringify({ realtimeInput: { text: resultText(p.name, p.argsJson, response) } }));
      return;
    }
    const fr: Record<string, unknown> = { name: p.name, response };
    if (p.id !== undefined) fr.id = p.id;
    const decl = this.#decls.get(p.name);
    if ((decl?.behavior ?? this.#behavior) === 'non_blocking') fr.scheduling = schedulingFor(p.name, decl, result.ok);
    this.#host.send(JSON.stringify({ toolResponse: { functionResponses: [fr] } }));
  }
}

/** A result told to a session that no longer knows the call (bracketed: an event, not the caller's words). */
function resultText(name: string, argsJson: string | undefined, response: unknown): string {
  const call = argsJson === undefined ? name : `${name}(${argsJson})`;
  return `[Result of your earlier call to ${call}: ${JSON.stringify(response)}]`;
}

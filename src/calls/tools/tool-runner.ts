import type { ToolCallRequest, ToolResult } from '../../agents/tools/types.ts';
import { errorText } from '../../errors.ts';
import type { CallActions } from '../call-actions.ts';
import { DTMF_DIGITS } from './built-ins.ts';
import { type BuiltinTool, BUILTIN_TOOLS, TRANSFER_TARGET } from './tool-config.ts';
import type { CallToolTable } from './tool-table.ts';
import { callWebhook, type ToolOutcome } from './webhook.ts';

/** One finished tool call, as the observer (record, SSE, logs, metrics) sees it. */
export interface ToolRun {
  readonly id: string;
  readonly name: string;
  /** `unknown`: the model named a tool this call does not have. */
  readonly kind: 'builtin' | 'webhook' | 'unknown';
  readonly args: Readonly<Record<string, unknown>>;
  readonly result: ToolResult;
  readonly outcome: ToolOutcome;
  readonly durationMs: number;
  /** The webhook's HTTP status, when it answered. */
  readonly status?: number;
}

export interface ToolRunnerDeps {
  table: CallToolTable;
  actions: CallActions;
  observe(run: ToolRun): void;
  fetch?: typeof fetch;
}

const isBuiltin = (name: string): name is BuiltinTool => (BUILTIN_TOOLS as readonly string[]).includes(name);

/**
 * Runs the model's tool calls for one call: built-ins act on the call through CallActions, webhooks are
 * POSTed (webhook.ts). Every call resolves, failures as error results the model can talk about, and every
 * call is reported to the observer with its duration.
 */
export class ToolRunner {
  readonly #d: ToolRunnerDeps;
  /** Aborted when the call ends: a webhook still running is abandoned, its answer has no one to go to. */
  readonly #ended = new AbortController();

  constructor(deps: ToolRunnerDeps) {
    this.#d = deps;
  }

  /** The call ended: cancel every tool call still running. Idempotent. */
  close(): void {
    this.#ended.abort();
  }

  async run(call: ToolCallRequest, modelSignal: AbortSignal): Promise<ToolResult> {
    const t0 = performance.now();
    const signal = AbortSignal.any([modelSignal, this.#ended.signal]);
    const { table } = this.#d;
    const args = call.args && typeof call.args === 'object' ? call.args : {};
    const kind =
      isBuiltin(call.name) && table.builtins.has(call.name)
        ? 'builtin'
        : table.webhooks.has(call.name)
          ? 'webhook'
          : 'unknown';
    let answer: { result: ToolResult; outcome: ToolOutcome; status?: number };
    try {
      if (signal.aborted) answer = failed('the tool call was cancelled', 'cancelled');
      else if (kind === 'builtin') answer = await this.#builtin(call.name as BuiltinTool, args);
      else if (kind === 'webhook') {
        const tool = table.webhooks.get(call.name)!;
        const body = { ...table.context, tool: call.name, tool_call_id: call.id, args };
        answer = await callWebhook({ tool, body, headers: table.headers, signal }, this.#d.fetch);
      } else answer = failed(`there is no tool named "${String(call.name).slice(0, 64)}" on this call`);
    } catch (err) {
      answer = failed(`the tool failed: ${errorText(err)}`);
    }
    if (signal.aborted && answer.outcome !== 'cancelled') answer = { ...answer, outcome: 'cancelled' };
    const durationMs = performance.now() - t0;
    try {
      this.#d.observe({ id: call.id, name: call.name, kind, args, ...answer, durationMs });
    } catch {
      // Reporting must never cost the model its answer.
    }
    return answer.result;
  }

  async #builtin(name: BuiltinTool, args: Readonly<Record<string, unknown>>) {
    const { actions, table } = this.#d;
    switch (name) {
      case 'end_call': {
        const reason =
          typeof args.reason === 'string' && args.reason.trim()
            ? args.reason.trim().slice(0, 200)
            : 'the agent ended the call';
        actions.endAfterPlayback(reason);
        return done('ending the call after your goodbye');
      }
      case 'transfer_call': {
        const target = typeof args.target === 'string' ? args.target.trim() : '';
        if (!TRANSFER_TARGET.test(target))
          return failed(
            'target must be a phone number with country code (+15551234567) or a SIP URI (sip:desk@pbx.example.com)',
          );
        if (table.transferTargets && !table.transferTargets.includes(target))
          return failed(`transfers on this call may only go to: ${table.transferTargets.join(', ')}`);
        const method = args.method === 'refer' ? 'refer' : 'bridge';
        const outcome = await actions.transfer(target, { method });
        if (outcome.ok) return done(`the caller has been transferred to ${target}`);
        const why =
          outcome.reason === 'no-answer'
            ? 'did not answer'
            : outcome.reason === 'busy'
              ? 'is busy'
              : `failed (${outcome.reason})`;
        return failed(
          `the transfer to ${target} ${why}${outcome.detail ? `: ${outcome.detail}` : ''}. ` +
            'The caller is still on the line with you: tell them, and offer another way to help.',
        );
      }
      case 'send_dtmf': {
        const digits = typeof args.digits === 'string' ? args.digits : '';
        if (!DTMF_DIGITS.test(digits)) return failed('digits must be 1 to 64 of 0-9, *, #, A-D, w or W');
        await actions.sendDtmf(digits);
        return done(`sent the digits ${digits}`);
      }
    }
  }
}

const done = (result: unknown) => ({ result: { ok: true as const, result }, outcome: 'ok' as const });
const failed = (error: string, outcome: ToolOutcome = 'error') => ({ result: { ok: false as const, error }, outcome });

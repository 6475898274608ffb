import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { FINAL_STATUSES, TOOL_ARGS_KEPT, type ToolCallEntry } from '../store/call-record.ts';
import { redactUrlCredentials } from '../secrets.ts';
import type { CallActions } from './call-actions.ts';
import type { CallBook } from './call-book.ts';
import type { ToolPatch } from './tools/tool-config.ts';
import { ToolRunner, type ToolRun } from './tools/tool-runner.ts';
import type { CallToolTable } from './tools/tool-table.ts';

/**
 * A call's tool runner, wired to everything that shows tool calls: the call record and transcript (through
 * the CallBook, which also feeds the SSE stream), the log, and the metrics.
 */
export function callToolRunner(d: {
  callId: string;
  /** Absent: the call has no tools (every call the model makes is answered as unknown, and still shown). */
  table: CallToolTable | undefined;
  actions: CallActions;
  book: CallBook;
  logger: Logger;
  metrics?: Metrics;
  fetch?: typeof fetch;
}): ToolRunner {
  const table = d.table ?? NO_TOOLS;
  const observe = (run: ToolRun) => {
    const entry = toolCallEntry(run);
    d.book.toolCall(d.callId, entry);
    d.metrics?.toolCall(run.kind === 'unknown' ? 'unknown' : run.name, run.outcome, run.durationMs);
    const webhook = table.webhooks.get(run.name);
    const fields = {
      tool: entry.name,
      kind: run.kind,
      outcome: run.outcome,
      durationMs: entry.durationMs,
      args: entry.args,
      ...(run.status !== undefined && { status: run.status }),
      // The URL may carry a token in its userinfo; never the signing secret, which lives in the table's closure.
      ...(webhook && { url: redactUrlCredentials(webhook.url) }),
      ...(entry.error !== undefined && { error: entry.error }),
    };
    d.logger[run.result.ok || run.outcome === 'cancelled' ? 'info' : 'warn'](fields, 'tool call');
  };
  return new ToolRunner({ table, actions: d.actions, observe, ...(d.fetch && { fetch: d.fetch }) });
}

const NO_TOOLS: CallToolTable = {
  webhooks: new Map(),
  builtins: new Set(),
  context: { call_id: '', call_uuid: '', direction: 'inbound', from: '', to: '' },
  headers: () => ({}),
};

/** What the record keeps of a tool call: arguments and errors cut, the duration in whole ms. */
export function toolCallEntry(run: ToolRun): ToolCallEntry {
  let args: string;
  try {
    args = JSON.stringify(run.args) ?? '{}';
  } catch {
    args = '{}';
  }
  if (args.length > TOOL_ARGS_KEPT) args = `${args.slice(0, TOOL_ARGS_KEPT)}…`;
  return {
    at: Date.now(),
    name: run.kind === 'unknown' ? String(run.name).slice(0, 64) : run.name,
    args,
    ok: run.result.ok,
    outcome: run.outcome,
    durationMs: Math.max(0, Math.round(run.durationMs)),
    ...(!run.result.ok && { error: run.result.error.slice(0, 300) }),
  };
}

/**
 * CallActions for a session that has none of its own yet: end_call ends the call once the goodbye has been
 * played (the session's existing hang-up-when-idle path); transfers and DTMF answer that they are not
 * available on this call, which the model can say.
 */
export function fallbackActions(hangupWhenIdle: (reason: string) => void): CallActions {
  return {
    endAfterPlayback: hangupWhenIdle,
    transfer: async () => ({ ok: false, reason: 'failed', detail: 'transfers are not available on this call' }),
    sendDtmf: async () => {
      throw new Error('sending DTMF is not available on this call');
    },
  };
}

/**
 * Tool settings given with POST /calls, held until the call is answered. They are too large for a channel
 * variable (16 definitions of up to 8 KB each), so they stay here, under the call's id, and leave when the call
 * takes them or ends without being answered.
 */
export class PendingToolSettings {
  readonly #byCall = new Map<string, ToolPatch>();

  constructor(book: CallBook) {
    book.on('change', (record, change) => {
      if (change.type === 'status' && FINAL_STATUSES.has(change.status)) this.#byCall.delete(record.id);
    });
  }

  set(callId: string, patch: ToolPatch): void {
    if (patch.tools || patch.builtin_tools || patch.transfer_targets) this.#byCall.set(callId, patch);
  }

  /** The call's API tool settings (once: answering takes them). */
  take(callId: string): ToolPatch | undefined {
    const patch = this.#byCall.get(callId);
    this.#byCall.delete(callId);
    return patch;
  }

  get size(): number {
    return this.#byCall.size;
  }
}

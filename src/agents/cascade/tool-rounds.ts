/**
 * One tool round of a cascade reply: the model's turn ended with tool calls; the session runs them (all at
 * once, through `AgentSink.runTool`), a short filler is spoken if they take long, and their answers go into
 * the history for the model's next request, which continues the reply.
 *
 * The history gets the calls (on the agent turn that made them) and an answer for each at once, before
 * anything runs: answers that have not come yet read as cancelled. So whatever ends the round early — the
 * caller talking over it (the reply's signal aborts the calls; the session drops their results), a new turn,
 * a fault, the call closing — the history stays a valid conversation, and the next turn's model knows the call
 * was made and did not finish.
 */
import type { AgentSink } from '../agent.ts';
import type { Logger } from '../../log.ts';
import { errorText } from '../../errors.ts';
import type { ToolCallRequest, ToolResult } from '../tools/types.ts';
import type { Reply } from './reply.ts';
import type { ChatMessage, LlmToolCall } from './stages.ts';

export interface ToolRoundHost {
  readonly sink: AgentSink;
  readonly log: Logger;
  readonly history: ChatMessage[];
  /** Speak the filler after this long without every answer. */
  readonly fillerMs: number;
  readonly filler: string;
  /** Hand text to the reply's speech (as the model's text is). */
  speak(r: Reply, text: string): void;
}

/** The answer a call has until its result comes (and keeps, if the round ends first). */
const CANCELLED: ToolResult = { ok: false, error: 'cancelled: the call was interrupted before the tool answered' };

/** Run the round's calls; resolves when all answered or the reply was cancelled (its signal aborted). */
export async function runToolRound(host: ToolRoundHost, r: Reply, calls: readonly LlmToolCall[]): Promise<void> {
  const { history, log } = host;
  let msg = r.msg;
  if (msg === undefined) {
    msg = { role: 'agent', text: '' };
    history.push(msg);
  }
  msg.toolCalls = calls;
  const answers = calls.map((call) => ({ call, result: CANCELLED }));
  history.push({ role: 'tool', text: '', toolAnswers: answers });
  // What the reply says from here on (the filler, the continued answer) is a new agent turn after the answers.
  r.msg = undefined;
  r.msgFrom = r.textSent.length;
  r.spaceNext = true;

  const signal = r.abort.signal;
  const t0 = performance.now();
  const filler = setTimeout(() => {
    if (r.cancelled) return;
    host.speak(r, host.filler);
    r.spaceNext = true; // the answer follows it
  }, host.fillerMs);
  try {
    const results = await Promise.all(calls.map((c) => runOne(host.sink, c.call, signal)));
    if (signal.aborted || r.cancelled) return;
    results.forEach((result, i) => {
      answers[i]!.result = result;
    });
    const ms = Math.round(performance.now() - t0);
    const failed = results.filter((x) => !x.ok).length;
    log.info({ tools: calls.map((c) => c.call.name), ms, failed }, 'cascade: tool round answered');
  } finally {
    clearTimeout(filler);
  }
}

/** The session's answer; the session always resolves, but an agent never trusts that with its turn. */
async function runOne(sink: AgentSink, call: ToolCallRequest, signal: AbortSignal): Promise<ToolResult> {
  if (sink.runTool === undefined) return { ok: false, error: 'tools are not available on this call' };
  try {
    return await sink.runTool(call, signal);
  } catch (e) {
    return { ok: false, error: errorText(e) };
  }
}

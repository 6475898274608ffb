/**
 * The model's side of a cascade reply: request the model with the history, hand its text to speech as it
 * streams (a sentence or first clause at a time), and when its turn ends with tool calls, run them
 * (tool-rounds.ts) and ask again to continue the same reply — at most MAX_TOOL_ROUNDS times per reply; the
 * request after the last round forbids calls, so the model has to answer in words.
 *
 * A failed request is retried once if nothing of it was spoken yet; a stream that broke after some text ends
 * the reply with what came; otherwise the stage has failed (the agent apologizes and ends the call).
 */
import type { ToolDeclaration } from '../tools/types.ts';
import type { CascadeStats } from './cascade-stats.ts';
import { trimHistory } from './history.ts';
import type { Reply } from './reply.ts';
import { asStageError } from './stage-links.ts';
import type { LanguageModel, LlmRequest, LlmToolCall, StageName } from './stages.ts';
import { runToolRound, type ToolRoundHost } from './tool-rounds.ts';
import { SentenceChunker } from './sentence-chunker.ts';

/** Tool rounds one reply may take before the model must answer without tools. */
export const MAX_TOOL_ROUNDS = 4;

export interface ReplyModelHost extends ToolRoundHost {
  readonly stats: CascadeStats;
  readonly llm: LanguageModel;
  readonly systemInstructions: string;
  readonly historyTokens: number;
  readonly tools: readonly ToolDeclaration[];
  fault(stage: StageName, cause: string): void;
}

export class ReplyModel {
  readonly #host: ReplyModelHost;

  constructor(host: ReplyModelHost) {
    this.#host = host;
  }

  /** The model's whole answer into speech; false when the reply is over (cancelled or faulted). */
  async speak(r: Reply): Promise<boolean> {
    const host = this.#host;
    for (let round = 0; ; round++) {
      const calls = await this.#stream(r, round >= MAX_TOOL_ROUNDS);
      if (calls === undefined || r.cancelled) return false;
      if (calls.length === 0) return true;
      if (round >= MAX_TOOL_ROUNDS) {
        const names = calls.map((c) => c.call.name);
        host.log.warn({ names, rounds: round }, 'cascade: the model called tools past its rounds; ignored');
        return true;
      }
      // Whatever the model said before its calls is spoken while they run.
      const rest = r.chunker.flush();
      if (rest) host.speak(r, rest);
      r.chunker = new SentenceChunker();
      host.stats.toolRounds++;
      await runToolRound(host, r, calls);
      if (r.cancelled) return false;
    }
  }

  /** One model request; its tool calls (none: the reply's text is complete), undefined when it is over. */
  async #stream(r: Reply, lastRound: boolean): Promise<LlmToolCall[] | undefined> {
    const host = this.#host;
    const dropped = trimHistory(host.history, host.systemInstructions, host.historyTokens);
    if (dropped > 0) host.log.debug({ dropped, kept: host.history.length }, 'cascade: oldest turns dropped');
    const req: LlmRequest = {
      systemInstructions: host.systemInstructions,
      history: host.history.slice(),
      signal: r.abort.signal,
    };
    if (host.tools.length > 0) {
      req.tools = host.tools;
      req.toolChoice = lastRound ? 'none' : 'auto';
    }
    const sentBefore = r.textSent.length;
    for (let attempt = 0; ; attempt++) {
      const calls: LlmToolCall[] = [];
      try {
        for await (const item of host.llm.stream(req)) {
          if (r.cancelled) return undefined;
          r.marks.llmFirstTokenAt ??= performance.now();
          if (typeof item !== 'string') calls.push(item);
          else for (const piece of r.chunker.push(item)) host.speak(r, piece);
        }
        return r.cancelled ? undefined : calls;
      } catch (e) {
        if (r.cancelled) return undefined;
        const err = asStageError(e, 'llm');
        if (r.textSent.length === sentBefore && attempt === 0 && err.retryable) {
          host.stats.llmRetries++;
          host.log.warn({ err: err.message }, 'cascade: model request failed; retrying once');
          r.chunker = new SentenceChunker();
          if (sentBefore === 0) delete r.marks.llmFirstTokenAt;
          continue;
        }
        // Calls from a broken stream may be incomplete: never run, the reply ends with what was said.
        if (r.textSent !== '' || r.chunker.pending.trim() !== '') {
          const chars = r.textSent.length;
          host.log.warn({ err: err.message, chars }, 'cascade: model stream broke; speaking what came');
          return r.cancelled ? undefined : [];
        }
        host.fault('llm', err.message);
        return undefined;
      }
    }
  }
}

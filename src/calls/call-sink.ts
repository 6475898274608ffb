import type { AgentSink } from '../agents/agent.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { TranscriptEntry } from '../store/call-record.ts';
import type { CallBook } from './call-book.ts';
import { CallInputs } from './call-inputs.ts';
import type { CallPlayout } from './call-playout.ts';
import type { CallTranscript } from './call-transcript.ts';
import type { CallActions } from './call-actions.ts';
import { callToolRunner } from './call-tools.ts';
import type { ToolRunner } from './tools/tool-runner.ts';
import type { CallToolTable } from './tools/tool-table.ts';

export interface CallSinkDeps {
  callId: string;
  /** The session's counters (CallStats). */
  stats: { replies: number; bargeIns: number };
  playout: CallPlayout;
  transcript: CallTranscript;
  /** The record's transcript (completed digit collections are written to it). */
  record: { transcript: TranscriptEntry[] };
  book: CallBook;
  logger: Logger;
  metrics?: Metrics;
  /** Hang up once what is queued for the caller has played. */
  endAfterPlayback(reason: string): void;
  /** The agent gave up: the session ends the call as failed. */
  failed(cause: string): void;
  /** End the call now (a silence or duration limit). */
  end(reason: string): void;
}

/**
 * The agent's side of a session: the AgentSink it talks to (its audio straight to the playout, through the
 * digit hold only; its transcripts to the call's transcript; its requests and failures back to the session),
 * the call's CallInputs (digits, limits) and the runner of its tool calls. Sink and inputs are made together
 * because each feeds the other: a digit breaks off a reply as the sink's `interrupted` does, and the sink
 * reports activity to the limits.
 */
export class CallSink {
  readonly sink: AgentSink;
  readonly inputs: CallInputs;
  readonly #d: CallSinkDeps;
  /** Runs the agent's tool calls (calls/call-tools.ts); made once the call's settings are known. */
  #tools: ToolRunner | undefined;

  constructor(d: CallSinkDeps) {
    this.#d = d;
    const { playout, transcript, stats } = d;
    const inputs = new CallInputs({
      callId: d.callId,
      transcript: d.record.transcript,
      book: d.book,
      logger: d.logger,
      playing: () => !playout.idle,
      interrupt: () => sink.interrupted(),
      end: d.end,
    });
    const sink: AgentSink = {
      audio: inputs.gate(playout.audio),
      replyDone: () => {
        stats.replies++;
        playout.endReply();
      },
      interrupted: () => {
        inputs.activity('caller');
        stats.bargeIns++;
        playout.interrupt();
        transcript.close('agent');
      },
      transcript: (speaker, text, final) => {
        inputs.activity(speaker);
        transcript.update(speaker, text, final);
      },
      hangup: (reason) => d.endAfterPlayback(reason),
      failed: (cause) => d.failed(cause),
      resumed: (info) => {
        const { reason, durationMs } = d.book.resumed(d.callId, info);
        d.logger.info({ reason, durationMs }, 'agent resumed its vendor connection');
        d.metrics?.agentResumed(reason, durationMs);
      },
      runTool: (call, signal) =>
        this.#tools?.run(call, signal) ?? Promise.resolve({ ok: false, error: 'the call is not ready for tools yet' }),
      playback: () => playout.playback(),
      replyTimings: (marks) => playout.replyTimings(marks),
    };
    this.sink = sink;
    this.inputs = inputs;
  }

  /** The call's settings are known: the agent's tool calls run from now on, acting through `actions`. */
  useTools(table: CallToolTable | undefined, actions: CallActions): void {
    const { callId, book, logger, metrics } = this.#d;
    this.#tools = callToolRunner({ callId, table, actions, book, logger, metrics });
  }

  /** Cancel the tool calls in progress (call end). */
  closeTools(): void {
    this.#tools?.close();
  }
}

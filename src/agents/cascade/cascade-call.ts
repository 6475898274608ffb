import type { BargeInDetector } from '../../media/barge-in.ts';
import type { AgentSink } from '../agent.ts';

export type CascadePhase = 'idle' | 'starting' | 'open' | 'closed';

/**
 * The facts of one cascade call that change while it runs, shared by reference between the agent and its parts
 * (stage links, caller turns, replies, the say/notify queue) instead of getters over the agent's private fields.
 * The agent writes `phase`, `sink`, `samplesIn` and `bargeIn`; `faulted` is set by its fault handling.
 */
export class CascadeCall {
  phase: CascadePhase = 'idle';
  /** The session's sink, from `start()` on (nothing reads it before). */
  sink!: AgentSink;
  /** A vendor fault is ending the call: nothing new is answered. */
  faulted = false;
  /** Caller samples pushed so far (STT times are relative to the start of the current stream). */
  samplesIn = 0;
  /** Armed while a reply is audible, so the caller can talk over it; made once the VAD model is loaded. */
  bargeIn: BargeInDetector | undefined;

  /** The agent is open (answering): events of the stages count only then. */
  get isOpen(): boolean {
    return this.phase === 'open';
  }

  /** The agent was closed: a connection that completes now is closed again. */
  get isClosed(): boolean {
    return this.phase === 'closed';
  }
}

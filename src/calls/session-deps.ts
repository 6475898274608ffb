/** What a CallSession is given (SessionDeps), what it sends its channel, and what it counts. */

import type { Agent } from '../agents/agent.ts';
import type { ChannelControl } from '../freeswitch/channel-control.ts';
import type { Logger } from '../log.ts';
import type { Resampling } from '../media/resampling/resampling.ts';
import type { Metrics } from '../metrics.ts';
import type { PaceMemory } from '../playout/arrival-pace.ts';
import type { CallBook } from './call-book.ts';
import type { CallControl as CallActionsControl, CallControlHooks } from './call-control.ts';
import type { MediaStats } from './call-media.ts';
import type { PlayoutStats } from './call-playout.ts';
import type { CallSettings } from './call-settings.ts';
import type { SessionSettings } from './session-settings.ts';

export interface CallStats extends MediaStats, PlayoutStats {
  replies: number;
  bargeIns: number;
}

/** The commands a session sends to its channel (ChannelControl). */
export type CallControl = Pick<
  ChannelControl,
  'answer' | 'setVariables' | 'startStream' | 'stopStream' | 'play' | 'breakAll' | 'hangup'
>;

export interface SessionDeps {
  settings: SessionSettings;
  control: CallControl;
  logger: Logger;
  book: CallBook;
  /** How this call is answered (env defaults, callback URL, profile, channel variables). */
  resolveSettings(): Promise<CallSettings>;
  createAgent(settings: CallSettings): Agent;
  resampling: Resampling;
  /** Shared by the calls of this callbridge instance (see playout/arrival-pace.ts). */
  pace: PaceMemory;
  /** The session ended (given itself, so the owner can tell it from a newer session of the same call). */
  onEnded(session: EndedSession): void;
  metrics?: Metrics;
  /** A call carried on from another instance (cluster failover): no opening line, the agent knows the past. */
  takeover?: boolean;
  /** The call's actions (end after playback, transfer, DTMF), given the session's own ways of ending. */
  createActions?(hooks: CallControlHooks): CallActionsControl;
}

/** What the owner learns of a session that ended: which call, and why. */
export interface EndedSession {
  readonly id: string;
  readonly endReason: string | undefined;
}

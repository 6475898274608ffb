/** What a CallManager is given (CallManagerDeps), what a carried-on call brings (Takeover), and a call's facts. */

import type { Agent, AgentSettings } from '../agents/agent.ts';
import type { ChannelControl } from '../freeswitch/channel-control.ts';
import type { EslClient } from '../freeswitch/esl.ts';
import type { ChannelInfo } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import type { Resampling } from '../media/resampling/resampling.ts';
import type { Metrics } from '../metrics.ts';
import type { PaceMemory } from '../playout/arrival-pace.ts';
import type { CallRecord } from '../store/call-record.ts';
import type { BrowserAdmission } from './browser-admission.ts';
import type { CallBook } from './call-book.ts';
import type { CallFacts, CallSettings } from './call-settings.ts';
import type { OutboundSettings } from './outbound-call.ts';
import type { SessionSettings } from './session-settings.ts';

export interface CallManagerDeps extends BrowserAdmission {
  /** What each call's session reads from the configuration. */
  session: SessionSettings;
  outbound: OutboundSettings;
  esl: EslClient;
  logger: Logger;
  book: CallBook;
  resolveSettings(facts: CallFacts, logger: Logger): Promise<CallSettings>;
  createAgent(settings: CallSettings, facts: CallFacts, logger: Logger): Agent;
  resampling: Resampling;
  /** How agents' replies arrive, learnt from every call of this instance (see playout/arrival-pace.ts). */
  pace: PaceMemory;
  metrics?: Metrics;
  /** The FreeSWITCH node this manager drives (FREESWITCH_NODES), written on each call's record. */
  node?: string;
  /** Admission control (calls/admission.ts) of parked calls not ours yet; absent: every marked call is taken. */
  admit?(channel: ChannelInfo, control: ChannelControl, log: Logger): 'take' | 'busy' | 'leave';
  /**
   * Cluster mode (calls/cluster-calls.ts): a call is taken (or placed) only once this resolves true, i.e. this
   * instance owns it in Redis (false also for an answered channel another instance carried: failover's to take
   * over). Absent: every admitted call is ours.
   */
  claim?(callId: string, answered?: boolean): Promise<boolean>;
  /** Cluster mode: give up a claim won for a call not taken after all (shutting down meanwhile). */
  unclaim?(callId: string): void;
}

/** A call carried on from another instance: its shared record and what the new agent is told of the past. */
export interface Takeover {
  record: CallRecord;
  priorConversation: AgentSettings['priorConversation'];
}

export function callFacts(channel: ChannelInfo): CallFacts {
  return {
    callId: channel.uuid,
    direction: channel.direction,
    from: channel.callerNumber,
    to: channel.destination,
    sipCallId: channel.sipCallId,
    sipRequestUri: channel.variable('sip_req_uri'),
    sipFromUri: channel.variable('sip_from_uri'),
    variable: channel.variable,
  };
}

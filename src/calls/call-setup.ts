/**
 * The two waits of a call's setup (CallSession.start()), each running its two steps at once and saying why the
 * call cannot go on when one failed. The session checks it is still starting after each.
 */

import type { Agent, AgentSink } from '../agents/agent.ts';
import type { ChannelInfo } from '../freeswitch/events.ts';
import { errorText } from '../errors.ts';
import type { CallMedia } from './call-media.ts';
import type { CallSettings } from './call-settings.ts';
import type { CallControl } from './session-deps.ts';

/** Answer the channel (unless it is answered) while its settings are decided: the settings, or why not. */
export async function answerWhileDeciding(
  channel: ChannelInfo,
  control: CallControl,
  decide: () => Promise<CallSettings>,
): Promise<CallSettings | string> {
  const [answer, decided] = await Promise.allSettled([
    channel.answered ? Promise.resolve() : control.answer(),
    decide(),
  ]);
  if (answer.status === 'rejected') return `answer failed: ${errorText(answer.reason)}`;
  if (decided.status === 'rejected') return `call settings failed: ${errorText(decided.reason)}`;
  return decided.value;
}

/** Start the agent and set up the call's media stream together: why the call cannot go on, if either failed. */
export async function connectAgent(agent: Agent, sink: AgentSink, media: CallMedia): Promise<string | undefined> {
  const [agentResult, mediaResult] = await Promise.allSettled([agent.start(sink), media.setUp(agent)]);
  if (mediaResult.status === 'rejected') return `media stream failed: ${errorText(mediaResult.reason)}`;
  if (agentResult.status === 'rejected') return `agent failed to start: ${errorText(agentResult.reason)}`;
  return undefined;
}

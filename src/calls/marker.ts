import { arrayValues, type ChannelInfo } from '../freeswitch/events.ts';

/**
 * The channel variable that hands a parked call to callbridge. The dialplan sets it for inbound calls
 * (`<action application="set" data="callbridge=1"/>` before `park`); an outbound
 * `originate {callbridge=1}... &park()` sets it too. Parked channels without it are left alone.
 */
export const MARKER_VARIABLE = 'callbridge';

export function isMarked(channel: ChannelInfo): boolean {
  const raw = channel.variable(MARKER_VARIABLE);
  if (typeof raw !== 'string') return false;
  // Set more than once with `push`, the marker is an array: its latest value counts.
  const v = arrayValues(raw).at(-1)!.trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false' && v !== 'no';
}

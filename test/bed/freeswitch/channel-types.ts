/**
 * The shapes an emulated channel and its collaborators share (codecs, states, the host it runs in, its caller
 * profile). Values live here rather than in channel.ts so the collaborators need no import cycle at run time;
 * channel.ts re-exports them for the emulator and the tests.
 */
import type { Waiters } from './async-tools.ts';
import type { EmulatedChannel } from './channel.ts';
import type { EventFactory, FsEvent, Header } from './event-templates.ts';
import type { MediaClock } from './media-clock.ts';
import type { Settings } from './settings.ts';

export type CodecName = 'PCMU' | 'PCMA' | 'L16' | 'G722';
export const CODECS: Record<CodecName, { rate: number; bitRate: number; pt: number; bytesPerFrame: number }> = {
  PCMU: { rate: 8000, bitRate: 64000, pt: 0, bytesPerFrame: 160 },
  PCMA: { rate: 8000, bitRate: 64000, pt: 8, bytesPerFrame: 160 },
  L16: { rate: 16000, bitRate: 256000, pt: 96, bytesPerFrame: 640 },
  G722: { rate: 16000, bitRate: 64000, pt: 9, bytesPerFrame: 160 },
};

export type AnswerState = 'ringing' | 'early' | 'answered' | 'hangup';
export type CallState = 'DOWN' | 'RINGING' | 'EARLY' | 'ACTIVE' | 'HANGUP';

/** How the call ended on the SIP side: the sip_hangup_disposition FreeSWITCH records. */
export type HangupHow = 'recv_bye' | 'send_bye' | 'recv_refuse' | 'send_refuse' | 'recv_cancel' | 'send_cancel';

export interface ChannelHost {
  readonly factory: EventFactory;
  readonly clock: MediaClock;
  readonly waiters: Waiters;
  readonly settings: Settings;
  readonly tmpDir: string;
  fire(event: FsEvent): void;
  /** Whether anything (the event log, an 'event' listener, an ESL subscription) may take such an event. */
  observed(name: string, subclass: string | undefined): boolean;
  /** An event nobody takes was fired (not built). */
  unobserved(): void;
  nextSessionId(): number;
  channelGone(channel: EmulatedChannel): void;
  changed(): void;
}

export interface CallerProfile {
  username?: string;
  dialplan?: string;
  cidName: string;
  cidNum: string;
  origCidName: string;
  origCidNum: string;
  calleeName?: string;
  calleeNum?: string;
  networkAddr?: string;
  ani: string;
  destination: string;
  source: string;
  context: string;
}

export interface ChannelInit {
  uuid: string;
  direction: 'inbound' | 'outbound';
  name: string;
  codec: CodecName;
  profile: CallerProfile;
  /** Values for the `${placeholders}` of the captured variable templates. */
  templateContext: Record<string, string>;
}

export interface FireParts {
  subclass?: string;
  callingKey?: string;
  pre?: Header[];
  post?: Header[];
  body?: string;
}

export type EventMatch = string | ((e: FsEvent) => boolean);

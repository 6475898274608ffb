/**
 * Where one channel is, as its events tell it: running state, call and answer state, whether media is up, the
 * hangup cause and the caller profile's times, rendered as the channel data headers every event carries (the
 * way FreeSWITCH's switch_channel_event_set_data does). A plain record: the channel's answer and hangup
 * sequences move it along, its events read it.
 */
import { profileHeaders, type CallTimes } from './channel-report.ts';
import {
  CODECS,
  type AnswerState,
  type CallState,
  type CallerProfile,
  type ChannelInit,
  type CodecName,
} from './channel-types.ts';
import { epochMicros, type Header } from './event-templates.ts';

export class ChannelState {
  readonly uuid: string;
  readonly direction: 'inbound' | 'outbound';
  readonly name: string;
  readonly codec: CodecName;
  readonly profile: CallerProfile;
  /** Channel-State (CS_EXECUTE while parked). */
  running = 'CS_NEW';
  stateNumber = 0;
  callState: CallState = 'DOWN';
  answerState: AnswerState = 'ringing';
  hitDialplan: boolean;
  /** The caller profile headers appear once the channel left CS_NEW. */
  profileReady = false;
  media = false;
  hangupCause: string | undefined;
  readonly times: CallTimes = { created: 0, answered: 0, progress: 0, progressMedia: 0, hangup: 0 };

  constructor(init: ChannelInit) {
    this.uuid = init.uuid;
    this.direction = init.direction;
    this.name = init.name;
    this.codec = init.codec;
    this.profile = init.profile;
    this.hitDialplan = init.direction === 'inbound';
    this.times.created = epochMicros();
  }

  /** The channel data headers; CHANNEL_HANGUP_COMPLETE carries Hangup-Cause before them (`causeFirst`). */
  data(causeFirst: boolean): Header[] {
    const h: Header[] = [
      ['Channel-State', this.running],
      ['Channel-Call-State', this.callState],
      ['Channel-State-Number', String(this.stateNumber)],
      ['Channel-Name', this.name],
      ['Unique-ID', this.uuid],
      ['Call-Direction', this.direction],
      ['Presence-Call-Direction', this.direction],
      ['Channel-HIT-Dialplan', String(this.hitDialplan)],
      ['Channel-Call-UUID', this.uuid],
      ['Answer-State', this.answerState],
    ];
    if (this.hangupCause && !causeFirst) h.push(['Hangup-Cause', this.hangupCause]);
    if (this.media) {
      const c = CODECS[this.codec];
      h.push(
        ['Channel-Read-Codec-Name', this.codec],
        ['Channel-Read-Codec-Rate', String(c.rate)],
        ['Channel-Read-Codec-Bit-Rate', String(c.bitRate)],
        ['Channel-Write-Codec-Name', this.codec],
        ['Channel-Write-Codec-Rate', String(c.rate)],
        ['Channel-Write-Codec-Bit-Rate', String(c.bitRate)],
      );
    }
    if (this.profileReady) h.push(...profileHeaders(this.direction, this.uuid, this.name, this.profile, this.times));
    return h;
  }
}

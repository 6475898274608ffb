/**
 * A channel's way to an answered call, as captured: ringing (180), early media (183), the answer (with early
 * media first on an unanswered inbound leg), the outbound leg's answer with its caller-id flip, and media
 * coming up (media variables, the CODEC events, joining the media clock).
 */
import { randomInt } from 'node:crypto';
import type { TimerSet } from './async-tools.ts';
import type { EmulatedChannel } from './channel.ts';
import type { ChannelEvents } from './channel-events.ts';
import type { ChannelState } from './channel-state.ts';
import { CODECS, type ChannelHost } from './channel-types.ts';
import { epochMicros } from './event-templates.ts';
import type { FrameListener } from './media-clock.ts';

export interface AnswerParts {
  host: ChannelHost;
  channel: EmulatedChannel;
  state: ChannelState;
  events: ChannelEvents;
  timers: TimerSet;
  /** What joins the media clock once media is up. */
  media: FrameListener;
}

export class ChannelAnswer {
  readonly #host: ChannelHost;
  readonly #channel: EmulatedChannel;
  readonly #state: ChannelState;
  readonly #events: ChannelEvents;
  readonly #timers: TimerSet;
  readonly #media: FrameListener;

  constructor(parts: AnswerParts) {
    this.#host = parts.host;
    this.#channel = parts.channel;
    this.#state = parts.state;
    this.#events = parts.events;
    this.#timers = parts.timers;
    this.#media = parts.media;
  }

  /** Like `uuid_pre_answer`: early media (183). */
  preAnswer(): boolean {
    const state = this.#state;
    if (this.#channel.hungUp) return false;
    if (state.answerState !== 'ringing') return true;
    const inbound = state.direction === 'inbound';
    this.mediaUp(inbound ? 'inbound.media' : 'outbound.answer');
    state.times.progressMedia = epochMicros();
    state.answerState = 'early';
    this.#events.setVar('endpoint_disposition', 'EARLY MEDIA');
    this.#events.fire('CHANNEL_PROGRESS_MEDIA');
    this.#events.setCallState('EARLY');
    if (inbound) this.#events.addTemplate('inbound.answer');
    return true;
  }

  /** Like `uuid_answer` (on an unanswered inbound leg: early media first, then the answer, as captured). */
  answer(): boolean {
    const state = this.#state;
    if (this.#channel.hungUp) return false;
    if (state.answerState === 'answered') return true;
    const inbound = state.direction === 'inbound';
    if (inbound) this.preAnswer();
    else this.mediaUp('outbound.answer');
    state.times.answered = epochMicros();
    state.answerState = 'answered';
    this.#events.fire('CHANNEL_ANSWER');
    this.#events.setCallState('ACTIVE');
    this.#events.setVar('endpoint_disposition', 'ANSWER');
    // The caller's ACK (to-tag, CSeq) is recorded a moment later: the captured CHANNEL_PARK right after the
    // answer does not have it yet, the MEDIA_BUG_START a few ms later does.
    if (inbound) this.#timers.after(1, () => this.#events.addTemplate('inbound.confirmed'));
    this.#host.changed();
    return true;
  }

  /** Answered outbound leg: CHANNEL_ANSWER, then the caller-id flip FreeSWITCH does (CALL_UPDATE). */
  answerOutbound(): void {
    const state = this.#state;
    this.mediaUp('outbound.answer');
    state.times.answered = epochMicros();
    state.answerState = 'answered';
    this.#events.fire('CHANNEL_ANSWER');
    this.#events.setCallState('ACTIVE');
    this.#events.addTemplate('outbound.call_update');
    // Observed: after answer the outbound leg's caller id becomes "Outbound Call" / the destination.
    const p = state.profile;
    p.calleeName = p.origCidName;
    p.calleeNum = p.origCidNum;
    p.cidName = 'Outbound Call';
    p.cidNum = p.destination;
    state.hitDialplan = true;
    this.#events.fire('CALL_UPDATE', { pre: [['Direction', 'RECV']] });
    this.#host.changed();
  }

  /** Call progress (180 Ringing): its time goes into the caller profile. */
  markProgress(): void {
    this.#state.times.progress = epochMicros();
  }

  /** Media negotiated: media variables, then the read and write CODEC events; joins the media clock. */
  mediaUp(phase: 'inbound.media' | 'outbound.answer'): void {
    const state = this.#state;
    if (state.media) return;
    state.media = true;
    const codec = state.codec;
    const c = CODECS[codec];
    // The captured values are another call's: this call's codec, SSRC and port.
    this.#events.addTemplate(phase, {
      rtp_audio_recv_pt: String(c.pt),
      rtp_use_codec_name: codec,
      rtp_use_codec_rate: String(c.rate),
      rtp_last_audio_codec_string: `${codec}@${c.rate}h@20i@1c`,
      read_codec: codec,
      original_read_codec: codec,
      read_rate: String(c.rate),
      original_read_rate: String(c.rate),
      write_codec: codec,
      write_rate: String(c.rate),
      rtp_use_pt: String(c.pt),
      rtp_use_ssrc: String(randomInt(1, 2 ** 31)),
      local_media_port: String(16384 + 2 * randomInt(0, 8000)),
    });
    const rate = String(c.rate);
    const bitRate = String(c.bitRate);
    this.#events.fire('CODEC', {
      callingKey: 'CODEC:read',
      post: [
        ['channel-read-codec-name', codec],
        ['channel-read-codec-rate', rate],
        ['channel-read-codec-bit-rate', bitRate],
      ],
    });
    this.#events.fire('CODEC', { callingKey: 'CODEC:write', post: [['Channel-Write-codec-bit-rate', bitRate]] });
    this.#host.clock.add(this.#media);
  }
}

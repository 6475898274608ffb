/**
 * Builds one channel's collaborators and wires them together: the one place that knows which part talks to
 * which. Built once per channel; nothing here runs per frame or per event.
 */
import { TimerSet } from './async-tools.ts';
import type { EmulatedChannel } from './channel.ts';
import { ChannelAnswer } from './channel-answer.ts';
import { ChannelApps } from './channel-apps.ts';
import { ChannelEvents } from './channel-events.ts';
import { ChannelHangup } from './channel-hangup.ts';
import { ChannelMedia } from './channel-media.ts';
import { ChannelState } from './channel-state.ts';
import { CODECS, type ChannelHost, type ChannelInit } from './channel-types.ts';
import { PlaybackQueue } from './playback.ts';
import { ChannelRecordings } from './recording.ts';
import { Timeline } from './timeline.ts';

export interface ChannelParts {
  state: ChannelState;
  events: ChannelEvents;
  /** Timers owned by the channel (cleared when it is destroyed). */
  timers: TimerSet;
  /** What the caller heard. */
  timeline: Timeline;
  recordings: ChannelRecordings;
  playback: PlaybackQueue;
  media: ChannelMedia;
  apps: ChannelApps;
  answer: ChannelAnswer;
  hangup: ChannelHangup;
}

export function channelParts(channel: EmulatedChannel, host: ChannelHost, init: ChannelInit): ChannelParts {
  const settings = host.settings;
  const state = new ChannelState(init);
  const events = new ChannelEvents(host, state, init.templateContext);
  const timers = new TimerSet();
  const timeline = new Timeline(settings.recordHeardAudio);
  const codecRate = CODECS[init.codec].rate;
  const recordings = new ChannelRecordings({
    fire: (name, parts) => events.fire(name, parts),
    setVar: (name, value) => events.setVar(name, value),
    variable: (name) => events.variable(name),
    rate: () => codecRate,
    played: () => timeline.segments,
    slice8k: (segment, fromMs, ms) => timeline.slice8k(segment, fromMs, ms),
  });
  // The queue's callbacks reach parts built below: they only run once the channel is built.
  const playback = new PlaybackQueue({
    timers,
    timeline,
    playbackStartDelayMs: settings.playbackStartDelayMs,
    breakDelayMs: settings.breakDelayMs,
    broadcastLeadMs: () => (media.talking ? settings.broadcastLeadMs.talking : settings.broadcastLeadMs.silent),
    codecName: () => init.codec,
    alive: () => !hangup.hungUp,
    ensureMedia: () => {
      if (init.direction === 'inbound') answer.preAnswer();
    },
    fire: (name, parts) => events.fire(name, parts),
    setVar: (name, value) => events.setVar(name, value),
    runApp: (app, arg) => apps.run(app, arg),
    changed: () => host.changed(),
  });
  const media = new ChannelMedia({
    host,
    uuid: init.uuid,
    codecRate,
    events,
    timers,
    playback,
    timeline,
    recordings,
  });
  const apps = new ChannelApps(channel, events, playback);
  const answer = new ChannelAnswer({ host, channel, state, events, timers, media });
  const hangup = new ChannelHangup({ host, channel, state, events, timers, media, apps, recordings });
  return { state, events, timers, timeline, recordings, playback, media, apps, answer, hangup };
}

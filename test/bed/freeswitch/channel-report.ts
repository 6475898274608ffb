/**
 * Pure renderers for a channel's caller profile headers (`Caller-*`) and for the CDR-like variables
 * FreeSWITCH adds to CHANNEL_HANGUP_COMPLETE (in the captured order, with this call's values).
 */
import type { CallerProfile, HangupHow } from './channel.ts';
import { q850 } from './causes.ts';
import { fixture, type Header } from './event-templates.ts';

/** µs since the epoch; 0 = did not happen. */
export interface CallTimes {
  created: number;
  answered: number;
  progress: number;
  progressMedia: number;
  hangup: number;
}

export function profileHeaders(
  direction: string,
  uuid: string,
  channelName: string,
  p: CallerProfile,
  t: CallTimes,
): Header[] {
  return [
    ['Caller-Direction', direction],
    ['Caller-Logical-Direction', direction],
    ['Caller-Username', p.username ?? ''],
    ['Caller-Dialplan', p.dialplan ?? ''],
    ['Caller-Caller-ID-Name', p.cidName],
    ['Caller-Caller-ID-Number', p.cidNum],
    ['Caller-Orig-Caller-ID-Name', p.origCidName],
    ['Caller-Orig-Caller-ID-Number', p.origCidNum],
    ['Caller-Callee-ID-Name', p.calleeName ?? ''],
    ['Caller-Callee-ID-Number', p.calleeNum ?? ''],
    ['Caller-Network-Addr', p.networkAddr ?? ''],
    ['Caller-ANI', p.ani],
    ['Caller-Destination-Number', p.destination],
    ['Caller-Unique-ID', uuid],
    ['Caller-Source', p.source],
    ['Caller-Context', p.context],
    ['Caller-Channel-Name', channelName],
    ['Caller-Profile-Index', '1'],
    ['Caller-Profile-Created-Time', String(t.created)],
    ['Caller-Channel-Created-Time', String(t.created)],
    ['Caller-Channel-Answered-Time', String(t.answered)],
    ['Caller-Channel-Progress-Time', String(t.progress)],
    ['Caller-Channel-Progress-Media-Time', String(t.progressMedia)],
    ['Caller-Channel-Hangup-Time', String(t.hangup)],
    ['Caller-Channel-Transfer-Time', '0'],
    ['Caller-Channel-Resurrect-Time', '0'],
    ['Caller-Channel-Bridged-Time', '0'],
    ['Caller-Channel-Last-Hold', '0'],
    ['Caller-Channel-Hold-Accum', '0'],
    ['Caller-Screen-Bit', 'true'],
    ['Caller-Privacy-Hide-Name', 'false'],
    ['Caller-Privacy-Hide-Number', 'false'],
  ];
}

export interface ReportInput {
  how: HangupHow;
  cause: string;
  times: CallTimes;
  profile: CallerProfile;
  digits: string;
  lastApp: string;
  /** RTP packet size (payload + 12) for the byte counters. */
  bytesPerPacket: number;
  packetsOut: number;
}

/** The variables of CHANNEL_HANGUP_COMPLETE (a leg that never got media reports only the first few, as captured). */
export function hangupReport(r: ReportInput): Header[] {
  const t = r.times;
  const p = r.profile;
  const callerId = p.cidName ? `"${p.cidName}" <${p.cidNum}>` : p.cidNum;
  const digits = r.digits || 'none';
  if (!t.answered && !t.progress && !t.progressMedia) {
    const short: Header[] = [
      ['hangup_cause', r.cause],
      ['hangup_cause_q850', String(q850(r.cause))],
      ['digits_dialed', digits],
      ['hold_accum_seconds', '0'],
      ['hold_accum_ms', '0'],
      ['caller_id', callerId],
    ];
    return r.how === 'send_cancel' ? [...short, ...cancelVars()] : short;
  }
  const end = t.hangup;
  const secs = (from: number, to: number) => (from && to ? String(Math.floor(to / 1e6) - Math.floor(from / 1e6)) : '0');
  const msecs = (from: number, to: number) => (from && to ? String(Math.floor((to - from) / 1000)) : '0');
  const usecs = (from: number, to: number) => (from && to ? String(to - from) : '0');
  const mediaStart = t.progressMedia || t.answered;
  const packetsIn = mediaStart ? Math.floor((end - mediaStart) / 20_000) : 0;
  const values: Record<string, string> = {
    hangup_cause: r.cause,
    hangup_cause_q850: String(q850(r.cause)),
    digits_dialed: digits,
    start_stamp: stamp(t.created),
    profile_start_stamp: stamp(t.created),
    answer_stamp: t.answered ? stamp(t.answered) : '',
    progress_media_stamp: t.progressMedia ? stamp(t.progressMedia) : '',
    end_stamp: stamp(end),
    last_app: r.lastApp,
    caller_id: callerId,
    duration: secs(t.created, end),
    billsec: secs(t.answered, end),
    progresssec: secs(t.created, t.progress),
    answersec: secs(t.created, t.answered),
    progress_mediasec: secs(t.created, t.progressMedia),
    flow_billsec: secs(t.created, end),
    mduration: msecs(t.created, end),
    billmsec: msecs(t.answered, end),
    progressmsec: msecs(t.created, t.progress),
    answermsec: msecs(t.created, t.answered),
    progress_mediamsec: msecs(t.created, t.progressMedia),
    flow_billmsec: msecs(t.created, end),
    uduration: usecs(t.created, end),
    billusec: usecs(t.answered, end),
    progressusec: usecs(t.created, t.progress),
    answerusec: usecs(t.created, t.answered),
    progress_mediausec: usecs(t.created, t.progressMedia),
    flow_billusec: usecs(t.created, end),
    rtp_audio_in_raw_bytes: String(packetsIn * r.bytesPerPacket),
    rtp_audio_in_media_bytes: String(packetsIn * r.bytesPerPacket),
    rtp_audio_in_packet_count: String(packetsIn),
    rtp_audio_in_media_packet_count: String(packetsIn),
    rtp_audio_in_dtmf_packet_count: String(r.digits.length * 10),
    rtp_audio_out_raw_bytes: String(r.packetsOut * r.bytesPerPacket),
    rtp_audio_out_media_bytes: String(r.packetsOut * r.bytesPerPacket),
    rtp_audio_out_packet_count: String(r.packetsOut),
    rtp_audio_out_media_packet_count: String(r.packetsOut),
  };
  const moments = {
    start: t.created,
    profile_start: t.created,
    answer: t.answered,
    progress: t.progress,
    progress_media: t.progressMedia,
    end,
  };
  for (const [name, at] of Object.entries(moments)) {
    values[`${name}_epoch`] = String(Math.floor(at / 1e6));
    values[`${name}_uepoch`] = String(at);
  }
  const out: Header[] = [];
  for (const [name, captured] of fixture.vars['hangup.report'] ?? []) {
    // Our own BYE/CANCEL is recorded just before the RTP statistics.
    if (name === 'rtp_audio_in_raw_bytes') {
      if (r.how === 'send_bye') out.push(['sip_hangup_disposition', 'send_bye']);
      if (r.how === 'send_cancel') out.push(...cancelVars());
    }
    out.push([name, values[name] ?? captured]);
    if (name === 'answer_stamp' && t.progress) out.push(['progress_stamp', stamp(t.progress)]);
  }
  return out;
}

function cancelVars(): Header[] {
  return [
    ['sip_hangup_disposition', 'send_cancel'],
    ['sip_invite_failure_status', '487'],
    ['sip_invite_failure_phrase', 'CANCEL'],
  ];
}

/** Local time as FreeSWITCH's *_stamp variables: `YYYY-MM-DD HH:MM:SS`. */
export function stamp(us: number): string {
  const d = new Date(us / 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

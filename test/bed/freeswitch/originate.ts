/**
 * `originate {vars}<dial string> &park()`: argument parsing like mod_commands, then an outbound leg whose fate
 * a test decides (`emulator.onOriginate`), with the event sequences of the originate capture:
 *
 *   CHANNEL_OUTGOING → CS_INIT → CHANNEL_CREATE → CHANNEL_ORIGINATE → CS_ROUTING → CS_CONSUME_MEDIA
 *   → [CHANNEL_PROGRESS → CALLSTATE RINGING] → CODEC ×2 → CHANNEL_ANSWER → CALLSTATE ACTIVE → CALL_UPDATE
 *   → BACKGROUND_JOB `+OK <uuid>` → CS_EXECUTE → EXECUTE park → CHANNEL_PARK
 *
 * Failures end with the hangup sequence and `-ERR <CAUSE>` (BACKGROUND_JOB after HANGUP_COMPLETE for a refusal,
 * right after CHANNEL_HANGUP for NO_ANSWER, as captured).
 *
 * Its parts: the leg's life (here), the dial string (originate-dial.ts) and what a test sees of an originate
 * and decides about it (originate-types.ts).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { parseCause } from './causes.ts';
import { randomTag } from './inbound.ts';
import { separateString } from './fs-args.ts';
import { parseDialString } from './originate-dial.ts';
import type { OriginateContext, OriginateRequest } from './originate-types.ts';

export { parseDialString } from './originate-dial.ts';
export type { OriginateContext, OriginatePlan, OriginateRequest } from './originate-types.ts';

const USAGE =
  '-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n';

const SIP_FOR_CAUSE: Record<string, [number, string]> = {
  USER_BUSY: [486, 'Busy Here'],
  NORMAL_TEMPORARY_FAILURE: [503, 'Service Unavailable'],
  CALL_REJECTED: [603, 'Decline'],
  UNALLOCATED_NUMBER: [404, 'Not Found'],
  NO_ROUTE_DESTINATION: [404, 'Not Found'],
  NO_USER_RESPONSE: [408, 'Request Timeout'],
  SUBSCRIBER_ABSENT: [480, 'Temporarily Unavailable'],
  INVALID_NUMBER_FORMAT: [484, 'Address Incomplete'],
  NORMAL_CIRCUIT_CONGESTION: [503, 'Service Unavailable'],
};

/**
 * Runs `originate <arg>`. `onResult` is called synchronously at the point FreeSWITCH would fire the
 * BACKGROUND_JOB; the returned promise resolves with the same text (the `api` reply).
 */
export function runOriginate(ctx: OriginateContext, arg: string, onResult: (result: string) => void): Promise<string> {
  let settled = false;
  let resolveReply!: (r: string) => void;
  const reply = new Promise<string>((resolve) => (resolveReply = resolve));
  const finish = (result: string) => {
    if (settled) return;
    settled = true;
    onResult(result);
    resolveReply(result);
  };

  const argv = separateString(arg, 7);
  if (argv.length < 2) {
    finish(USAGE);
    return reply;
  }
  const dial = parseDialString(argv[0]!, ctx.settings);
  if (typeof dial === 'string') {
    finish(`-ERR ${dial}\n`);
    return reply;
  }
  const appSpec = argv[1]!;
  const application = appSpec.startsWith('&') ? appSpec.slice(1).replace(/\(.*$/s, '') : appSpec;
  const v = dial.variables;
  const req: OriginateRequest = {
    dialString: dial.dialString,
    variables: v,
    uuid: v['origination_uuid'] || randomUUID(),
    destination: dial.destination,
    application,
    timeoutSec: Number(v['originate_timeout'] ?? argv[6] ?? 60) || 60,
    ignoreEarlyMedia: v['ignore_early_media'] === 'true',
  };
  const plan = ctx.plan(req);
  if (plan.result === 'error') {
    finish(`-ERR ${parseCause(plan.cause) ?? plan.cause}\n`);
    return reply;
  }

  const cidNum = v['origination_caller_id_number'] ?? argv[5] ?? '0000000000';
  const cidName = v['origination_caller_id_name'] ?? argv[4] ?? '';
  const pid = String(randomInt(1000, 99999));
  const ch = ctx.newChannel({
    uuid: req.uuid,
    direction: 'outbound',
    name: dial.channelName,
    codec: (plan.result === 'answer' && plan.codec) || 'PCMU',
    profile: {
      cidName,
      cidNum,
      origCidName: cidName,
      origCidNum: cidNum,
      calleeName: 'Outbound Call',
      calleeNum: dial.destination,
      ani: cidNum,
      destination: dial.destination,
      source: 'src/switch_ivr_originate.c',
      context: 'default',
    },
    templateContext: {
      uuid: req.uuid,
      cid_num: cidNum,
      cid_name: cidName,
      dest: dial.destination,
      dest_host: dial.destHost,
      sip_call_id: randomUUID(),
      from_tag: randomTag(13),
      to_tag: `${pid}SIPpTag011`,
    },
  });

  // The leg comes to life.
  ch.setRunning('CS_NONE', 1, false);
  ch.fire('CHANNEL_OUTGOING');
  ch.setRunning('CS_INIT', 1);
  ch.addTemplate('outbound.create.head');
  for (const [name, value] of Object.entries(v)) ch.setVar(name, value);
  ch.addTemplate('outbound.create.tail');
  ch.setVar('originate_endpoint', dial.endpoint);
  ch.setStateNumber(2);
  ch.fire('CHANNEL_CREATE');
  ch.fire('CHANNEL_ORIGINATE');
  ch.setRunning('CS_ROUTING', 2);
  ch.setRunning('CS_CONSUME_MEDIA', 7);

  const ring = () => {
    if (ch.hungUp || ch.callState !== 'DOWN') return;
    ch.addTemplate('outbound.progress');
    ch.profile.networkAddr = '127.0.0.1';
    ch.markProgress();
    ch.fire('CHANNEL_PROGRESS');
    ch.setCallState('RINGING');
  };
  const connected = () => {
    finish(`+OK ${ch.uuid}\n`);
    ch.setRunning('CS_EXECUTE', 4);
    ch.park();
  };
  let ownHangup = false;
  const refuse = (cause: string, sipStatus?: number) => {
    ownHangup = true;
    const [status, phrase] = sipStatus
      ? [sipStatus, SIP_FOR_CAUSE[cause]?.[1] ?? 'Error']
      : (SIP_FOR_CAUSE[cause] ?? [480, 'Temporarily Unavailable']);
    void ch.terminate(cause, 'recv_refuse', {
      sip: { status, phrase },
      afterComplete: () => finish(`-ERR ${cause}\n`),
    });
  };
  const ringing = (at: number | false | undefined, fallback: number | false) => {
    const when = at === undefined ? fallback : at;
    if (when !== false) ch.schedule(when, ring);
  };

  // originate_timeout: still not connected → CANCEL, NO_ANSWER.
  ch.schedule(req.timeoutSec * 1000, () => {
    if (settled || ch.hungUp) return;
    ownHangup = true;
    void ch.terminate('NO_ANSWER', 'send_cancel', { afterHangup: () => finish('-ERR NO_ANSWER\n') });
  });
  // Killed (uuid_kill, hupall, emulator restart) before it connected: the originate fails with that cause.
  ch.onHangup = () => {
    if (!ownHangup) finish(`-ERR ${ch.hangupCause ?? 'NORMAL_CLEARING'}\n`);
  };

  switch (plan.result) {
    case 'answer': {
      const answerAt = plan.afterMs ?? 50;
      ringing(plan.ringingAfterMs, Math.min(20, answerAt));
      if (plan.earlyMediaAfterMs !== undefined) {
        ch.schedule(plan.earlyMediaAfterMs, () => {
          if (ch.hungUp || settled) return;
          ch.preAnswer();
          if (!req.ignoreEarlyMedia) connected();
        });
      }
      ch.schedule(answerAt, () => {
        if (ch.hungUp) return;
        ch.answerOutbound();
        if (!settled) connected();
        if (plan.hangupAfterMs !== undefined)
          ch.schedule(plan.hangupAfterMs, () => void ch.hangup(plan.hangupCause ?? 'NORMAL_CLEARING'));
      });
      break;
    }
    case 'busy':
      ringing(plan.ringingAfterMs, false);
      ch.schedule(plan.afterMs ?? 20, () => refuse('USER_BUSY'));
      break;
    case 'unreachable':
      ch.schedule(plan.afterMs ?? 20, () => refuse('NORMAL_TEMPORARY_FAILURE'));
      break;
    case 'reject':
      ringing(plan.ringingAfterMs, false);
      ch.schedule(plan.afterMs ?? 20, () => refuse(parseCause(plan.cause) ?? plan.cause, plan.sipStatus));
      break;
    case 'no-answer':
      ringing(plan.ringingAfterMs, 20);
      break;
  }
  return reply;
}

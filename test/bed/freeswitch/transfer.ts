/**
 * Transfers and DTMF towards the far end: `uuid_bridge`, `uuid_deflect` (SIP REFER) and `uuid_send_dtmf`, with
 * the replies and event order of reference/captured/transfer_bridge_b_* / _c_* and dtmf (README.md says which
 * details are modelled from mod_commands.c / mod_sofia rather than captured).
 */
import type { EmulatedChannel } from './channel.ts';
import type { Header } from './event-templates.ts';
import { separateString } from './fs-args.ts';

/** A REFER the emulator received (`uuid_deflect <uuid> <uri>`). */
export interface ReferRequest {
  uuid: string;
  uri: string;
}

/** How the far end answers a REFER (decided by `emulator.onRefer`). */
export interface ReferPlan {
  /** 202 (accepted, NOTIFY sipfrag 200 follows), or a refusal such as 405 / 501. */
  status: number;
  /** Command → result. Default 105 ms for 202 and 9800 ms for a refusal (sofia waits 10 s for a NOTIFY), as captured. */
  replyAfterMs?: number;
}

type Channels = ReadonlyMap<string, EmulatedChannel>;

/**
 * `uuid_bridge <a> <b>` → `+OK <b>` (captured); then, ~20 ms later, B and A leave park, and A fires
 * CHANNEL_BRIDGE with the Bridge-A/B and Other-Leg headers. Either leg hanging up ends the other (no
 * park_after_bridge): CHANNEL_UNBRIDGE on A, then the survivor is hung up NORMAL_CLEARING. The usage and
 * unknown-uuid replies follow mod_commands.c (not captured).
 */
export function uuidBridge(channels: Channels, arg: string): string {
  const argv = separateString(arg, 3);
  if (argv.length < 2) return '-USAGE: <uuid> <other_uuid>\n';
  const a = channels.get(argv[0]!);
  const b = channels.get(argv[1]!);
  if (!a || !b || a.hungUp || b.hungUp) return '-ERR Invalid uuid\n';
  const headers: Header[] = [
    ['Bridge-A-Unique-ID', a.uuid],
    ['Bridge-B-Unique-ID', b.uuid],
    ['Other-Type', 'originatee'],
    ['Other-Leg-Unique-ID', b.uuid],
  ];
  a.bridgedWith = b;
  b.bridgedWith = a;
  a.schedule(20, () => {
    if (a.hungUp || b.hungUp) return;
    b.unpark();
    a.unpark();
    a.setVar('current_application', 'uuid_bridge');
    a.fire('CHANNEL_EXECUTE', { post: [['Application', 'uuid_bridge']] });
    a.fire('CHANNEL_BRIDGE', { post: headers });
  });
  const endsOther = (leg: EmulatedChannel, other: EmulatedChannel) => {
    const previous = leg.onHangup;
    leg.onHangup = () => {
      previous?.();
      if (other.hungUp) return;
      a.fire('CHANNEL_UNBRIDGE', { post: headers });
      void other.kill('NORMAL_CLEARING');
    };
  };
  endsOther(a, b);
  endsOther(b, a);
  return `+OK ${b.uuid}\n`;
}

/**
 * `uuid_deflect <uuid> <uri>`: REFER to the far end. Accepted: `CUSTOM sofia::notify_refer` (sipfrag
 * `SIP/2.0 200 OK`), the leg hung up BLIND_TRANSFER, result `+OK:SIP/2.0 200 OK\r\n\n`. Refused (405, 501):
 * after sofia's 10 s wait the leg is hung up BLIND_TRANSFER anyway and the result is `+OK:no reply`. The
 * reply comes only then, so an `api uuid_deflect` holds the connection that long (captured).
 */
export function runDeflect(
  channels: Channels,
  plan: (req: ReferRequest) => ReferPlan,
  arg: string,
  onResult: (result: string) => void,
): Promise<string> {
  let settled = false;
  let resolve!: (r: string) => void;
  const reply = new Promise<string>((r) => (resolve = r));
  const finish = (result: string) => {
    if (settled) return;
    settled = true;
    onResult(result);
    resolve(result);
  };
  const argv = separateString(arg, 2);
  const ch = argv[0] ? channels.get(argv[0]) : undefined;
  if (argv.length < 2) finish('-USAGE: <uuid> <uri>\n');
  else if (!ch || ch.hungUp) finish('-ERR Cannot locate session!\n');
  if (settled || !ch) return reply;
  const uri = argv[1]!;
  const { status, replyAfterMs } = plan({ uuid: ch.uuid, uri });
  const accepted = status >= 200 && status < 300;
  ch.refers.push({ uri, status });
  // The caller hanging up meanwhile ends sofia's wait.
  const previous = ch.onHangup;
  ch.onHangup = () => {
    previous?.();
    finish('+OK:no reply\n');
  };
  ch.schedule(replyAfterMs ?? (accepted ? 105 : 9800), () => {
    if (ch.hungUp) return;
    const result = accepted ? '+OK:SIP/2.0 200 OK\r\n\n' : '+OK:no reply\n';
    if (accepted) {
      ch.setVar('sip_refer_reply', 'SIP/2.0 200 OK\r\n');
      ch.fire('CUSTOM', {
        subclass: 'sofia::notify_refer',
        callingKey: 'CUSTOM',
        post: [
          ['content-type', 'message/sipfrag'],
          ['event-package', 'refer'],
          ['subscription-substate', 'terminated'],
          ['subscription-reason', 'noresource'],
          ['UniqueID', ch.uuid],
        ],
        body: 'SIP/2.0 200 OK\r\n',
      });
    }
    settled = true; // the hangup below must not report "no reply" for an accepted REFER
    void ch.kill('BLIND_TRANSFER');
    onResult(result);
    resolve(result);
  });
  return reply;
}

/**
 * `uuid_send_dtmf <uuid> <digits>` → `+OK <uuid> sent DTMF <digits>.`; no DTMF event for sent digits (captured).
 * The far end "hears" them: recorded in the channel's `dtmfSent`.
 */
export function uuidSendDtmf(channels: Channels, arg: string): string {
  const argv = separateString(arg, 2);
  if (argv.length < 2 || !argv[1]) return '-USAGE: <uuid> <dtmf_data>\n';
  const ch = channels.get(argv[0]!);
  if (!ch || ch.hungUp) return '-ERR Cannot locate session!\n';
  ch.dtmfSent.push(argv[1]);
  return `+OK ${ch.uuid} sent DTMF ${argv[1]}.\n`;
}

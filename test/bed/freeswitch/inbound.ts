/**
 * An inbound SIP call reaching a dialplan that sets the given variables, optionally answers, then parks —
 * the captured sequence (inbound/stream/play captures): CHANNEL_STATE CS_NEW/CS_INIT → CHANNEL_CREATE →
 * CALLSTATE RINGING → CS_ROUTING → CS_EXECUTE → EXECUTE/EXECUTE_COMPLETE `set` per variable →
 * (EXECUTE answer → CODEC ×2 → PROGRESS_MEDIA → CALLSTATE EARLY → ANSWER → CALLSTATE ACTIVE → EXECUTE_COMPLETE)
 * → EXECUTE park → CHANNEL_PARK.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { ChannelInit, CodecName, EmulatedChannel } from './channel.ts';

export interface InboundCallOptions {
  /** Default 15551230001. */
  callerNumber?: string;
  /** Default `Test Caller`. */
  callerName?: string;
  /** Default 2000. */
  destination?: string;
  /** Channel variables the dialplan sets (one `set` application each, in order), e.g. `{ callbridge: '1' }`. */
  variables?: Record<string, string>;
  /** Default PCMU. L16 and G722 run at 16 kHz. */
  codec?: CodecName;
  /** The dialplan answers before parking. Default true; false leaves the call ringing (Answer-State ringing). */
  answer?: boolean;
  /** Default: a random UUID. */
  uuid?: string;
  /** Dialplan context. Default `public`. */
  context?: string;
}

export function inboundChannelInit(opts: InboundCallOptions): ChannelInit {
  const uuid = opts.uuid ?? randomUUID();
  const cidNum = opts.callerNumber ?? '15551230001';
  const cidName = opts.callerName ?? 'Test Caller';
  const dest = opts.destination ?? '2000';
  const pid = String(randomInt(1000, 99999));
  return {
    uuid,
    direction: 'inbound',
    name: `sofia/external/${cidNum}@127.0.0.1:5070`,
    codec: opts.codec ?? 'PCMU',
    profile: {
      username: cidNum,
      dialplan: 'XML',
      cidName,
      cidNum,
      origCidName: cidName,
      origCidNum: cidNum,
      networkAddr: '127.0.0.1',
      ani: cidNum,
      destination: dest,
      source: 'mod_sofia',
      context: opts.context ?? 'public',
    },
    templateContext: {
      uuid,
      cid_num: cidNum,
      cid_name: cidName,
      dest,
      sip_pid: pid,
      sip_call_id: `1-${pid}@127.0.0.1`,
      from_tag: `${pid}SIPpTag001`,
      to_tag: randomTag(13),
    },
  };
}

export function runInboundDialplan(ch: EmulatedChannel, opts: InboundCallOptions): void {
  ch.setRunning('CS_NEW', 0);
  ch.setRunning('CS_INIT', 1);
  ch.addTemplate('inbound.create');
  ch.setStateNumber(2);
  ch.fire('CHANNEL_CREATE');
  ch.setRunning('CS_ROUTING', 2, false);
  ch.setCallState('RINGING');
  ch.fire('CHANNEL_STATE');
  ch.setRunning('CS_EXECUTE', 4);
  ch.addTemplate('inbound.dialplan');
  for (const [name, value] of Object.entries(opts.variables ?? {})) {
    ch.runDialplanApp('set', `${name}=${value}`, () => ch.setVar(name, value));
  }
  if (opts.answer ?? true) ch.runDialplanApp('answer', '', () => ch.answer());
  ch.park();
}

export function randomTag(length: number): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let tag = '';
  for (let i = 0; i < length; i++) tag += chars[randomInt(chars.length)];
  return tag;
}

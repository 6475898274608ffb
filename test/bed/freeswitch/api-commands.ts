/**
 * The API commands (`api <cmd> <args>` / `bgapi`), with the reply bodies FreeSWITCH 1.10.12 writes, trailing
 * newline included. Captured replies are exact; the others follow mod_commands / mod_audio_stream sources
 * (listed in README.md).
 */
import { randomUUID } from 'node:crypto';
import { validStreamUrl, type StreamMix } from './audio-stream.ts';
import { CODECS, type EmulatedChannel } from './channel.ts';
import { parseCause } from './causes.ts';
import { fixture } from './event-templates.ts';
import { jsonValue } from './esl-wire.ts';
import { separateString } from './fs-args.ts';
import { RECORD_USAGE } from './recording.ts';
import { uuidBridge, uuidSendDtmf } from './transfer.ts';

export interface ApiContext {
  channels: ReadonlyMap<string, EmulatedChannel>;
  /** performance.now() when this FreeSWITCH "booted". */
  bootAt: number;
  sessionsSinceBoot: number;
  peakSessions: number;
  originate(arg: string, onResult: (result: string) => void): Promise<string>;
  /** `uuid_deflect`: its reply waits for the REFER's outcome (transfer.ts). */
  deflect(arg: string, onResult: (result: string) => void): Promise<string>;
}

const STREAM_USAGE =
  '-USAGE: <uuid> [start | stop | send_text | pause | resume | graceful-shutdown ] [wss-url | path] [mono | mixed | stereo] [8000 | 16000] [metadata]\n';
const NO_SUCH_CHANNEL = '-ERR No such channel!\n';
export const VERSION = 'FreeSWITCH Version 1.10.12-release~64bit (-release 64bit)';

/**
 * Runs one API command; resolves with the reply body. `onResult` (bgapi) is called with the same body, for
 * originate at the moment FreeSWITCH fires the BACKGROUND_JOB.
 */
export async function runApi(
  ctx: ApiContext,
  command: string,
  arg: string,
  onResult?: (result: string) => void,
): Promise<string> {
  if (command === 'originate') return ctx.originate(arg, onResult ?? (() => {}));
  if (command === 'uuid_deflect') return ctx.deflect(arg, onResult ?? (() => {}));
  const result = withDefaultReply(command, runSync(ctx, command, arg));
  onResult?.(result);
  return result;
}

/** mod_event_socket: an unknown command and an empty reply have their own texts. */
function withDefaultReply(command: string, body: string | undefined): string {
  if (body === undefined) return `-ERR ${command} Command not found!\n`;
  return body === '' ? '-ERR no reply\n' : body;
}

function runSync(ctx: ApiContext, command: string, arg: string): string | undefined {
  const channel = (uuid: string | undefined) => (uuid ? ctx.channels.get(uuid) : undefined);
  switch (command) {
    case 'uuid_audio_stream':
      return audioStream(ctx, arg);
    case 'uuid_answer':
    case 'uuid_pre_answer': {
      const [uuid] = separateString(arg, 2);
      if (!uuid) return `-USAGE: <uuid>\n`;
      const ch = channel(uuid);
      if (!ch) return NO_SUCH_CHANNEL;
      const ok = command === 'uuid_answer' ? ch.answer() : ch.preAnswer();
      return ok ? '+OK\n' : '-ERR Failed\n';
    }
    case 'uuid_broadcast': {
      const argv = separateString(arg, 4);
      if (argv.length < 2) return '-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n';
      // FreeSWITCH queues the message without checking the uuid: the reply is the same either way.
      channel(argv[0])?.broadcast(argv[1]!, argv[2] ?? 'aleg');
      return '+OK Message sent\n';
    }
    case 'uuid_break': {
      const argv = separateString(arg, 3);
      if (!argv[0]) return '-USAGE: <uuid> [all]\n';
      const ch = channel(argv[0]);
      if (!ch) return NO_SUCH_CHANNEL;
      ch.breakPlayback(argv[1] === 'all');
      return '+OK\n';
    }
    case 'uuid_bridge':
      return uuidBridge(ctx.channels, arg);
    case 'uuid_send_dtmf':
      return uuidSendDtmf(ctx.channels, arg);
    case 'uuid_kill': {
      const argv = separateString(arg, 3);
      if (!argv[0]) return '-USAGE: <uuid> [cause]\n';
      const ch = channel(argv[0]);
      if (!ch || ch.hungUp) return NO_SUCH_CHANNEL;
      void ch.kill(argv[1] ?? '');
      return '+OK\n';
    }
    case 'uuid_setvar': {
      const argv = separateString(arg, 3);
      if (argv.length < 2) return '-USAGE: <uuid> <var> [value]\n';
      const ch = channel(argv[0]);
      if (!ch) return NO_SUCH_CHANNEL;
      if (!argv[1]) return '-ERR No variable specified\n';
      ch.setVar(argv[1], argv[2]);
      return '+OK\n';
    }
    case 'uuid_setvar_multi': {
      const argv = separateString(arg, 2);
      if (argv.length < 2) return '-USAGE: <uuid> <var>=<value>;<var>=<value>...\n';
      const ch = channel(argv[0]);
      if (!ch) return NO_SUCH_CHANNEL;
      for (const pair of argv[1]!.split(';')) {
        const eq = pair.indexOf('=');
        if (eq > 0) ch.setVar(pair.slice(0, eq), pair.slice(eq + 1));
        else if (pair) ch.setVar(pair, undefined);
      }
      return '+OK\n';
    }
    case 'uuid_getvar': {
      const argv = separateString(arg, 2);
      if (argv.length < 2) return '-USAGE: <uuid> <var>\n';
      const ch = channel(argv[0]);
      if (!ch) return NO_SUCH_CHANNEL;
      return ch.variables.get(argv[1]!) ?? '_undef_';
    }
    case 'uuid_record': {
      const argv = separateString(arg, 4);
      if (argv.length < 3) return RECORD_USAGE;
      const ch = channel(argv[0]);
      if (!ch || ch.hungUp) return '-ERR Cannot locate session!\n';
      if (argv[1] === 'start') return ch.recordings.start(argv[2]!);
      if (argv[1] === 'stop') return ch.recordings.stop(argv[2]!);
      return RECORD_USAGE;
    }
    case 'uuid_exists':
      return channel(arg.trim()) ? 'true' : 'false';
    case 'uuid_dump':
      return uuidDump(channel(separateString(arg, 3)[0]), separateString(arg, 3)[1]);
    case 'create_uuid':
      return randomUUID();
    case 'version':
      return `${VERSION}\n`;
    case 'status':
      return status(ctx);
    case 'show':
      return show(ctx, arg.trim());
    case 'hupall': {
      const cause = parseCause(separateString(arg, 3)[0] ?? '') ?? 'NORMAL_CLEARING';
      for (const ch of ctx.channels.values()) void ch.kill(cause);
      return `+OK hangup all channels with cause ${cause}\n`;
    }
    case 'echo':
      return arg;
    default:
      return undefined;
  }
}

/** mod_audio_stream's API function (error replies as captured in reference/captured/modes.timeline.log). */
function audioStream(ctx: ApiContext, arg: string): string {
  const argv = separateString(arg, 6);
  if (!arg.trim() || argv.length < 2 || (argv[1] === 'start' && argv.length < 4)) return STREAM_USAGE;
  const ch = ctx.channels.get(argv[0]!);
  if (!ch || ch.hungUp) return '-ERR Operation Failed\n';
  let ok = false;
  switch (argv[1]!.toLowerCase()) {
    case 'stop':
      ok = ch.stopAudioStream(argv[2]);
      break;
    case 'pause':
    case 'resume':
      ok = ch.pauseAudioStream(argv[1]!.toLowerCase() === 'pause');
      break;
    case 'send_text':
      if (argv.length < 3) return ''; // logged, nothing written: "-ERR no reply"
      ok = ch.streamSendText(argv[2]!);
      break;
    case 'start': {
      const mix = argv[3]!;
      if (mix !== 'mono' && mix !== 'mixed' && mix !== 'stereo') return ''; // "invalid mix type": nothing written
      const rateArg = argv[4];
      const rate =
        rateArg === undefined
          ? 8000
          : rateArg === '16k'
            ? 16000
            : rateArg === '8k'
              ? 8000
              : Number.parseInt(rateArg, 10) || 0;
      if (validStreamUrl(argv[2]!) && rate > 0 && rate % 8000 === 0) {
        ok = ch.startAudioStream({ url: argv[2]!, mix: mix as StreamMix, rate, metadata: argv[5] });
      }
      break;
    }
    default:
      break;
  }
  return ok ? '+OK Success\n' : '-ERR Operation Failed\n';
}

function status(ctx: ApiContext): string {
  const up = performance.now() - ctx.bootAt;
  let rest = Math.floor(up);
  const ms = rest % 1000;
  rest = Math.floor(rest / 1000);
  const s = rest % 60;
  rest = Math.floor(rest / 60);
  const m = rest % 60;
  rest = Math.floor(rest / 60);
  const h = rest % 24;
  const d = Math.floor(rest / 24);
  const count = ctx.channels.size;
  return (
    `UP 0 years, ${d} days, ${h} hours, ${m} minutes, ${s} seconds, ${ms} milliseconds, 0 microseconds\n` +
    `FreeSWITCH (Version 1.10.12-release 64bit) is ready\n` +
    `${ctx.sessionsSinceBoot} session(s) since startup\n` +
    `${count} session(s) - peak ${ctx.peakSessions}, last 5min ${ctx.peakSessions} \n` +
    `0 session(s) per Sec out of max 30, peak 1, last 5min 1 \n` +
    `1000 session(s) max\n` +
    `min idle cpu 0.00/99.00\n` +
    `Current Stack Size/Max 240K/8192K\n`
  );
}

const SHOW_COLUMNS =
  'uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,application,application_data,dialplan,context,read_codec,read_rate,read_bit_rate,write_codec,write_rate,write_bit_rate,secure,hostname,presence_id,presence_data,accountcode,callstate,callee_name,callee_num,callee_direction,call_uuid,sent_callee_name,sent_callee_num,initial_cid_name,initial_cid_num,initial_ip_addr,initial_dest,initial_dialplan,initial_context'.split(
    ',',
  );

/**
 * `show channels [count | like <text>] [as json]` / `show calls`. JSON as captured (resync): rows without a
 * trailing LF, no rows → `{"row_count": 0}` with a space and a LF; `count` → `\n<n> total.\n`. `like` matches
 * the row's uuid, name, cid_name, cid_num, presence_data and accountcode (mod_commands.c's query; captured:
 * a cid or uuid prefix matches, the destination and channel variables do not).
 */
function show(ctx: ApiContext, what: string): string | undefined {
  const m = /^(channels|calls)(?:\s+(count)|\s+like\s+(\S+))?(?:\s+as\s+(json))?$/i.exec(what);
  if (!m)
    return `-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like <match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n`;
  const like = m[3];
  const rows = [...ctx.channels.values()]
    .filter((c) => !c.destroyed)
    .map((c) => {
      // Every column, in the captured order (38 string fields).
      const r = channelRow(c);
      return Object.fromEntries(SHOW_COLUMNS.map((k) => [k, r[k] ?? '']));
    })
    .filter((r) => !like || LIKE_FIELDS.some((f) => (r[f] ?? '').includes(like)));
  if (m[2]) return `\n${rows.length} total.\n`;
  if (m[4]) return rows.length ? JSON.stringify({ row_count: rows.length, rows }) : '{"row_count": 0}\n';
  if (!rows.length) return '\n0 total.\n';
  const lines = rows.map((r) => SHOW_COLUMNS.map((c) => r[c] ?? '').join(','));
  return `${SHOW_COLUMNS.join(',')}\n${lines.join('\n')}\n\n${rows.length} total.\n`;
}

const LIKE_FIELDS = ['uuid', 'name', 'cid_name', 'cid_num', 'presence_data', 'accountcode'];

/**
 * `uuid_dump <uuid> [json]`: json as captured (resync: one flat object, Event-Name CHANNEL_DATA, every variable,
 * array variables as JSON arrays, no trailing LF); the default text form is modelled on switch_event_serialize
 * (`Name: url-encoded value` lines). Unknown uuid → `-ERR No such channel!`.
 */
function uuidDump(ch: EmulatedChannel | undefined, format: string | undefined): string {
  if (!ch || ch.destroyed) return NO_SUCH_CHANNEL;
  const event = ch.dump();
  if (format === 'json') {
    const obj: Record<string, string | string[]> = {};
    for (const [k, v] of event.headers) obj[k] = k.startsWith('variable_') ? jsonValue(v) : v;
    return JSON.stringify(obj);
  }
  return event.headers.map(([k, v]) => `${k}: ${encodeURIComponent(v)}\n`).join('');
}

function channelRow(ch: EmulatedChannel): Record<string, string> {
  const created = new Date(ch.createdMicros / 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const media = ch.answerState === 'early' || ch.answerState === 'answered';
  const c = CODECS[ch.codec];
  const pr = ch.profile;
  return {
    uuid: ch.uuid,
    direction: ch.direction,
    created: `${created.getFullYear()}-${p(created.getMonth() + 1)}-${p(created.getDate())} ${p(created.getHours())}:${p(created.getMinutes())}:${p(created.getSeconds())}`,
    created_epoch: String(Math.floor(ch.createdMicros / 1e6)),
    name: ch.name,
    state: ch.state,
    cid_name: pr.cidName,
    cid_num: pr.cidNum,
    ip_addr: pr.networkAddr ?? '',
    dest: pr.destination,
    application: ch.variables.get('current_application') ?? '',
    application_data: ch.variables.get('current_application_data') ?? '',
    dialplan: pr.dialplan ?? 'xml',
    context: pr.context,
    read_codec: media ? ch.codec : '',
    read_rate: media ? String(c.rate) : '',
    read_bit_rate: media ? String(c.bitRate) : '',
    write_codec: media ? ch.codec : '',
    write_rate: media ? String(c.rate) : '',
    write_bit_rate: media ? String(c.bitRate) : '',
    hostname: fixture.core['FreeSWITCH-Hostname'] ?? '',
    callstate: ch.callState,
    callee_name: pr.calleeName ?? '',
    callee_num: pr.calleeNum ?? '',
    callee_direction: ch.direction === 'outbound' ? 'RECV' : '',
    call_uuid: '', // empty for a parked leg (captured: resync)
    initial_cid_name: pr.origCidName,
    initial_cid_num: pr.origCidNum,
    initial_ip_addr: pr.networkAddr ?? '',
    initial_dest: pr.destination,
    initial_dialplan: pr.dialplan ?? 'xml',
    initial_context: pr.context,
  };
}

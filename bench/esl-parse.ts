/**
 * ESL event parse cost: the events FreeSWITCH sends for every playback chunk (PLAYBACK_START and
 * CHANNEL_EXECUTE_COMPLETE of `playback`, each with all ~85 channel variables, as captured from FreeSWITCH
 * 1.10.12 in test/bed/freeswitch/fixtures/captured.json) framed as `event json` sends them, fed in 64 KiB
 * socket reads through what callbridge runs on them: the frame parser, the event decoding and toCallEvent.
 * CHANNEL_PARK (once per call, all of it read) is measured alongside.
 *
 *   node bench/esl-parse.ts [--events 200000]
 *
 * Prints µs of CPU per event and bytes per event.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EslFrameParser } from '../src/freeswitch/esl-frames.ts';
import { eventFromJsonText, toCallEvent } from '../src/freeswitch/events.ts';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '200000' } } });
const total = Number(args.events);

interface Sample {
  headers: Record<string, string>;
}
const captured = JSON.parse(
  readFileSync(new URL('../test/bed/freeswitch/fixtures/captured.json', import.meta.url), 'utf8'),
) as { samples: Record<string, Sample> };
const uuid = captured.samples.PLAYBACK_START!.headers['Unique-ID']!;
const file = captured.samples.PLAYBACK_START!.headers['Playback-File-Path']!;
const start = captured.samples.PLAYBACK_START!.headers;
// The captured EXECUTE_COMPLETE is of another app: the same channel's playback one carries the same variables.
const complete = {
  ...captured.samples.CHANNEL_EXECUTE_COMPLETE!.headers,
  ...Object.fromEntries(Object.entries(start).filter(([k]) => k.startsWith('variable_'))),
  'Unique-ID': uuid,
  Application: 'playback',
  'Application-Data': file,
  'Application-Response': 'FILE PLAYED',
};

function frame(headers: Record<string, string>): Buffer {
  const json = JSON.stringify(headers);
  return Buffer.from(`Content-Length: ${Buffer.byteLength(json)}\nContent-Type: text/event-json\n\n${json}`);
}

function measure(name: string, frames: Buffer[], check: (e: ReturnType<typeof toCallEvent>) => boolean): void {
  const one = Buffer.concat(frames);
  const copies = Math.max(1, Math.floor((4 * 1024 * 1024) / one.length));
  const stream = Buffer.concat(Array.from({ length: copies }, () => one));
  const perPass = copies * frames.length;
  const run = (events: number) => {
    const parser = new EslFrameParser();
    let seen = 0;
    let bad = 0;
    while (seen < events) {
      for (let off = 0; off < stream.length && seen < events; off += 65536) {
        for (const f of parser.push(stream.subarray(off, off + 65536))) {
          seen++;
          if (!check(toCallEvent(eventFromJsonText(f.body)))) bad++;
        }
      }
    }
    if (bad > 0) throw new Error(`${name}: ${bad} events decoded wrong`);
    return seen;
  };
  run(Math.min(total, 20000)); // warm up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const n = run(total);
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  console.log(
    `${name.padEnd(44)} ${(((cpu.user + cpu.system) / n) * 1).toFixed(2).padStart(6)} µs CPU/event  ` +
      `${((wall * 1000) / n).toFixed(2).padStart(6)} µs wall/event  ${Math.round(one.length / frames.length)} bytes/event  (${n} events, ${perPass} per pass)`,
  );
}

console.log(`Node ${process.version}; ${total} events per line`);
measure('playback chunk: PLAYBACK_START + EXECUTE_COMPLETE', [frame(start), frame(complete)], (e) =>
  e?.type === 'playback-start'
    ? e.path === file && e.uuid === uuid
    : e?.type === 'execute-complete' && e.app === 'playback' && e.appData === file,
);
const park = captured.samples.CHANNEL_PARK!.headers;
measure('CHANNEL_PARK + channel variables read', [frame(park)], (e) => {
  if (e?.type !== 'park') return false;
  const c = e.channel;
  return (
    c.uuid === park['Unique-ID'] &&
    c.callerNumber === park['Caller-Caller-ID-Number'] &&
    c.variable('sofia_profile_name') === park.variable_sofia_profile_name &&
    c.variable('sip_call_id') === park.variable_sip_call_id
  );
});

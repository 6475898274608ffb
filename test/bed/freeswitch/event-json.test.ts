/**
 * The emulator serializes `event json` from cached pieces (a channel's variables once per change, the other
 * headers reused per channel and kind of event) and does not build events nobody takes. What callbridge reads
 * must not change for it: the same bytes as serializing each whole event, variables in FreeSWITCH's order, and
 * Event-Sequence numbers that count every event fired.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { eventAsJson, jsonValue } from './esl-wire.ts';
import type { FsEvent } from './event-templates.ts';
import { type EmulatedChannel, type EmulatorOptions, FreeSwitchEmulator } from './index.ts';
import { RawEslClient } from './raw-esl-client.ts';

/** `event json` as the emulator wrote it before the caching: one object of every header, stringified whole. */
function wholeEventJson(event: FsEvent): string {
  const obj: Record<string, string | string[]> = {};
  for (const [k, v] of event.headers) obj[k] = k.startsWith('variable_') ? jsonValue(v) : v;
  if (event.body !== undefined) {
    obj['Content-Length'] = String(Buffer.byteLength(event.body));
    obj['_body'] = event.body;
  }
  const json = JSON.stringify(obj);
  return `Content-Length: ${Buffer.byteLength(json)}\nContent-Type: text/event-json\n\n${json}`;
}

async function start(t: TestContext, options: EmulatorOptions = {}): Promise<FreeSwitchEmulator> {
  const fs = await FreeSwitchEmulator.start(options);
  t.after(() => fs.stop());
  return fs;
}

/** A playback's events, with the variable changes FreeSWITCH makes between them. */
function playbackCycle(ch: EmulatedChannel, i: number): void {
  const file = `/tmp/reply "${i}".PCMU`;
  ch.setVar('current_application_data', i % 5 ? file : undefined);
  ch.setVar('current_application_response', undefined);
  ch.fire('CHANNEL_EXECUTE', {
    post: [
      ['Application', 'playback'],
      ['Application-Data', file],
      ['Application-UUID', `u${i % 3}`],
    ],
  });
  ch.fire('PLAYBACK_START', { post: [['Playback-File-Path', file]] });
  ch.setVar('playback_ms', String(i * 20));
  ch.fire('PLAYBACK_STOP', {
    post: [
      ['Playback-File-Path', file],
      ['Playback-Status', 'done'],
    ],
  });
  ch.setVar('current_application_response', 'FILE PLAYED');
  ch.fire('CHANNEL_EXECUTE_COMPLETE', {
    post:
      i % 7
        ? [
            ['Application', 'playback'],
            ['Application-UUID', 'u'],
          ]
        : [
            ['Application-UUID', 'u'],
            ['Application', 'playback'],
          ],
  });
  ch.fire('CUSTOM', { subclass: 'mod_audio_stream::json', body: `{"n":${i},"text":"é ✓"}`, callingKey: 'CUSTOM' });
}

test('event json: the same bytes as serializing each whole event, whatever the variables did in between', async (t) => {
  const fs = await start(t);
  const events: FsEvent[] = [];
  fs.on('event', (e: FsEvent) => events.push(e));
  const ch = fs.placeInboundCall({
    variables: { callbridge: '1', quoted: 'a "b" \\ c', unicode: 'é\u2028😀', lone: 'x\ud800y', '7digits': 'n' },
  });
  const other = fs.placeInboundCall({ variables: { callbridge: '2' }, codec: 'PCMA' });
  ch.answer();
  other.answer();
  ch.pushVar('list', 'a');
  ch.pushVar('list', 'b');
  for (let i = 0; i < 40; i++) {
    playbackCycle(ch, i);
    playbackCycle(other, i);
    if (i % 9 === 0) ch.setVar([...ch.variables.keys()][i % 20]!, undefined); // a variable leaves the middle
  }
  // Repeated or variable-like names outside the variables: the object's own rules apply.
  ch.fire('PRIVATE_COMMAND', {
    pre: [
      ['Unique-ID', 'again'],
      ['variable_x', 'y'],
      ['123', 'n'],
    ],
  });
  ch.dtmf('1#');
  await ch.hangup();
  await other.hangup();

  assert.ok(events.length > 400, `${events.length} events`);
  for (const e of events)
    assert.equal(
      eventAsJson(e),
      wholeEventJson(e),
      `${e.name} #${e.headers.find(([k]) => k === 'Event-Sequence')?.[1]}`,
    );
});

test("an event's variables are the channel's, in the order FreeSWITCH keeps them (a re-set variable goes last)", async (t) => {
  const fs = await start(t);
  const ch = fs.placeInboundCall({ variables: { callbridge: '1' } });
  ch.answer();
  const names = [...ch.variables.keys()];
  ch.setVar(names[3]!, undefined);
  ch.setVar(names[3]!, 'back');
  ch.setVar(names[10]!, 'changed in place');
  ch.setVar(names[0]!, undefined);
  ch.setVar('fresh', 'new');
  const event = ch.fire('CHANNEL_PARK');
  assert.ok(event);
  const inEvent = event.headers.filter(([k]) => k.startsWith('variable_')).map(([k, v]) => [k.slice(9), v]);
  assert.deepEqual(inEvent, [...ch.variables]);
  assert.deepEqual(inEvent.at(-2), [names[3], 'back']);
});

test('an event nobody takes is not sent but still counts in Event-Sequence', async (t) => {
  const fs = await start(t, { keepEventLog: false });
  const esl = await RawEslClient.connect(fs.eslPort, 'ClueCon');
  t.after(() => esl.close());
  assert.equal(await esl.command('event json CHANNEL_PARK'), '+OK event listener enabled json');
  const ch = fs.placeInboundCall();
  const first = await esl.waitEvent((e) => e['Event-Name'] === 'CHANNEL_PARK' && e['Unique-ID'] === ch.uuid);
  for (let i = 0; i < 3; i++) ch.fire('CHANNEL_EXECUTE', { post: [['Application', 'set']] });
  ch.fire('CHANNEL_PARK');
  const from = esl.events.indexOf(first) + 1;
  const second = await esl.waitEvent((e) => e['Event-Name'] === 'CHANNEL_PARK', 3000, from);
  assert.equal(Number(second['Event-Sequence']) - Number(first['Event-Sequence']), 4);
  assert.deepEqual(
    esl.events.slice(from).map((e) => e['Event-Name']),
    ['CHANNEL_PARK'],
  );
});

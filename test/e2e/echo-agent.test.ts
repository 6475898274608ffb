import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rms } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

const SPEECH = readFileSync(new URL('../fixtures/speech-8k.raw', import.meta.url));
const speech = new Int16Array(SPEECH.buffer, SPEECH.byteOffset, SPEECH.length >> 1);

test('with no API keys the echo agent answers: a chime, then what the caller said after each pause; talking over it interrupts', async (t) => {
  const stack = await startStack({ env: { GOOGLE_API_KEY: '' } });
  t.after(() => stack.stop());
  const { fs, bridge, logs } = stack;
  assert.ok(
    logs.some(
      (l) => l.msg.startsWith('calls are answered by the echo agent') && /no GOOGLE_API_KEY/.test(String(l.source)),
    ),
    'the log says which agent and why',
  );

  const call = fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
  await until(() => call.stream?.connected, 5000, 'stream');
  assert.match(call.stream!.url, /\/stream\//);
  assert.equal(call.stream!.rate, 8000, 'the echo agent takes 8 kHz');
  await until(() => call.heard.length > 0 && call.playbackIdle, 5000, 'chime played');
  const chimeMs = call.heard.reduce((a, s) => a + s.playedMs, 0);
  assert.ok(chimeMs >= 200 && chimeMs <= 300, `chime ${chimeMs} ms`);

  // The caller speaks 3.4 s, then pauses: the echo comes back, about as long as what was said.
  const before = call.heard.length;
  call.say(speech, 8000);
  await until(() => call.heard.length > before && call.playbackIdle, 10000, 'echo played');
  const echoMs = call.heard.slice(before).reduce((a, s) => a + s.playedMs, 0);
  assert.ok(echoMs > 3000 && echoMs < 4400, `echo of ${echoMs} ms for 3.4 s of speech`);
  const echoed = call.heardPcm(before);
  assert.ok(rms(echoed) > 500, 'the echo carries the speech, not silence');
  assert.ok(
    call.heard.slice(before).every((s) => s.path.endsWith('.PCMU')),
    'through the same playout path (native G.711 files)',
  );

  // Speak again and talk over the echo: it is broken off.
  const next = call.heard.length;
  call.say(speech, 8000);
  await until(() => call.heard.length > next && call.playing, 10000, 'second echo playing');
  const brkFrom = fs.commands.length;
  call.say(speech.subarray(0, 8000), 8000);
  await fs.waitForCommand((c) => c.line === `api uuid_break ${call.uuid} all`, 3000, brkFrom);

  const live = bridge.calls.active.get(call.uuid)!;
  assert.equal(live.agentKind, 'echo');
  assert.ok(live.transcript.some((e) => e.speaker === 'agent' && /echo of/.test(e.text)));
  await call.hangup();
  await until(() => bridge.calls.active.size === 0, 3000, 'ended');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tone } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

test('caller digits reach Gemini Live as one text, in the transcript; the call-control routes answer 200/400/404/409', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const base = `http://127.0.0.1:${stack.bridge.http.port}`;
  const post = (path: string, body: unknown) =>
    fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
  const session = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  await until(() => stack.bridge.calls.active.get(call.uuid)?.state === 'active', 3000, 'call active');

  call.dtmf('1234#');
  await until(() => session.texts.some((x) => x.includes('1 2 3 4 #')), 3000, 'the digits reached the model');
  const record = (await (await fetch(`${base}/calls/${call.uuid}`)).json()) as any;
  assert.ok(
    record.transcript.some((e: { text: string }) => e.text === 'DTMF: 1234#'),
    'in the transcript',
  );

  // say: handed to the agent; invalid bodies are 400 in the API's error shape.
  const said = await post(`/calls/${call.uuid}/say`, { text: 'One moment please.' });
  assert.equal(said.status, 200);
  await until(() => session.texts.some((x) => x.includes('One moment please.')), 3000, 'say reached the model');
  const tooLong = await post(`/calls/${call.uuid}/say`, { text: 'x'.repeat(1001) });
  assert.equal(tooLong.status, 400);
  assert.equal(((await tooLong.json()) as any).error.code, 'invalid_request');
  assert.equal((await post(`/calls/${call.uuid}/dtmf`, { digits: '12; uuid_kill' })).status, 400);
  assert.equal((await post(`/calls/${call.uuid}/transfer`, { target: 'sip:a b@host' })).status, 400);
  assert.equal((await post(`/calls/${call.uuid}/dtmf`, { digits: '1w2#' })).status, 200);

  const unknown = '00000000-0000-4000-8000-000000000000';
  for (const route of ['say', 'dtmf', 'transfer']) {
    const body = route === 'say' ? { text: 'hi' } : route === 'dtmf' ? { digits: '1' } : { target: '+15551234567' };
    assert.equal((await post(`/calls/${unknown}/${route}`, body)).status, 404, route);
  }

  await fetch(`${base}/calls/${call.uuid}`, { method: 'DELETE' });
  await until(() => !stack.bridge.calls.active.has(call.uuid), 3000, 'call ended');
  const ended = await post(`/calls/${call.uuid}/say`, { text: 'hello?' });
  assert.equal(ended.status, 409);
  assert.equal(((await ended.json()) as any).error.code, 'call_ended');

  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as any;
  for (const p of ['/calls/{id}/transfer', '/calls/{id}/dtmf', '/calls/{id}/say']) assert.ok(doc.paths[p]?.post, p);
});

test('with DTMF barge-in off, a caller pressing * does not cut the reply (playback_terminators is none)', async (t) => {
  const stack = await startStack({ env: { DTMF_BARGE_IN: 'false' } });
  t.after(() => stack.stop());
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
  const session = await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream connected');
  assert.equal(call.variables.get('playback_terminators'), 'none', 'set before any reply plays');

  // A 2 s reply, sent faster than real time; the caller presses * while it plays.
  await session.sendAudio(tone(700, 2000, 24000), { chunkMs: 40, paceMs: 5 });
  session.generationComplete();
  session.turnComplete();
  await until(() => call.heardMs() >= 300, 5000, 'the reply is playing');
  call.dtmf('*');
  await call.waitPlaybackIdle(8000);
  const heardMs = call.heard.reduce((a, s) => a + s.playedMs, 0);
  assert.ok(heardMs >= 1990, `the whole reply was heard (${heardMs} ms of 2000)`);
  assert.equal(call.variables.get('playback_terminator_used'), undefined, 'no file was stopped by the digit');
});

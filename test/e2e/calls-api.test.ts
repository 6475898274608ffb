import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { signCallback } from '../../src/calls/call-settings.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { twilioSignature } from '../../src/http/twilio.ts';
import { RawEslClient, tone } from '../bed/index.ts';
import { startStack, until, type Stack } from '../support/stack.ts';
import { sse } from '../support/sse.ts';

const TOKEN = 'test-token-0123456789';

/** The session's setup message (nextSession hands the session over before its setup frame arrived). */
async function setupOf(s: { setup?: any }): Promise<any> {
  return until(() => s.setup, 3000, 'setup frame');
}

function api(stack: Stack, token?: string) {
  const base = `http://127.0.0.1:${stack.bridge.http.port}`;
  const headers = (extra: Record<string, string> = {}) => ({
    ...(token && { authorization: `Bearer ${token}` }),
    ...extra,
  });
  return {
    get: (path: string) => fetch(base + path, { headers: headers() }),
    post: (path: string, body: unknown) =>
      fetch(base + path, {
        method: 'POST',
        headers: headers({ 'content-type': 'application/json' }),
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    del: (path: string) => fetch(base + path, { method: 'DELETE', headers: headers() }),
    base,
  };
}

test('POST /calls places a call: registered before originate, state follows, the agent speaks first with the campaign context', async (t) => {
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk', OUTBOUND_CALLER_ID: '+15550001111' } });
  t.after(() => stack.stop());
  stack.fs.onOriginate = () => ({ result: 'answer', afterMs: 150, ringingAfterMs: 30 });
  const http = api(stack);
  const res = await http.post('/calls', {
    to: '+15551234567',
    opening_reason: 'your free trial signup',
    objective: 'book a demo, next week',
  });
  assert.equal(res.status, 202);
  const { id, status, links } = (await res.json()) as { id: string; status: string; links: { events: string } };
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(status, 'dialing');
  const events = sse(http.base + links.events);

  const cmd = await stack.fs.waitForCommand((c) => c.kind === 'bgapi' && c.line.includes('originate'), 2000);
  assert.match(
    cmd.line,
    new RegExp(
      `^bgapi originate \\{origination_uuid=${id},ignore_early_media=true,originate_timeout=45,origination_caller_id_number=\\+15550001111,callbridge=1,`,
    ),
  );
  assert.match(cmd.line, /\}sofia\/gateway\/trunk\/\+15551234567 &park\(\)$/);
  assert.match(cmd.line, /callbridge_opening_reason_b64=[A-Za-z0-9_-]+[,}]/, 'free text only base64url-encoded');
  assert.ok(!cmd.line.includes('free trial'), 'no raw free text on the command line');

  const session = await stack.gemini.nextSession(5000);
  const call = stack.fs.channels.get(id)!;
  await until(() => call.stream?.connected, 3000, 'stream');
  assert.match(
    JSON.stringify(await setupOf(session)),
    /calling about: your free trial signup\..*objective for this call: book a demo, next week/,
  );
  const first = await until(() => session.texts[0], 3000, 'speak-first text');
  assert.match(first, /Introduce yourself and say you are calling about your free trial signup/);

  const rec = (await (await http.get(`/calls/${id}`)).json()) as Record<string, any>;
  assert.equal(rec.status, 'answered');
  assert.equal(rec.direction, 'outbound');
  assert.ok(
    rec.dialedAt <= rec.ringingAt && rec.ringingAt <= rec.answeredAt,
    'dialing → ringing → answered timestamps',
  );

  // A reply with transcripts, then the callee hangs up.
  session.sendInputTranscription('Hello?');
  await session.sendAudio(tone(700, 300, 24000), {
    chunkMs: 40,
    paceMs: 2,
    transcript: 'Hi, this is about your trial',
  });
  session.generationComplete();
  session.turnComplete();
  await until(() => call.heard.length > 0 && call.playbackIdle, 5000, 'reply heard');
  await call.hangup();
  await events.done;

  const kinds = events.events.map((e) => (e.event === 'status' ? `status:${e.data.status}` : e.event));
  assert.equal(kinds[0], 'snapshot');
  assert.ok(kinds.indexOf('status:ringing') < kinds.indexOf('status:answered'), kinds.join(' '));
  assert.ok(
    events.events.some(
      (e) => e.event === 'transcript' && e.data.entry.speaker === 'caller' && e.data.entry.text === 'Hello?',
    ),
    'caller transcript streamed live',
  );
  assert.ok(
    events.events.some((e) => e.event === 'transcript' && e.data.entry.speaker === 'agent' && e.data.entry.final),
    'agent transcript streamed live',
  );
  const last = events.events.filter((e) => e.event === 'status').at(-1)!;
  assert.deepEqual([last.data.status, last.data.hangupCause], ['completed', 'NORMAL_CLEARING']);
  assert.equal(kinds.at(-1), 'end');

  const done = (await (await http.get(`/calls/${id}`)).json()) as { turns: Array<Record<string, number>> };
  assert.equal(done.turns.length, 1, 'one reply, one turn');
  assert.deepEqual(Object.keys(done.turns[0]!).sort(), ['agentAudioMs', 'firstCommandMs', 'playbackStartMs']);
  // Order, not speed: speed is measured by `npm run bench`, not by timed tests on a noisy machine.
  const turn = done.turns[0]!;
  assert.ok(
    turn.agentAudioMs! >= 0 &&
      turn.agentAudioMs! <= turn.firstCommandMs! &&
      turn.firstCommandMs! <= turn.playbackStartMs!,
    JSON.stringify(turn),
  );
  assert.ok(
    events.events.some((e) => e.event === 'turn'),
    'turn timings streamed',
  );
  const transcript = (await (await http.get(`/calls/${id}/transcript`)).json()) as {
    transcript: Array<{ speaker: string; text: string }>;
  };
  assert.deepEqual(
    transcript.transcript.map((e) => [e.speaker, e.text]),
    [
      ['caller', 'Hello?'],
      ['agent', 'Hi, this is about your trial'],
    ],
  );
  // DELETE of an ended call is idempotent.
  const del = await http.del(`/calls/${id}`);
  assert.equal(del.status, 200);
  assert.equal(((await del.json()) as { status: string }).status, 'completed');
});

test('POST /calls takes real-sized instructions (thousands of characters of free text) through to the model', async (t) => {
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk' } });
  t.after(() => stack.stop());
  stack.fs.onOriginate = () => ({ result: 'answer', afterMs: 50 });
  const http = api(stack);
  const instructions =
    'You are Ana from the clinic, calling to confirm tomorrow\'s appointment; be brief & kind, "no" means no.\n'.repeat(
      40,
    );
  assert.ok(instructions.length > 4000);
  const res = await http.post('/calls', { to: '+15551234567', system_instructions: instructions });
  assert.equal(res.status, 202, await res.clone().text());
  const cmd = await stack.fs.waitForCommand((c) => c.kind === 'bgapi' && c.line.includes('originate'), 2000);
  assert.ok(!cmd.line.includes('clinic'), 'no raw free text on the command line');
  const session = await stack.gemini.nextSession(5000);
  assert.ok(
    JSON.stringify(await setupOf(session)).includes(JSON.stringify(instructions).slice(1, -1)),
    'the model got the instructions whole',
  );
});

test('busy, no answer and unreachable end in the mapped state with the raw cause kept', async (t) => {
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk' } });
  t.after(() => stack.stop());
  const http = api(stack);
  const plans: Record<
    string,
    Parameters<typeof stack.fs.onOriginate>[0] extends never ? never : ReturnType<typeof stack.fs.onOriginate>
  > = {
    '+15550000001': { result: 'busy' },
    '+15550000002': { result: 'no-answer' },
    '+15550000003': { result: 'unreachable' },
  };
  stack.fs.onOriginate = (req) => plans[req.destination] ?? { result: 'answer' };
  const ids: string[] = [];
  for (const to of Object.keys(plans))
    ids.push(((await (await http.post('/calls', { to, timeout_seconds: 5 })).json()) as { id: string }).id);
  const expected = [
    ['busy', 'USER_BUSY'],
    ['no-answer', 'NO_ANSWER'],
    ['failed', 'NORMAL_TEMPORARY_FAILURE'],
  ];
  for (const [i, id] of ids.entries()) {
    const rec = await until(
      async () => {
        const r = (await (await http.get(`/calls/${id}`)).json()) as { status: string; hangupCause?: string };
        return ['busy', 'no-answer', 'failed'].includes(r.status) ? r : undefined;
      },
      10000,
      `final state of ${id}`,
    );
    assert.deepEqual([rec.status, rec.hangupCause], expected[i]);
  }
  assert.equal(stack.gemini.sessions.length, 0, 'no agent for calls that never connected');
  const list = (await (await http.get('/calls?status=busy')).json()) as { calls: Array<{ id: string }> };
  assert.deepEqual(
    list.calls.map((c) => c.id),
    [ids[0]],
  );
});

test('every value that would alter the originate command is refused with 400 and nothing reaches FreeSWITCH', async (t) => {
  const stack = await startStack({ env: { DEFAULT_GATEWAY: 'trunk' } });
  t.after(() => stack.stop());
  const http = api(stack);
  const hostile = ['1,callbridge=0', '1}sofia/gateway/x/2 &park', '1 2', "1'2", '1"2', '1\n2', '1&2', '{1'];
  const bodies: Array<Record<string, unknown>> = [];
  for (const bad of hostile) {
    bodies.push(
      { to: bad },
      { to: '+15551234567', from: bad },
      { to: '+15551234567', gateway: `gw${bad}` },
      { to: '+15551234567', caller_name: `a${bad}` },
    );
    bodies.push(
      { to: '+15551234567', voice: `Puck${bad}` },
      { to: '+15551234567', language: `en${bad}` },
      { to: '+15551234567', profile: `p${bad}` },
    );
  }
  bodies.push(
    { to: '+15551234567', pipeline: 'gemini-live,x' },
    { to: '+15551234567', timeout_seconds: 'soon' },
    { to: 5551234567 },
    { to: '+15551234567', unknown_field: 1 },
  );
  const before = stack.fs.commands.length;
  for (const body of bodies) {
    const res = await http.post('/calls', body);
    assert.equal(res.status, 400, `refused ${JSON.stringify(body)}`);
    const err = (await res.json()) as { error: { code: string; details: string[] } };
    assert.equal(err.error.code, 'invalid_request');
    assert.ok(err.error.details.length > 0);
  }
  assert.equal(await (await http.post('/calls', '{"to": ')).status, 400, 'malformed JSON');
  await sleep(100);
  assert.deepEqual(
    stack.fs.commands.slice(before).filter((c) => c.line.includes('originate')),
    [],
    'no originate was sent',
  );

  // Free text with every special character is fine: it travels base64url-encoded.
  const ok = await http.post('/calls', {
    to: '+15551234567',
    system_instructions: 'Say "hi", then }&{ stop;\nnew line',
    greeting: "It's {me}",
  });
  assert.equal(ok.status, 202);
  const cmd = await stack.fs.waitForCommand((c) => c.line.includes('originate'), 2000);
  const block = /\{(.*)\}/.exec(cmd.line)![1]!;
  for (const kv of block.split(',')) assert.match(kv, /^[A-Za-z0-9_]+=[A-Za-z0-9_.:+=-]+$/, kv);
});

test("a user's own originate with the marker is picked up like an inbound call (captured originate sequence)", async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const user = await RawEslClient.connect(stack.fs.eslPort, 'ClueCon');
  t.after(() => user.close());
  stack.fs.onOriginate = () => ({ result: 'answer', afterMs: 80 });
  const reply = await user.bgapi(
    'originate {callbridge=1,callbridge_voice=Charon,origination_caller_id_number=15550002222}sofia/gateway/gw1/15557654321 &park()',
  );
  assert.match(reply, /^\+OK Job-UUID/);
  const session = await stack.gemini.nextSession(5000);
  assert.equal(
    (await setupOf(session)).generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName,
    'Charon',
    'channel variable honoured',
  );
  const [id, live] = [...stack.bridge.calls.active][0]!;
  await until(() => stack.fs.channels.get(id)?.stream?.connected, 3000, 'stream');
  assert.equal(live.record.direction, 'outbound');
  assert.equal(live.record.status, 'answered');
  await until(() => session.texts.length > 0, 3000, 'speaks first on an outbound call');
  // The sequence the emulator replays comes from the originate capture.
  const names = stack.fs.channels.get(id)!.events.map((e) => e.name);
  for (const n of ['CHANNEL_OUTGOING', 'CHANNEL_CREATE', 'CHANNEL_ORIGINATE', 'CHANNEL_ANSWER', 'CHANNEL_PARK'])
    assert.ok(names.includes(n), n);
  await stack.fs.channels.get(id)!.hangup();
  await until(() => stack.bridge.calls.active.size === 0, 3000, 'ended');
});

test('DELETE /calls/:id hangs up a live call; unknown ids are 404', async (t) => {
  const stack = await startStack();
  t.after(() => stack.stop());
  const http = api(stack);
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  await stack.gemini.nextSession(5000);
  await until(() => call.stream?.connected, 3000, 'stream');
  const res = await http.del(`/calls/${call.uuid}`);
  assert.equal(res.status, 200);
  await stack.fs.waitForCommand((c) => c.line === `api uuid_kill ${call.uuid} NORMAL_CLEARING`, 2000);
  await call.waitDestroyed(3000);
  const rec = (await (await http.get(`/calls/${call.uuid}`)).json()) as {
    status: string;
    endReason: string;
    direction: string;
  };
  assert.deepEqual([rec.status, rec.direction], ['completed', 'inbound']);
  assert.match(rec.endReason, /hung up through the API/);
  assert.equal((await http.del('/calls/11111111-2222-3333-4444-555555555555')).status, 404);
  assert.equal((await http.get('/calls/11111111-2222-3333-4444-555555555555')).status, 404);
  assert.equal((await http.get('/calls/not-a-uuid')).status, 400);
});

test('callback URL: answered, timed out, or answering garbage; signed; precedence channel variables > callback > env', async (t) => {
  const received: Array<{ body: any; headers: IncomingMessage['headers'] }> = [];
  let mode: 'ok' | 'slow' | 'garbage' = 'ok';
  let slowAnswered = false;
  const cb = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ body, headers: req.headers });
      if (mode === 'slow') {
        return void setTimeout(() => {
          slowAnswered = true;
          res.end('{}');
        }, 2000);
      }
      res.setHeader('content-type', 'application/json');
      res.end(
        mode === 'garbage'
          ? '{"voice": 42}'
          : JSON.stringify({ system_instructions: 'You are the hotel concierge.', voice: 'Kore', language: 'de-DE' }),
      );
    });
  });
  await new Promise<void>((r) => cb.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => cb.close(() => r())));
  const secret = 'callback-secret-123456';
  const stack = await startStack({
    env: {
      CALLBACK_URL: `http://127.0.0.1:${(cb.address() as AddressInfo).port}/hook`,
      CALLBACK_SECRET: secret,
      CALLBACK_TIMEOUT_MS: '300',
      AGENT_LANGUAGE: 'en-GB',
    },
  });
  t.after(() => stack.stop());

  // Answered: its settings reach Gemini, except what a channel variable overrides.
  const c1 = stack.fs.placeInboundCall({
    variables: { callbridge: '1', callbridge_voice: 'Charon' },
    callerNumber: '15551230001',
    destination: '3000',
  });
  const s1 = await stack.gemini.nextSession(5000);
  const speech = (await setupOf(s1)).generationConfig.speechConfig;
  assert.equal(speech.voiceConfig.prebuiltVoiceConfig.voiceName, 'Charon', 'channel variable beats the callback');
  assert.equal(speech.languageCode, 'de-DE', 'callback beats the environment');
  assert.match(JSON.stringify((await setupOf(s1)).systemInstruction), /hotel concierge/);
  const req = received[0]!;
  const body = JSON.parse(req.body);
  assert.deepEqual([body.call_uuid, body.direction], [c1.uuid, 'inbound']);
  assert.match(body.uri, /^sip:3000/);
  assert.match(body.from, /^sip:15551230001/);
  assert.equal(typeof body.call_id, 'string');
  assert.equal(body.variables.callbridge_voice, 'Charon');
  const ts = Number(req.headers['x-callbridge-timestamp']);
  assert.equal(req.headers['x-callbridge-signature'], signCallback(secret, ts, req.body), 'HMAC signature verifies');

  // Timed out: defaults, a warning, and the call is answered anyway within the bound.
  mode = 'slow';
  stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const s2 = await stack.gemini.nextSession(5000);
  assert.ok(!slowAnswered, 'did not wait for the slow callback');
  assert.equal((await setupOf(s2)).generationConfig.speechConfig.languageCode, 'en-GB', 'environment default');
  assert.ok(
    stack.logs.some(
      (l) => l.msg === 'callback failed; using the defaults' && /no answer within 300 ms/.test(String(l.reason)),
    ),
  );

  // Garbage: defaults and a warning naming the problem.
  mode = 'garbage';
  stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const s3 = await stack.gemini.nextSession(5000);
  assert.equal((await setupOf(s3)).generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName, 'Puck');
  assert.ok(
    stack.logs.some((l) => l.msg === 'callback failed; using the defaults' && /invalid answer/.test(String(l.reason))),
  );
});

test('auth: with API_TOKEN every endpoint but /health needs the bearer token; without it all are open', async (t) => {
  const stack = await startStack({ env: { API_TOKEN: TOKEN } });
  t.after(() => stack.stop());
  const anon = api(stack);
  assert.equal((await anon.get('/health')).status, 200);
  for (const path of ['/calls', '/metrics', '/openapi.json', '/calls/11111111-2222-3333-4444-555555555555']) {
    const r = await anon.get(path);
    assert.equal(r.status, 401, path);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'unauthorized');
  }
  assert.equal((await api(stack, 'wrong-token-0123456789').get('/calls')).status, 401);
  assert.equal((await api(stack, TOKEN).get('/calls')).status, 200);

  const open = await startStack();
  t.after(() => open.stop());
  assert.equal((await api(open).get('/calls')).status, 200);

  assert.throws(
    () => loadConfig({ HTTP_HOST: '0.0.0.0' }),
    (e: Error) => e instanceof ConfigError && /API_TOKEN/.test(e.message),
  );
  assert.equal(loadConfig({ HTTP_HOST: '0.0.0.0', API_TOKEN: TOKEN }).HTTP_HOST, '0.0.0.0');
  assert.equal(loadConfig({ HTTP_HOST: '0.0.0.0', ALLOW_INSECURE_API: 'true' }).HTTP_HOST, '0.0.0.0');
});

test('errors are JSON with a stable shape; 404, 413, 400; OpenAPI is served from the same schemas', async (t) => {
  const stack = await startStack({ env: { MAX_REQUEST_BYTES: '2048', DEFAULT_GATEWAY: 'trunk' } });
  t.after(() => stack.stop());
  const http = api(stack);
  const nf = await http.get('/nope');
  assert.equal(nf.status, 404);
  assert.deepEqual(await nf.json(), { error: { code: 'not_found', message: 'no route for GET /nope' } });
  const big = await http.post('/calls', { to: '+15551234567', system_instructions: 'x'.repeat(5000) });
  assert.equal(big.status, 413);
  assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'body_too_large');
  const bad = await http.get('/calls?limit=abc');
  assert.equal(bad.status, 400);
  const doc = (await (await http.get('/openapi.json')).json()) as {
    openapi: string;
    paths: Record<string, unknown>;
    components: { schemas: Record<string, unknown> };
  };
  assert.equal(doc.openapi, '3.1.0');
  for (const p of ['/health', '/calls', '/calls/{id}', '/calls/{id}/transcript']) assert.ok(doc.paths[p], p);
  assert.ok(doc.components.schemas.NewCall && doc.components.schemas.Call && doc.components.schemas.Error);
  const health = (await (await http.get('/health')).json()) as { esl: string; freeswitch: string; activeCalls: number };
  assert.equal(health.esl, 'connected');
  assert.match(health.freeswitch, /FreeSWITCH Version 1\.10\.12/);
});

test('completed calls and transcripts survive a restart (SQLite history), listed newest first with paging', async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'callbridge-history-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const first = await startStack({ dir, keepDir: true });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const call = first.fs.placeInboundCall({ variables: { callbridge: '1' } });
    const s = await first.gemini.nextSession(5000);
    await until(() => call.stream?.connected, 3000, 'stream');
    s.sendInputTranscription(`question ${i}`);
    s.turnComplete();
    await until(() => first.bridge.calls.active.get(call.uuid)?.transcript.some((e) => e.final), 3000, 'transcript');
    await call.hangup();
    await until(() => first.bridge.calls.active.size === 0, 3000, 'ended');
    ids.push(call.uuid);
    await sleep(5);
  }
  await first.stop();

  const second = await startStack({ dir, keepDir: true });
  t.after(() => second.stop());
  const http = api(second);
  const page1 = (await (await http.get('/calls?limit=2')).json()) as {
    calls: Array<{ id: string; transcript: Array<{ text: string }> }>;
    next: string;
  };
  assert.deepEqual(
    page1.calls.map((c) => c.id),
    [ids[2], ids[1]],
  );
  assert.equal(page1.calls[0]!.transcript[0]!.text, 'question 2');
  const page2 = (await (await http.get(`/calls?limit=2&before=${page1.next}`)).json()) as {
    calls: Array<{ id: string }>;
  };
  assert.deepEqual(
    page2.calls.map((c) => c.id),
    [ids[0]],
  );
  const one = (await (await http.get(`/calls/${ids[0]}`)).json()) as { status: string; hangupCause: string };
  assert.deepEqual([one.status, one.hangupCause], ['completed', 'NORMAL_CLEARING']);

  // Calls created in the same millisecond: paging one at a time still sees each exactly once.
  const template = (await second.bridge.store.get(ids[0]!))!;
  const twins = [
    'aaaaaaaa-0000-4000-8000-000000000001',
    'aaaaaaaa-0000-4000-8000-000000000002',
    'aaaaaaaa-0000-4000-8000-000000000003',
  ];
  for (const id of twins) await second.bridge.store.save({ ...template, id, createdAt: 1000 });
  const seen: string[] = [];
  let cursor = '';
  for (let i = 0; i < 10; i++) {
    const page = (await (await http.get(`/calls?limit=1${cursor && `&before=${cursor}`}`)).json()) as {
      calls: Array<{ id: string }>;
      next?: string;
    };
    seen.push(...page.calls.map((c) => c.id));
    if (!page.next) break;
    cursor = page.next;
  }
  assert.deepEqual(seen, [ids[2], ids[1], ids[0], ...twins.slice().reverse()]);
});

test('POST /twilio/voice answers TwiML that dials FreeSWITCH over SIP; signed requests are checked', async (t) => {
  const stack = await startStack({
    env: {
      TWILIO_SIP_URI: 'sip:callbridge@203.0.113.7:5060',
      TWILIO_SIP_USERNAME: 'twilio',
      TWILIO_SIP_PASSWORD: 's3cret&<',
      TWILIO_AUTH_TOKEN: 'tw-token',
      TWILIO_WEBHOOK_URL: 'https://example.com/twilio/voice',
      API_TOKEN: TOKEN,
    },
  });
  t.after(() => stack.stop());
  const params = { CallSid: 'CA123', From: '+15559876543', To: '+15551234567' };
  const post = (sig: string) =>
    fetch(`http://127.0.0.1:${stack.bridge.http.port}/twilio/voice`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sig },
      body: new URLSearchParams(params).toString(),
    });
  assert.equal((await post('bogus')).status, 401);
  // Same length in characters as a real signature, longer in bytes: still a plain 401, not a crash.
  assert.equal(
    (await post('\u00e9'.repeat(twilioSignature('tw-token', 'https://example.com/twilio/voice', params).length)))
      .status,
    401,
  );
  const res = await post(twilioSignature('tw-token', 'https://example.com/twilio/voice', params));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /text\/xml/);
  const twiml = await res.text();
  assert.equal(
    twiml,
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Dial answerOnBridge="true"><Sip username="twilio" password="s3cret&#38;&#60;">sip:callbridge@203.0.113.7:5060?X-Caller-Number=%2B15559876543&#38;X-Called-Number=%2B15551234567</Sip></Dial></Response>',
  );
});

test('without TWILIO_AUTH_TOKEN the Twilio webhook needs the bearer token: its TwiML carries the SIP password', async (t) => {
  const stack = await startStack({
    env: {
      TWILIO_SIP_URI: 'sip:callbridge@203.0.113.7:5060',
      TWILIO_SIP_USERNAME: 'twilio',
      TWILIO_SIP_PASSWORD: 's3cret',
      API_TOKEN: TOKEN,
    },
  });
  t.after(() => stack.stop());
  const post = (headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${stack.bridge.http.port}/twilio/voice`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: 'CallSid=CA1&From=%2B15559876543',
    });
  const refused = await post({});
  assert.equal(refused.status, 401);
  assert.ok(!(await refused.text()).includes('s3cret'));
  const ok = await post({ authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /password="s3cret"/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CartesiaFake,
  type CartesiaFakeOptions,
  DeepgramFake,
  type DeepgramFakeOptions,
  GeminiTextFake,
  type GeminiTextFakeOptions,
} from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';

const pcm = (file: string) => {
  const b = readFileSync(new URL(`../fixtures/${file}`, import.meta.url));
  return new Int16Array(b.buffer, b.byteOffset, b.length >> 1);
};
const SPEECH = pcm('speech-8k.raw');
const SHORT = SPEECH.subarray(0, 9600); // 1.2 s
const COUGH = pcm('cough-8k.raw');

/** callbridge with the cascade as its pipeline, talking to the Deepgram, Gemini text and Cartesia fakes. */
async function cascadeStack(
  t: { after(fn: () => Promise<void>): void },
  o: {
    dg?: DeepgramFakeOptions;
    gem?: GeminiTextFakeOptions;
    cart?: CartesiaFakeOptions;
    env?: Record<string, string>;
  } = {},
) {
  const [dg, gem, cart] = await Promise.all([
    DeepgramFake.start({ apiKey: 'dg', auto: { transcript: 'Is the bar still open?', latencyMs: 40 }, ...o.dg }),
    GeminiTextFake.start({
      apiKey: 'gk',
      autoReply: 'Yes, until midnight. We also serve snacks.',
      autoFirstTokenDelayMs: 150,
      autoTokenDelayMs: 80,
      ...o.gem,
    }),
    CartesiaFake.start({ apiKey: 'ck', toneHz: 500, ...o.cart }),
  ]);
  const stack = await startStack({
    env: {
      AGENT_PIPELINE: 'cascade',
      GOOGLE_API_KEY: 'gk',
      GEMINI_BASE_URL: gem.baseUrl,
      DEEPGRAM_API_KEY: 'dg',
      DEEPGRAM_BASE_URL: dg.url,
      CARTESIA_API_KEY: 'ck',
      CARTESIA_BASE_URL: cart.baseUrl,
      ...o.env,
    },
  });
  t.after(async () => {
    await stack.stop();
    await Promise.all([dg.stop(), gem.stop(), cart.stop()]);
  });
  return { stack, dg, gem, cart };
}

test('a cascade call: caller audio → transcript → model → speech at the caller, TTS starting before the model finished; history carries over', async (t) => {
  const { stack, gem, cart } = await cascadeStack(t);
  const { fs, bridge } = stack;
  const call = fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
  await until(() => call.stream?.connected, 5000, 'stream');
  assert.equal(call.stream!.rate, 8000, 'the cascade streams at 8 kHz (no resampling anywhere)');

  call.say(SHORT, 8000);
  const req = await gem.nextRequest(8000);
  const firstPlay = await fs.waitForCommand(
    (c) => c.kind === 'sendmsg' && c.headers['execute-app-name'] === 'playback',
    8000,
  );
  await req.done;
  assert.ok(
    firstPlay.at < req.endedAt!,
    `first playback command ${(req.endedAt! - firstPlay.at).toFixed(0)} ms before the model finished`,
  );
  await until(() => call.heard.length > 0 && call.playbackIdle, 10000, 'reply heard');
  const ctx = cart.allContexts()[0]!;
  assert.ok(ctx.transcripts.length >= 2, `TTS fed sentence by sentence: ${JSON.stringify(ctx.transcripts)}`);
  assert.deepEqual(ctx.outputFormat, { container: 'raw', encoding: 'pcm_s16le', sample_rate: 8000 });
  assert.ok(call.heard.every((s) => s.path.endsWith('.PCMU')));
  const heardMs = call.heard.reduce((a, s) => a + s.playedMs, 0);
  assert.ok(Math.abs(heardMs - ctx.audioMs) <= 60, `heard ${heardMs} ms of ${ctx.audioMs} ms synthesized`);

  const live = bridge.calls.active.get(call.uuid)!;
  await until(() => live.record.turns.length === 1, 3000, 'turn timings');
  const turn = live.record.turns[0]!;
  for (const k of ['sttFinalMs', 'llmFirstTokenMs', 'ttsFirstAudioMs', 'firstCommandMs', 'playbackStartMs'])
    assert.ok(k in turn, `${k} in ${JSON.stringify(turn)}`);
  assert.ok(
    turn.sttFinalMs! <= turn.llmFirstTokenMs! &&
      turn.llmFirstTokenMs! <= turn.ttsFirstAudioMs! &&
      turn.ttsFirstAudioMs! <= turn.playbackStartMs!,
  );
  assert.ok(
    stack.logs.some((l) => l.msg === 'turn timings' && l.call === call.uuid),
    'logged per turn at info',
  );

  // A second turn: the model sees the whole conversation so far.
  call.say(SHORT, 8000);
  const req2 = await gem.nextRequest(8000);
  assert.deepEqual(
    req2.turns.map((x) => x.role),
    ['user', 'model', 'user'],
  );
  assert.equal(req2.turns[1]!.text, 'Yes, until midnight. We also serve snacks.');
  assert.deepEqual(
    live.transcript
      .filter((e) => e.final)
      .map((e) => e.speaker)
      .slice(0, 3),
    ['caller', 'agent', 'caller'],
  );
  await call.hangup();
  await until(() => bridge.calls.active.size === 0, 3000, 'ended');
});

test('barge-in during TTS: uuid_break, the Cartesia context and the model stream are cancelled; a cough does not interrupt', async (t) => {
  const { stack, gem, cart } = await cascadeStack(t, {
    // A real STT hears no words in a cough; the fake's automatic mode would transcribe any 120 ms of energy.
    dg: { auto: { transcript: 'Is the bar still open?', latencyMs: 40, minSpeechMs: 300 } },
    gem: {
      autoReply:
        'Let me tell you about our restaurant. It opens at six. The chef cooks local food. We have a terrace with a view. Desserts are made here every day.',
      autoFirstTokenDelayMs: 100,
      autoTokenDelayMs: 600,
    }, // still generating when the caller talks over it
    cart: { msPerChar: 70, toneHz: 500 },
  });
  const { fs } = stack;
  const call = fs.placeInboundCall({ variables: { callbridge: '1' } });
  await until(() => call.stream?.connected, 5000, 'stream');
  call.say(SHORT, 8000);
  const req = await gem.nextRequest(8000);
  await call.waitHeardMs(600, 10000);

  // A cough while the agent talks: no interruption.
  const beforeCough = fs.commands.length;
  call.say(COUGH, 8000);
  await sleep(1300);
  assert.ok(
    !fs.commands.slice(beforeCough).some((c) => c.line.startsWith('api uuid_break')),
    'a cough shorter than the minimum does not interrupt',
  );
  assert.equal(cart.allCancels().length, 0);

  // The caller really talks over the agent.
  const from = fs.commands.length;
  // How much of the caller's speech was still to be said when the break arrived (audio time, not wall time).
  let leftAtBreak: number | undefined;
  const onCommand = (c: { line: string }) => {
    if (leftAtBreak === undefined && c.line === `api uuid_break ${call.uuid} all`) leftAtBreak = call.callerQueuedMs;
  };
  fs.on('command', onCommand);
  call.say(SPEECH, 8000);
  const speechMs = (SPEECH.length / 8000) * 1000;
  const brk = await fs.waitForCommand((c) => c.line === `api uuid_break ${call.uuid} all`, 10_000, from);
  fs.off('command', onCommand);
  assert.ok(leftAtBreak! > 0, 'the agent stopped while the caller was still talking');
  assert.ok(
    speechMs - leftAtBreak! >= 200,
    `not before the VAD minimum of speech: ${(speechMs - leftAtBreak!).toFixed(0)} ms said`,
  );
  await until(() => cart.allCancels().length > 0, 2000, 'Cartesia cancel');
  await req.done;
  assert.equal(req.aborted, true, 'the model stream was aborted');
  await sleep(300);
  const afterBreak = call.heard.filter((s) => s.startedAt > brk.at + 40);
  assert.deepEqual(
    afterBreak.map((s) => s.path),
    [],
    'nothing of the interrupted reply plays after the break',
  );
  // The history keeps the interrupted reply only as far as it was heard.
  const next = await gem.nextRequest(8000);
  const agentTurn = next.turns.find((x) => x.role === 'model')!;
  assert.ok(
    agentTurn.text.length < 'Let me tell you about our restaurant. It opens at six. The chef cooks local food.'.length,
    `kept: "${agentTurn.text}"`,
  );
});

test('a vendor refusing at call start: the call is hung up with the cause logged, never left silent', async (t) => {
  const { stack } = await cascadeStack(t, { dg: { refuse: 'http-503' } });
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  await call.waitDestroyed(15000);
  const ended = stack.logs.find((l) => l.msg === 'call ended' && l.call === call.uuid);
  assert.match(String(ended?.reason), /agent failed to start/);
  assert.ok(stack.fs.commands.some((c) => c.line === `api uuid_kill ${call.uuid} NORMAL_CLEARING`));
});

test('the model failing mid-call: one retry, then a spoken apology and a hangup', async (t) => {
  const { stack, gem } = await cascadeStack(t);
  const err = { status: 500, error: { code: 500, message: 'Internal error', status: 'INTERNAL' } };
  gem.script(err, err);
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  await until(() => call.stream?.connected, 5000, 'stream');
  call.say(SHORT, 8000);
  await call.waitDestroyed(15000);
  assert.equal(gem.requests.length, 2, 'retried once');
  assert.ok(call.heard.reduce((a, s) => a + s.playedMs, 0) > 500, 'the apology was played before hanging up');
  const ended = stack.logs.find((l) => l.msg === 'call ended' && l.call === call.uuid);
  assert.match(String(ended?.reason), /agent hung up/);
});

test('50 cascade calls in a row leave no session, vendor socket, file or timer behind', async (t) => {
  const { stack, dg, gem, cart } = await cascadeStack(t);
  const { fs, bridge } = stack;
  await sleep(200);
  const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const baseline = timeouts();
  for (let i = 0; i < 50; i++) {
    const call = fs.placeInboundCall({ variables: { callbridge: '1' } });
    await until(() => call.stream?.connected, 5000, 'stream');
    if (i % 10 === 0) {
      call.say(SHORT, 8000); // a full turn on every tenth call
      await call.waitHeardMs(200, 10000);
    }
    await call.hangup();
    await call.waitDestroyed(3000);
  }
  await until(() => bridge.calls.active.size === 0, 5000, 'sessions ended');
  await until(() => dg.sessions.every((s) => !s.isOpen), 5000, 'deepgram sockets closed');
  await until(() => cart.sessions.every((s) => !s.isOpen), 5000, 'cartesia sockets closed');
  assert.ok(gem.requests.every((r) => r.completed || r.aborted));
  assert.deepEqual(await stack.playbackFiles(), []);
  assert.equal(bridge.http.media.connections, 0);
  await sleep(1700);
  assert.ok(timeouts() <= baseline + 1, `timers: ${baseline} before, ${timeouts()} after`);
});

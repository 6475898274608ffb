import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import type { Agent, AgentSink } from '../../src/agents/agent.ts';
import { CallBook } from '../../src/calls/call-book.ts';
import { CallSession } from '../../src/calls/call-session.ts';
import type { CallSettings } from '../../src/calls/call-settings.ts';
import type { MediaConnection, MediaSink } from '../../src/calls/media-port.ts';
import type { SessionSettings } from '../../src/calls/session-settings.ts';
import { ChannelControl } from '../../src/freeswitch/channel-control.ts';
import type { EslCommand, SendMsg } from '../../src/freeswitch/commands.ts';
import type { EslClient } from '../../src/freeswitch/esl.ts';
import type { ChannelInfo } from '../../src/freeswitch/events.ts';
import { silentLogger } from '../../src/log.ts';
import type { Resampling } from '../../src/media/resampling/resampling.ts';
import { PaceMemory } from '../../src/playout/arrival-pace.ts';
import { Metrics } from '../../src/metrics.ts';
import { noResumptions } from '../../src/store/call-record.ts';
import { settingsPatch } from '../../src/calls/settings-patch.ts';
import { callTools } from '../../src/calls/tools/tool-table.ts';
import { signCallback } from '../../src/calls/signing.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The ESL side of a channel: records every command as FreeSWITCH would receive it, answers +OK. */
class CommandSink {
  readonly commands: string[] = [];
  /** Playback commands as sent: path and event-uuid, for the events a test answers them with. */
  readonly played: Array<{ path: string; eventUuid: string }> = [];
  async api(command: EslCommand): Promise<string> {
    this.commands.push(command);
    return '+OK';
  }
  async apiOk(command: EslCommand): Promise<string> {
    return this.api(command);
  }
  async sendmsg(msg: SendMsg): Promise<string> {
    const h = (msg as unknown as { headers: Record<string, string> }).headers;
    this.played.push({ path: h['execute-app-arg']!, eventUuid: h['event-uuid']! });
    this.commands.push(`sendmsg ${msg.uuid} ${h['execute-app-name']} ${h['execute-app-arg']}`);
    return '+OK';
  }
  matching(prefix: string): string[] {
    return this.commands.filter((c) => c.startsWith(prefix));
  }
}

/** An agent that records what reaches it and lets the test speak through its sink. */
class FakeAgent implements Agent {
  readonly kind = 'fake';
  readonly inputSampleRate = 8000;
  sink: AgentSink | undefined;
  frames = 0;
  closed = false;
  /** What notify() and say() were given, in order. */
  notes: Array<{ text: string; interrupt: boolean | undefined }> = [];
  said: string[] = [];
  onSay: ((text: string) => void) | undefined;
  notify(text: string, opts?: { interrupt?: boolean }): void {
    this.notes.push({ text, interrupt: opts?.interrupt });
  }
  say(text: string): void {
    this.said.push(text);
    this.onSay?.(text);
  }
  async start(sink: AgentSink): Promise<void> {
    this.sink = sink;
  }
  pushAudio(): void {
    this.frames++;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** mod_audio_stream's WebSocket as the session sees it. */
class FakeMediaSocket implements MediaConnection {
  closedWith: number | undefined;
  sendText(): boolean {
    return this.closedWith === undefined;
  }
  close(code: number): void {
    this.closedWith = code;
  }
}

/** No converter is ever free: replies play at the agent's rate (none is needed at 8 kHz anyway). */
const noResampling: Resampling = { active: 0, open: () => undefined, close: async () => {} };
/** One memory of reply pace for the file's calls, as one callbridge instance has. */
const pace = new PaceMemory();

const settings: CallSettings = { pipeline: 'echo', systemInstructions: 'be brief', voice: 'Puck', language: 'en-US' };

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), what);
}

const dirs: string[] = [];
const sessions: CallSession[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.end('test over')));
});

/** A prompt path as FreeSWITCH would see it (the unit tests never read it). */
const APOLOGY = '/usr/local/freeswitch/sounds/callbridge/apology.wav';

async function newCall(
  opts: { apologyFile?: string | undefined; apologyTimeoutMs?: number; call?: Partial<CallSettings> } = {},
) {
  const dir = await mkdtemp(join(tmpdir(), 'call-session-'));
  dirs.push(dir);
  const uuid = randomUUID();
  const channel: ChannelInfo = {
    uuid,
    direction: 'inbound',
    answered: true,
    callerNumber: '1000',
    callerName: 'caller',
    destination: '2000',
    writeCodec: 'PCMU',
    writeRate: 8000,
    sipCallId: undefined,
    variable: () => undefined,
  };
  const sessionSettings: SessionSettings = {
    stream: { wsUrl: 'ws://127.0.0.1:9', heartbeatSeconds: 10, frameMs: 40, connectTimeoutMs: 2000, closeGraceMs: 10 },
    playout: {
      format: 'auto',
      transport: 'shared-dir',
      method: 'sendmsg',
      dir,
      freeswitchDir: dir,
      dirOnTmpfs: false,
      firstChunkMs: 100,
      chunkMs: 500,
      lowWaterMs: 100,
      maxAheadMs: 1000,
    },
    apology: {
      file: 'apologyFile' in opts ? opts.apologyFile : APOLOGY,
      timeoutMs: opts.apologyTimeoutMs ?? 10_000,
    },
  };
  const esl = new CommandSink();
  const book = new CallBook(undefined, silentLogger());
  const record = book.add({
    id: uuid,
    direction: 'inbound',
    from: '1000',
    to: '2000',
    pipeline: '',
    status: 'answered',
    createdAt: Date.now(),
    answeredAt: Date.now(),
    turns: [],
    transcript: [],
    resumptions: noResumptions(),
  });
  const agent = new FakeAgent();
  const ended: CallSession[] = [];
  const metrics = new Metrics();
  const session = new CallSession(channel, record, {
    metrics,
    settings: sessionSettings,
    control: new ChannelControl(esl as unknown as EslClient, uuid),
    logger: silentLogger(),
    book,
    resolveSettings: async () => ({ ...settings, ...opts.call }),
    createAgent: () => agent,
    resampling: noResampling,
    pace,
    onEnded: (s) => ended.push(s as CallSession),
  });
  sessions.push(session);
  const token = new URL(session.streamUrl).searchParams.get('token')!;
  /** What mod_audio_stream does once asked to stream: open the socket, then report the connect. */
  const connectStream = (): { socket: FakeMediaSocket; sink: MediaSink } => {
    const socket = new FakeMediaSocket();
    const attached = session.attachMedia(token, socket);
    assert.ok(attached.ok, 'media socket accepted');
    session.onEvent({ type: 'stream-connect', uuid, channel });
    return { socket, sink: attached.sink };
  };
  /** Start the call and answer the stream start: an active call with its media socket. */
  const activate = async () => {
    const started = session.start();
    await until('stream start sent', () => esl.matching('uuid_audio_stream').length > 0);
    const media = connectStream();
    await started;
    assert.equal(session.state, 'active');
    return media;
  };
  return { uuid, dir, esl, book, record, agent, session, ended, metrics, connectStream, activate };
}

/** 200 ms of 8 kHz agent audio. */
const reply = () => Buffer.alloc(3200, 1);

test('an answered call sets up the stream and starts it with the call URL at the agent rate', async () => {
  const call = await newCall();
  await call.activate();
  assert.equal(call.esl.matching('uuid_answer').length, 0, 'already answered: no answer command');
  const [setvars] = call.esl.matching(`uuid_setvar_multi ${call.uuid}`);
  assert.ok(setvars, 'stream variables set');
  assert.match(setvars, /STREAM_BUFFER_SIZE=40/);
  assert.deepEqual(call.esl.matching('uuid_audio_stream'), [
    `uuid_audio_stream ${call.uuid} start ${call.session.streamUrl} mono 8k {"call":"${call.uuid}"}`,
  ]);
  assert.equal(call.book.live(call.uuid)?.pipeline, 'echo');
});

test('caller frames reach the agent', async () => {
  const call = await newCall();
  const { sink } = await call.activate();
  for (let i = 0; i < 10; i++) sink.audio(Buffer.alloc(640));
  assert.equal(call.agent.frames, 10);
  assert.equal(call.session.stats.framesIn, 10);
});

test('agent audio becomes playback commands for files in the playback directory', async () => {
  const call = await newCall();
  await call.activate();
  call.agent.sink!.audio(reply(), 8000);
  call.agent.sink!.replyDone();
  await until('a playback command', () => call.esl.matching(`sendmsg ${call.uuid} playback`).length > 0);
  for (const c of call.esl.matching('sendmsg')) assert.ok(c.split(' ')[3]!.startsWith(`${call.dir}/`), c);
  assert.equal(call.session.stats.replies, 1);
});

test('interrupted sends one break and closes the agent utterance', async () => {
  const call = await newCall();
  await call.activate();
  const sink = call.agent.sink!;
  sink.transcript('agent', 'Hello, how can I', false);
  sink.audio(reply(), 8000);
  await until('a playback command', () => call.esl.matching('sendmsg').length > 0);
  sink.interrupted();
  await until('a break', () => call.esl.matching('uuid_break').length > 0);
  assert.deepEqual(call.esl.matching('uuid_break'), [`uuid_break ${call.uuid} all`]);
  assert.equal(call.session.stats.bargeIns, 1);
  assert.deepEqual(
    call.record.transcript.map(({ speaker, text, final }) => ({ speaker, text, final })),
    [{ speaker: 'agent', text: 'Hello, how can I', final: true }],
  );
});

/** FreeSWITCH's events for a played file: PLAYBACK_STOP is not subscribed; its EXECUTE_COMPLETE follows it. */
function completePlayback(call: Awaited<ReturnType<typeof newCall>>, path: string, response = 'FILE PLAYED'): void {
  call.session.onEvent({ type: 'execute-complete', uuid: call.uuid, app: 'playback', appData: path, response });
}

test('agent failure plays the apology prompt, hangs up only once it has played, and records the cause', async () => {
  const call = await newCall();
  await call.activate();
  call.agent.sink!.audio(reply(), 8000);
  await until('a reply chunk playing', () => call.esl.matching('sendmsg').length > 0);
  call.agent.sink!.failed('vendor socket closed');
  await until('the apology commanded', () => call.esl.played.some((p) => p.path === APOLOGY));
  assert.ok(call.esl.matching('uuid_break').length > 0, 'the broken reply is cut before the prompt');
  const breakAt = call.esl.commands.findIndex((c) => c.startsWith('uuid_break'));
  const promptAt = call.esl.commands.indexOf(`sendmsg ${call.uuid} playback ${APOLOGY}`);
  assert.ok(breakAt < promptAt, 'break first, then the prompt');
  // A reply chunk broken by that uuid_break completes too: that is not the prompt.
  const chunk = call.esl.played.find((p) => p.path !== APOLOGY)!;
  completePlayback(call, chunk.path);
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(call.esl.matching('uuid_kill'), [], 'no hangup while the prompt plays');
  assert.equal(call.session.state, 'ending');
  completePlayback(call, APOLOGY);
  await until('call ended', () => call.ended.length === 1);
  assert.deepEqual(call.esl.matching('uuid_kill'), [`uuid_kill ${call.uuid} NORMAL_CLEARING`]);
  assert.equal(call.esl.played.filter((p) => p.path === APOLOGY).length, 1, 'played once');
  assert.equal(call.record.status, 'failed');
  assert.equal(call.record.endReason, 'agent failed: vendor socket closed');
  assert.equal(call.record.hangupCause, 'NORMAL_CLEARING');
  assert.equal(call.session.state, 'ended');
});

test('agent failure with no apology prompt configured hangs up at once', async () => {
  const call = await newCall({ apologyFile: undefined });
  await call.activate();
  call.agent.sink!.failed('model went away');
  await until('call ended', () => call.ended.length === 1);
  assert.equal(call.esl.played.length, 0, 'nothing played');
  assert.deepEqual(call.esl.matching('uuid_kill'), [`uuid_kill ${call.uuid} NORMAL_CLEARING`]);
  assert.equal(call.record.status, 'failed');
  assert.equal(call.record.endReason, 'agent failed: model went away');
});

test('an apology prompt FreeSWITCH cannot play, or that never ends, does not hold the call', async () => {
  const missing = await newCall();
  await missing.activate();
  missing.agent.sink!.failed('boom');
  await until('the apology commanded', () => missing.esl.played.length === 1);
  completePlayback(missing, APOLOGY, 'FILE NOT FOUND');
  await until('call ended', () => missing.ended.length === 1);
  assert.equal(missing.esl.matching('uuid_kill').length, 1);

  const stuck = await newCall({ apologyTimeoutMs: 50 });
  await stuck.activate();
  stuck.agent.sink!.failed('boom');
  await until('call ended after the timeout', () => stuck.ended.length === 1);
  assert.equal(stuck.esl.played.length, 1);
  assert.equal(stuck.esl.matching('uuid_kill').length, 1);
  assert.equal(stuck.record.status, 'failed');
});

test('the caller hanging up during the apology ends the call without a hangup command', async () => {
  const call = await newCall();
  await call.activate();
  call.agent.sink!.failed('boom');
  await until('the apology commanded', () => call.esl.played.length === 1);
  call.session.onEvent({ type: 'hangup', uuid: call.uuid, cause: 'NORMAL_CLEARING', disposition: 'recv_bye' });
  await until('call ended', () => call.ended.length === 1);
  assert.equal(call.esl.matching('uuid_kill').length, 0);
  assert.equal(call.record.status, 'failed');
  assert.equal(call.record.endReason, 'agent failed: boom');
});

test('resumptions are counted on the record, streamed as changes and exported as metrics', async () => {
  const call = await newCall();
  await call.activate();
  const changes: string[] = [];
  call.book.on('change', (_r, c) => changes.push(c.type));
  const sink = call.agent.sink!;
  sink.resumed({ reason: 'goAway', durationMs: 180.4 });
  sink.resumed({ reason: '1011', durationMs: 950 });
  for (let i = 0; i < 12; i++) sink.resumed({ reason: 'drop', durationMs: 10 });
  sink.resumed({ reason: 'a reason with spaces that is no label', durationMs: -5 });
  const r = call.record.resumptions;
  assert.equal(r.count, 15);
  assert.equal(r.totalMs, 180 + 950 + 120);
  assert.equal(r.maxMs, 950);
  assert.equal(r.last.length, 10, 'only the latest are kept');
  const latest = r.last.at(-1)!;
  assert.equal(
    latest.reason,
    'a reason with spaces that is no label',
    'kept in words; only the metric label says other',
  );
  assert.equal(latest.durationMs, 0, 'a negative duration counts as 0');
  assert.equal(changes.filter((t) => t === 'resumption').length, 15);
  const text = await call.metrics.text();
  assert.match(text, /^callbridge_agent_resumptions_total\{reason="goAway"\} 1$/m);
  assert.match(text, /^callbridge_agent_resumptions_total\{reason="drop"\} 12$/m);
  assert.match(text, /^callbridge_agent_resumptions_total\{reason="other"\} 1$/m);
  assert.match(text, /^callbridge_agent_resumption_seconds_count 15$/m);
  assert.equal(call.session.state, 'active', 'a resumption does not disturb the call');
});

test('a media socket closing mid-call restarts the stream once, then hangs up', async () => {
  const call = await newCall();
  const first = await call.activate();
  first.sink.closed(1006, 'gone');
  await until('stream restarted', () => call.esl.matching(`uuid_audio_stream ${call.uuid} start`).length === 2);
  assert.deepEqual(call.esl.matching(`uuid_audio_stream ${call.uuid} stop`), [`uuid_audio_stream ${call.uuid} stop`]);
  const second = call.connectStream();
  assert.equal(call.session.state, 'active', 'the restarted stream carries the call on');
  second.sink.closed(1006, 'gone again');
  await until('call ended', () => call.ended.length === 1);
  assert.equal(call.esl.matching(`uuid_audio_stream ${call.uuid} start`).length, 2, 'no second restart');
  assert.equal(call.esl.matching('uuid_kill').length, 1);
  assert.match(call.record.endReason ?? '', /^media stream lost: media socket closed 1006 gone again/);
});

test('a hangup from FreeSWITCH ends the call without a hangup command', async () => {
  const call = await newCall();
  await call.activate();
  call.session.onEvent({ type: 'hangup', uuid: call.uuid, cause: 'NORMAL_CLEARING', disposition: undefined });
  await until('call ended', () => call.ended.length === 1);
  assert.equal(call.esl.matching('uuid_kill').length, 0);
  assert.equal(call.record.endReason, 'hangup: NORMAL_CLEARING');
});

test('end() releases the agent, the playout files and the media socket, once', async () => {
  const call = await newCall();
  const { socket } = await call.activate();
  call.agent.sink!.transcript('caller', 'goodbye', false);
  call.agent.sink!.audio(reply(), 8000);
  await until('a playback command', () => call.esl.matching('sendmsg').length > 0);
  assert.ok((await readdir(call.dir)).length > 0, 'chunk files written');
  await Promise.all([call.session.end('test ends it'), call.session.end('twice')]);
  assert.equal(call.agent.closed, true);
  assert.deepEqual(await readdir(call.dir), [], 'chunk files removed');
  assert.equal(socket.closedWith, 1000);
  assert.equal(call.ended.length, 1);
  assert.equal(call.record.endReason, 'test ends it');
  assert.equal(call.record.transcript[0]?.final, true, 'open utterance closed');
  const commanded = call.esl.commands.length;
  call.agent.sink!.audio(reply(), 8000);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(call.esl.commands.length, commanded, 'nothing played after the end');
});

// ---- Caller digits and call limits ----

/** The limits tests wait for whole seconds of silence. */
async function untilLong(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check(), what);
}

const DTMF = { interdigitMs: 2000, terminator: '#' as const, bargeIn: true, maxDigits: 32 };
const press = (call: Awaited<ReturnType<typeof newCall>>, digits: string[]) => {
  for (const digit of digits) call.session.onEvent({ type: 'dtmf', uuid: call.uuid, digit });
};

test('caller digits reach the agent as one notice at the terminator, in the transcript and as a dtmf change', async () => {
  const call = await newCall({ call: { dtmf: DTMF } });
  await call.activate();
  const changes: string[] = [];
  call.book.on('change', (_r, c) => changes.push(c.type === 'dtmf' ? `dtmf ${c.digits}` : c.type));
  press(call, ['1', '2', '3']);
  assert.deepEqual(call.agent.notes, [], 'nothing before the collection ends');
  press(call, ['4', '#']);
  assert.deepEqual(call.agent.notes, [{ text: '[The caller pressed 1 2 3 4 #]', interrupt: true }]);
  assert.deepEqual(
    call.record.transcript.map(({ speaker, text, final }) => ({ speaker, text, final })),
    [{ speaker: 'caller', text: 'DTMF: 1234#', final: true }],
  );
  assert.deepEqual(changes, ['transcript', 'dtmf 1234#']);
});

test('without a terminator, digits are collected until the inter-digit timeout', async () => {
  const call = await newCall({ call: { dtmf: { ...DTMF, terminator: '', interdigitMs: 200 } } });
  await call.activate();
  press(call, ['5', '#', '*']);
  assert.deepEqual(call.agent.notes, []);
  await until('the collection ends', () => call.agent.notes.length > 0);
  assert.deepEqual(call.agent.notes, [{ text: '[The caller pressed 5 # *]', interrupt: true }]);
});

test('a digit while the agent speaks breaks the reply off at once (uuid_break); with barge-in off it does not', async () => {
  for (const bargeIn of [true, false]) {
    const call = await newCall({ call: { dtmf: { ...DTMF, bargeIn } } });
    await call.activate();
    call.agent.sink!.audio(reply(), 8000);
    await until('a playback command', () => call.esl.matching('sendmsg').length > 0);
    press(call, ['1']);
    assert.equal(call.esl.matching('uuid_break').length, bargeIn ? 1 : 0, `barge-in ${bargeIn}`);
    press(call, ['#']);
    assert.deepEqual(call.agent.notes, [{ text: '[The caller pressed 1 #]', interrupt: bargeIn }]);
    assert.equal(call.session.stats.bargeIns, bargeIn ? 1 : 0);
  }
});

test('digits outside 0-9 * # A-D are refused: they neither reach the agent nor the transcript', async () => {
  const call = await newCall({ call: { dtmf: DTMF } });
  await call.activate();
  press(call, ['x', '12', '; uuid_kill', '', '\n', 'E', '7', 'b', '#']);
  assert.deepEqual(call.agent.notes, [{ text: '[The caller pressed 7 B #]', interrupt: true }]);
  assert.equal(call.record.transcript.at(-1)?.text, 'DTMF: 7B#');
});

/** The agent speaks whatever it is asked to say, and FreeSWITCH plays every file to its end. */
function speakAndPlay(call: Awaited<ReturnType<typeof newCall>>): () => void {
  call.agent.onSay = (text) => {
    call.esl.commands.push(`say ${text}`);
    call.agent.sink!.audio(reply(), 8000);
    call.agent.sink!.replyDone();
  };
  let done = 0;
  const timer = setInterval(() => {
    for (; done < call.esl.played.length; done++) completePlayback(call, call.esl.played[done]!.path);
  }, 20);
  return () => clearInterval(timer);
}

const LIMITS = {
  silenceTimeoutS: 0,
  silencePrompts: 2,
  silencePromptText: 'Are you still there?',
  goodbyeText: 'Goodbye!',
  maxDurationS: 0,
};

test('silence: the caller is prompted, prompted again, then hears the goodbye before the hang-up', async () => {
  const call = await newCall({ call: { limits: { ...LIMITS, silenceTimeoutS: 1 } } });
  const stop = speakAndPlay(call);
  try {
    await call.activate();
    await untilLong('the call ended', () => call.ended.length > 0);
    const order = call.esl.commands.filter((c) => c.startsWith('say ') || c.startsWith('uuid_kill'));
    assert.deepEqual(order, [
      'say Are you still there?',
      'say Are you still there?',
      'say Goodbye!',
      `uuid_kill ${call.uuid} NORMAL_CLEARING`,
    ]);
    assert.equal(call.session.endReason, 'silence timeout');
    assert.equal(call.record.endReason, 'silence timeout', 'the record says why');
  } finally {
    stop();
  }
});

test('the caller speaking resets the silence prompts', async () => {
  const call = await newCall({ call: { limits: { ...LIMITS, silenceTimeoutS: 1, silencePrompts: 1 } } });
  const stop = speakAndPlay(call);
  try {
    await call.activate();
    await untilLong('a prompt', () => call.agent.said.length === 1);
    call.agent.sink!.transcript('caller', 'yes I am here', true);
    await untilLong('a second prompt', () => call.agent.said.length === 2);
    assert.deepEqual(call.agent.said, ['Are you still there?', 'Are you still there?'], 'prompted again, no goodbye');
    await untilLong('the call ended', () => call.ended.length > 0);
    assert.equal(call.agent.said.at(-1), 'Goodbye!');
  } finally {
    stop();
  }
});

test('the longest call ends with the goodbye, then the hang-up, recorded as max duration', async () => {
  const call = await newCall({ call: { limits: { ...LIMITS, maxDurationS: 1 } } });
  const stop = speakAndPlay(call);
  try {
    await call.activate();
    await untilLong('the call ended', () => call.ended.length > 0);
    const order = call.esl.commands.filter((c) => c.startsWith('say ') || c.startsWith('uuid_kill'));
    assert.deepEqual(order, ['say Goodbye!', `uuid_kill ${call.uuid} NORMAL_CLEARING`]);
    assert.equal(call.session.endReason, 'max duration');
  } finally {
    stop();
  }
});

// ---- Tools ----

/** Tool settings as resolveCallSettings makes them, requests signed with `secret`. */
function withTools(patch: unknown, secret?: string): Partial<CallSettings> {
  const context = { call_id: 'sip-1', call_uuid: 'u', direction: 'inbound' as const, from: '1000', to: '2000' };
  const tools = callTools(settingsPatch.parse(patch), context, secret)!;
  return { tools: tools.declarations, toolTable: tools.table };
}

test('runTool runs a signed webhook through the sink and shows it on the record, the stream and the metrics', async () => {
  const secret = 'session-tool-secret-0123456789';
  let verified = false;
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const ts = Number(req.headers['x-callbridge-timestamp']);
      verified = req.headers['x-callbridge-signature'] === signCallback(secret, ts, raw);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ balance: 42, args: JSON.parse(raw).args }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/balance`;
    const tool = { name: 'get_balance', description: 'Balance', parameters: { type: 'object' }, url };
    const call = await newCall({ call: withTools({ tools: [tool] }, secret) });
    await call.activate();
    const changes: string[] = [];
    call.book.on('change', (_r, c) => changes.push(c.type));
    const result = await call.agent.sink!.runTool!(
      { id: 'fc-1', name: 'get_balance', args: { account: 'A' } },
      new AbortController().signal,
    );
    assert.deepEqual(result, { ok: true, result: { balance: 42, args: { account: 'A' } } });
    assert.ok(verified, 'the tool server verified the signature');
    assert.equal(call.record.tools?.count, 1);
    assert.equal(call.record.transcript.at(-1)?.speaker, 'tool');
    assert.deepEqual(changes, ['tool', 'transcript']);
    assert.match(await call.metrics.text(), /^callbridge_tool_calls_total\{tool="get_balance",outcome="ok"\} 1$/m);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('end_call through the sink ends the call once the goodbye has played; tools not enabled get an error answer', async () => {
  const call = await newCall({ call: withTools({ builtin_tools: ['end_call'] }) });
  await call.activate();
  const sink = call.agent.sink!;
  const signal = new AbortController().signal;
  const unknown = await sink.runTool!({ id: 'x', name: 'send_dtmf', args: { digits: '1' } }, signal);
  assert.equal(unknown.ok, false, 'send_dtmf is not enabled on this call');
  const r = await sink.runTool!({ id: 'y', name: 'end_call', args: { reason: 'done' } }, signal);
  assert.deepEqual(r, { ok: true, result: 'ending the call after your goodbye' });
  await until('call ended', () => call.session.state === 'ended');
  assert.match(call.session.endReason ?? '', /done/);
  assert.equal(call.record.tools?.count, 2);
  assert.equal(call.record.tools?.errors, 1);
});

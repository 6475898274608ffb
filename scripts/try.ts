/**
 * `npm run try`: one whole call without a phone. The FreeSWITCH emulator from the test bed plays the caller
 * (WAV files, or text spoken by espeak-ng, one turn each); callbridge answers in this process through its
 * production path (ESL, mod_audio_stream WebSocket, the configured pipeline with the keys from ./.env, the
 * playout) — or with the echo agent when no keys are set. Writes the conversation as a stereo WAV (caller
 * left, agent right, on one clock), the transcript (JSON and text) and per-turn timings.
 *
 *   npm run try -- --wav a.wav --wav b.wav --out try-output/
 *   npm run try -- --say "Hello, do you have a table for two tonight?" --say "At eight, please."
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { startCallbridge, type Callbridge } from '../src/callbridge.ts';
import { ConfigError, loadConfig, type Config } from '../src/config.ts';
import { errorText } from '../src/errors.ts';
import { FINAL_STATUSES, type CallRecord } from '../src/store/call-record.ts';
import { encodeWav, FreeSwitchEmulator, freePort, readWav, resample, type EmulatedChannel } from '../test/bed/index.ts';

const RATE = 8000; // what the emulator records the caller hearing at (a phone call)
const DEFAULT_INPUT = new URL('../test/fixtures/speech-8k.raw', import.meta.url);

const USAGE = `Try an agent without a phone: a whole call through callbridge against the FreeSWITCH emulator.

  npm run try -- [--wav FILE]... [--say TEXT]... [--out DIR] [--pipeline NAME]

  --wav FILE          a caller turn from a WAV file (any rate; repeat for more turns)
  --say TEXT          a caller turn spoken by espeak-ng (repeat for more turns)
  --out DIR           where the results go (default try-output)
  --pipeline NAME     gemini-live | cascade | echo (default: AGENT_PIPELINE, else auto)
  --turn-timeout S    longest wait for the agent's reply to a turn (default 30)
  --settle-ms MS      quiet after a reply before the next turn (default 1200)

Without --wav/--say the caller says one sentence (test/fixtures/speech-8k.raw). Keys come from ./.env (or
the environment); with none, the echo agent answers (it repeats each turn).`;

interface Turn {
  label: string;
  pcm: Int16Array;
  rate: number;
}

interface TurnTiming {
  turn: number;
  input: string;
  callerStartMs: number;
  callerEndMs: number;
  /** The first reply audio the caller heard after this turn began; undefined: no reply in time. */
  replyStartMs?: number;
  replyEndMs?: number;
  /** Caller's audio ended → reply audio started (includes the agent's end-of-turn wait). */
  responseMs?: number;
  replyHeardMs: number;
}

class Interrupted extends Error {}

function parse() {
  const { values } = parseArgs({
    options: {
      wav: { type: 'string', multiple: true, default: [] },
      say: { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: 'try-output' },
      pipeline: { type: 'string' },
      'turn-timeout': { type: 'string', default: '30' },
      'settle-ms': { type: 'string', default: '1200' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  return values;
}

/** The caller's turns, in order: WAV files first, then spoken texts (what the command line gave). */
function loadTurns(wavs: string[], texts: string[], scratch: string): Turn[] {
  const turns: Turn[] = wavs.map((path) => ({ label: path, ...toTurnAudio(readWav(path)) }));
  if (texts.length > 0) {
    if (spawnSync('espeak-ng', ['--version']).error) {
      throw new Error(
        '--say needs espeak-ng (e.g. apt-get install espeak-ng); record the turns as WAV files and pass them with --wav instead',
      );
    }
    texts.forEach((text, i) => {
      const file = join(scratch, `say-${i + 1}.wav`);
      const r = spawnSync('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', file, text], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`espeak-ng failed for ${JSON.stringify(text)}: ${r.stderr || r.error}`);
      turns.push({ label: `say: ${text}`, ...toTurnAudio(readWav(file)) });
    });
  }
  if (turns.length === 0) {
    const raw = readFileSync(DEFAULT_INPUT);
    turns.push({
      label: 'test/fixtures/speech-8k.raw',
      pcm: new Int16Array(raw.buffer, raw.byteOffset, raw.length >> 1),
      rate: 8000,
    });
  }
  return turns;
}

function toTurnAudio(w: { pcm: Int16Array; sampleRate: number }): { pcm: Int16Array; rate: number } {
  if (w.pcm.length === 0) throw new Error('a WAV file has no audio');
  return { pcm: w.pcm, rate: w.sampleRate };
}

/** The same .env the server reads (`npm run dev`); variables already set win over the file. */
function environment(
  pipeline: string | undefined,
  scratch: string,
  port: number,
  eslPort: number,
): Record<string, string | undefined> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return {
    ...process.env,
    ...(pipeline && { AGENT_PIPELINE: pipeline }),
    // Everything that points at FreeSWITCH or the network is ours: the emulator, loopback, a scratch dir.
    FREESWITCH_ESL_HOST: '127.0.0.1',
    FREESWITCH_ESL_PORT: String(eslPort),
    FREESWITCH_ESL_PASSWORD: 'ClueCon',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(port),
    CALLBRIDGE_WS_URL: `ws://127.0.0.1:${port}`,
    PLAYBACK_TRANSPORT: 'shared-dir',
    PLAYBACK_DIR: join(scratch, 'playback'),
    PLAYBACK_DIR_FREESWITCH: join(scratch, 'playback'),
    CALL_HISTORY_PATH: join(scratch, 'calls.db'),
    SHUTDOWN_TIMEOUT_MS: '2000',
  };
}

/** The call as the calls API reports it (GET /calls/{id}): status, transcript, per-reply timings. */
async function callRecord(config: Config, id: string): Promise<CallRecord | undefined> {
  const res = await fetch(`http://127.0.0.1:${config.HTTP_PORT}/calls/${id}`, {
    headers: config.API_TOKEN ? { authorization: `Bearer ${config.API_TOKEN}` } : {},
  });
  return res.ok ? ((await res.json()) as CallRecord) : undefined;
}

async function waitFor(cond: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (signal.aborted) throw new Interrupted('interrupted');
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/**
 * Until the agent has finished answering: some reply audio started after `since` (or none is required), then
 * nothing played and nothing new started for `settleMs` (a reply arrives as several files with short gaps).
 */
async function waitReplyPlayed(
  call: EmulatedChannel,
  since: number,
  requireReply: boolean,
  o: { timeoutMs: number; settleMs: number; signal: AbortSignal },
): Promise<boolean> {
  const started = () => call.heard.some((s) => s.startedAt >= since);
  if (requireReply && !(await waitFor(() => started() || call.hungUp, o.timeoutMs, o.signal))) return false;
  const end = Date.now() + o.timeoutMs;
  let quietSince = performance.now();
  let seen = call.heard.length;
  while (Date.now() < end && !call.hungUp) {
    if (!call.playbackIdle || call.heard.length !== seen) {
      seen = call.heard.length;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= o.settleMs) return true;
    if (o.signal.aborted) throw new Interrupted('interrupted');
    await new Promise((r) => setTimeout(r, 10));
  }
  return !requireReply || started();
}

/** Caller on the left, what the caller heard on the right, both placed by time since the call was placed. */
function stereo(call: EmulatedChannel, turns: Turn[], timings: TurnTiming[], t0: number): Buffer {
  const placed: { ch: 0 | 1; at: number; pcm: Int16Array }[] = [];
  for (const [i, t] of timings.entries()) {
    placed.push({ ch: 0, at: t.callerStartMs, pcm: resample(turns[i]!.pcm, turns[i]!.rate, RATE) });
  }
  for (const [i, s] of call.heard.entries()) placed.push({ ch: 1, at: s.startedAt - t0, pcm: call.heardPcm(i, i) });
  const length = Math.max(0, ...placed.map((p) => Math.round((p.at * RATE) / 1000) + p.pcm.length));
  const channels = [new Int16Array(length), new Int16Array(length)] as const;
  for (const p of placed) channels[p.ch].set(p.pcm, Math.max(0, Math.round((p.at * RATE) / 1000)));
  return encodeWav(channels, RATE);
}

function transcriptText(record: CallRecord | undefined, t0Epoch: number): string {
  const lines = (record?.transcript ?? [])
    .filter((e) => e.final)
    .map((e) => `[${((e.at - t0Epoch) / 1000).toFixed(2).padStart(6)} s] ${e.speaker.padEnd(6)} ${e.text}`);
  return `${lines.join('\n')}\n`;
}

async function run(opts: ReturnType<typeof parse>, signal: AbortSignal): Promise<number> {
  const scratch = mkdtempSync(join(tmpdir(), 'callbridge-try-'));
  const out = resolve(opts.out);
  let fs: FreeSwitchEmulator | undefined;
  let bridge: Callbridge | undefined;
  let call: EmulatedChannel | undefined;
  try {
    const turns = loadTurns(opts.wav, opts.say, scratch);
    const turnTimeoutMs = Number(opts['turn-timeout']) * 1000;
    const settleMs = Number(opts['settle-ms']);
    if (!(turnTimeoutMs > 0) || !(settleMs >= 0))
      throw new Error('--turn-timeout and --settle-ms take positive numbers');
    mkdirSync(out, { recursive: true });
    fs = await FreeSwitchEmulator.start();
    const config = loadConfig(environment(opts.pipeline, scratch, await freePort(), fs.eslPort));
    // callbridge's own log goes to a file: the terminal shows the conversation.
    const logger = pino(
      { level: config.LOG_LEVEL === 'debug' ? 'debug' : 'info', base: { service: 'callbridge' } },
      pino.destination({ dest: join(out, 'callbridge.log'), sync: true }),
    );
    bridge = await startCallbridge(config, { logger });
    await bridge.esl.waitConnected(5000);
    console.log(
      `pipeline: ${config.AGENT_PIPELINE} (${config.AGENT_PIPELINE_SOURCE}); ${turns.length} caller turn(s); log: ${join(out, 'callbridge.log')}`,
    );

    const t0 = performance.now();
    const t0Epoch = Date.now();
    const live = fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
    call = live;
    if (!(await waitFor(() => live.stream?.connected === true || live.hungUp, 15000, signal)) || live.hungUp) {
      throw new Error(
        `the call did not start: ${(await callRecord(config, live.uuid))?.endReason ?? 'no media stream within 15 s'} (see callbridge.log)`,
      );
    }
    // A greeting (or the echo agent's chime) plays out before the caller speaks.
    await waitReplyPlayed(live, t0, false, { timeoutMs: turnTimeoutMs, settleMs, signal });

    const timings: TurnTiming[] = [];
    for (const [i, turn] of turns.entries()) {
      if (live.hungUp) break;
      const sayAt = performance.now();
      live.say(turn.pcm, turn.rate);
      await live.micIdle((turn.pcm.length / turn.rate) * 1000 + 10_000);
      const saidAt = performance.now();
      const replied = await waitReplyPlayed(live, sayAt, true, { timeoutMs: turnTimeoutMs, settleMs, signal });
      const reply = live.heard.filter((s) => s.startedAt >= sayAt);
      const timing: TurnTiming = {
        turn: i + 1,
        input: turn.label,
        callerStartMs: Math.round(sayAt - t0),
        callerEndMs: Math.round(saidAt - t0),
        replyHeardMs: Math.round(reply.reduce((a, s) => a + s.playedMs, 0)),
      };
      if (reply.length > 0) {
        timing.replyStartMs = Math.round(reply[0]!.startedAt - t0);
        timing.replyEndMs = Math.round(reply.at(-1)!.endedAt - t0);
        timing.responseMs = Math.round(reply[0]!.startedAt - saidAt);
      }
      if (!replied) console.warn(`turn ${i + 1}: no reply within ${opts['turn-timeout']} s`);
      timings.push(timing);
    }

    if (!live.hungUp) await live.hangup();
    // The record is complete once the call has ended (its last transcript entries and turn timings in).
    let record = await callRecord(config, live.uuid);
    for (
      const end = Date.now() + 5000;
      !FINAL_STATUSES.has(record?.status ?? 'answered') && Date.now() < end;
      record = await callRecord(config, live.uuid)
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    writeFileSync(join(out, 'conversation.wav'), stereo(live, turns, timings, t0));
    writeFileSync(
      join(out, 'transcript.json'),
      `${JSON.stringify({ callId: live.uuid, pipeline: record?.pipeline, status: record?.status, endReason: record?.endReason, startedAt: new Date(t0Epoch).toISOString(), transcript: (record?.transcript ?? []).map((e) => ({ ...e, ms: e.at - t0Epoch })) }, null, 2)}\n`,
    );
    writeFileSync(join(out, 'transcript.txt'), transcriptText(record, t0Epoch));
    writeFileSync(
      join(out, 'timings.json'),
      `${JSON.stringify({ turns: timings, pipelineTurns: record?.turns ?? [] }, null, 2)}\n`,
    );

    console.log(`\n${transcriptText(record, t0Epoch)}`);
    for (const t of timings) {
      console.log(
        `turn ${t.turn}: caller ${t.callerStartMs}–${t.callerEndMs} ms, ${t.replyStartMs === undefined ? 'no reply' : `reply ${t.replyStartMs}–${t.replyEndMs} ms (${t.responseMs} ms after the caller stopped, ${t.replyHeardMs} ms heard)`}`,
      );
    }
    console.log(
      `\nwritten to ${out}: conversation.wav (left caller, right agent), transcript.json, transcript.txt, timings.json, callbridge.log`,
    );
    return 0;
  } finally {
    // Everything this run started, whatever happened: the call, callbridge, the emulator, the scratch dir.
    if (call && !call.hungUp) await call.hangup().catch(() => {});
    await bridge?.stop().catch((err: unknown) => console.error(`stopping callbridge: ${errorText(err)}`));
    await fs?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse();
  } catch (err) {
    console.error(`${errorText(err)}\n\n${USAGE}`);
    process.exit(2);
  }
  if (opts.help) return void console.log(USAGE);
  const abort = new AbortController();
  // First Ctrl-C: stop waiting and clean up; a second one leaves at once.
  process.once('SIGINT', () => {
    abort.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  try {
    process.exitCode = await run(opts, abort.signal);
  } catch (err) {
    if (err instanceof Interrupted) process.exitCode = 130;
    else {
      console.error(err instanceof ConfigError ? err.message : `try failed: ${errorText(err)}`);
      process.exitCode = 1;
    }
  }
}

await main();

/**
 * The cascade on a long call, on the bed's in-memory stages (no sockets): an hour of call audio, time
 * compressed, with the STT stream and the TTS connection lost every ten minutes (idle closes, drops, 1011s,
 * mid-utterance and mid-reply). Every turn must be answered in full, the model requests must stay within the
 * history budget, and what the agent keeps must not grow with the call.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import pino from 'pino';
import type { AgentSink, Speaker } from '../../src/agents/agent.ts';
import { AudioRing } from '../../src/agents/cascade/audio-ring.ts';
import { CascadeAgent } from '../../src/agents/cascade/cascade-agent.ts';
import { requestTokens, trimHistory } from '../../src/agents/cascade/history.ts';
import type { ChatMessage } from '../../src/agents/cascade/stages.ts';
import { loadSileroModel } from '../../src/media/silero-model.ts';
import { EnergyStt, ScriptedLlm, tone, ToneTts } from '../bed/index.ts';

const SYSTEM = 'You are a test agent on a long call.';
const RATE = 8000;
const FRAME = Buffer.alloc(640); // 40 ms of silence
/** 600 ms of a loud tone: speech for the energy recognizer. */
const SPEECH = Buffer.from(tone(300, 600, RATE, 8000).buffer);

before(async () => {
  await loadSileroModel();
});

// ---- the parts ----------------------------------------------------------------------------------

test('history budget: oldest exchanges go first, whole; the turn being answered always stays', () => {
  const m = (role: 'user' | 'agent', n: number): ChatMessage => ({ role, text: `${role} ${n} `.padEnd(40, '.') }); // 10 tokens
  const h = [m('agent', 0), m('user', 1), m('agent', 1), m('agent', 1), m('user', 2), m('agent', 2), m('user', 3)];
  assert.equal(requestTokens('', h), 70);
  assert.equal(trimHistory(h, '', 70), 0, 'within the budget: untouched');
  assert.equal(trimHistory(h, '', 45), 4, 'the greeting, then caller turn 1 with both its answers');
  assert.deepEqual(
    h.map((x) => x.text.split(' ').slice(0, 2).join(' ')),
    ['user 2', 'agent 2', 'user 3'],
  );
  assert.equal(trimHistory(h, 'x'.repeat(400), 45), 2, 'instructions over the budget: only the last turn is left');
  assert.equal(h.length, 1);
  assert.equal(h[0]!.role, 'user');
  assert.equal(trimHistory(h, 'x'.repeat(400), 45), 0, 'never below the last caller turn');
});

test('audio ring: keeps the last samples by position, across the wrap', () => {
  const ring = new AudioRing(8); // 4 samples
  const frame = (a: number, b: number) => Buffer.from(new Int16Array([a, b]).buffer);
  ring.write(frame(1, 2));
  ring.write(frame(3, 4));
  ring.write(frame(5, 6));
  assert.equal(ring.startSample, 2);
  assert.equal(ring.endSample, 6);
  const got: number[] = [];
  const from = ring.since(0, (pcm) =>
    got.push(...new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.length))),
  );
  assert.equal(from, 2, 'older audio is gone');
  assert.deepEqual(got, [3, 4, 5, 6]);
  const tail: number[] = [];
  ring.since(5, (pcm) => tail.push(pcm.readInt16LE(0)));
  assert.deepEqual(tail, [6]);
});

// ---- an hour ------------------------------------------------------------------------------------

/** A playout that plays at once: each finished reply is reported idle on the next turn of the event loop. */
class InstantSink implements AgentSink {
  agent: CascadeAgent | undefined;
  replies = 0;
  readonly finals: { speaker: Speaker; text: string }[] = [];
  readonly resumes: { reason: string; durationMs: number }[] = [];
  readonly ends: string[] = [];
  onAudio: (() => void) | undefined;
  audio(): void {
    const hook = this.onAudio;
    this.onAudio = undefined;
    hook?.();
  }
  replyDone(): void {
    this.replies++;
    setImmediate(() => this.agent?.playbackIdle());
  }
  interrupted(): void {}
  transcript(speaker: Speaker, text: string, final: boolean): void {
    if (final) this.finals.push({ speaker, text });
  }
  hangup(reason: string): void {
    this.ends.push(`hangup: ${reason}`);
  }
  failed(cause: string): void {
    this.ends.push(`failed: ${cause}`);
  }
  resumed(info: { reason: string; durationMs: number }): void {
    this.resumes.push(info);
  }
  playback(): { playing: boolean; heardMs: number } {
    return { playing: false, heardMs: 0 };
  }
  replyTimings(): void {}
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Let the event loop run until `cond` (a guard against hanging, not a timing assertion). */
async function settle(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not reached: ${what}`);
    await tick();
  }
}

function push(agent: CascadeAgent, pcm: Buffer): void {
  for (let off = 0; off < pcm.length; off += 640) agent.pushAudio(pcm.subarray(off, Math.min(off + 640, pcm.length)));
}

function silence(agent: CascadeAgent, ms: number): void {
  for (let t = 0; t < ms; t += 40) agent.pushAudio(FRAME);
}

test('a 60-minute call, time compressed, with a lost connection every ten minutes: every turn answered in full, requests within the budget, memory flat', async () => {
  const TURNS = 360; // one every 10 s of call audio: an hour
  const BUDGET = 400;
  const reply = (n: number) => `Answer ${n}. It comes in three short sentences. This is the last one.`;
  const question = (n: number) => `Caller turn ${n}: could you tell me about item ${n}?`;
  let said = 0;
  const stts: EnergyStt[] = [];
  const ttss: ToneTts[] = [];
  const llm = new ScriptedLlm({ reply: (_h, n) => reply(n) });
  const agent = new CascadeAgent({
    settings: { systemInstructions: SYSTEM, voice: 'unused', language: 'en-US' },
    logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
    sampleRate: RATE,
    createStt: () => {
      const s = new EnergyStt({ transcript: () => question(++said) });
      stts.push(s);
      return s;
    },
    llm,
    createTts: () => {
      const t = new ToneTts({ msPerChar: 2, wordTimes: true });
      ttss.push(t);
      return t;
    },
    loadVad: loadSileroModel,
    turn: { endOn: 'speech_final' },
    bargeIn: { threshold: 0.5, minSpeechMs: 200 },
    apology: 'Sorry.',
    historyTokens: BUDGET,
  });
  const sink = new InstantSink();
  sink.agent = agent;
  await agent.start(sink);
  let maxHistory = 0;
  const midReply: number[] = [];
  try {
    for (let n = 1; n <= TURNS; n++) {
      const phase = n % 60; // every ten minutes of call time, each kind of loss once
      if (phase === 0) stts.at(-1)!.lose('idle'); // between turns
      if (phase === 15) ttss.at(-1)!.drop('1011'); // between replies
      if (phase === 45) {
        sink.onAudio = () =>
          setImmediate(() => {
            midReply.push(ttss.length); // the connection made next continues this reply
            ttss.at(-1)!.drop('drop');
          });
      }
      if (phase === 30) {
        // Mid-utterance: the second half is spoken while the stream is being replaced.
        push(agent, SPEECH.subarray(0, SPEECH.length / 2));
        stts.at(-1)!.lose('drop');
        push(agent, SPEECH.subarray(SPEECH.length / 2));
      } else {
        push(agent, SPEECH);
      }
      silence(agent, 400); // the recognizer's endpointing ends the turn
      await settle(() => sink.replies === n && agent.history.at(-1)?.role === 'agent', `reply ${n}`);
      await tick();
      silence(agent, 9000); // the rest of the turn's ten seconds
      maxHistory = Math.max(maxHistory, agent.history.length);
    }
    assert.deepEqual(sink.ends, [], 'the call ends normally');
    assert.equal(said, TURNS, 'one transcript per turn: nothing lost, nothing heard twice');
    assert.equal(llm.requests.length, TURNS);
    for (const [i, req] of llm.requests.entries()) {
      assert.equal(req.history.at(-1)!.text, question(i + 1), `request ${i + 1} answers its turn`);
      const tokens = requestTokens(req.systemInstructions, req.history);
      assert.ok(tokens <= BUDGET, `request ${i + 1}: ${tokens} estimated tokens, budget ${BUDGET}`);
    }
    assert.ok(requestTokens(SYSTEM, llm.requests.at(-1)!.history) > BUDGET / 2, 'the budget is used, not emptied');
    const agentFinals = sink.finals.filter((f) => f.speaker === 'agent').map((f) => f.text);
    assert.deepEqual(
      agentFinals,
      Array.from({ length: TURNS }, (_, i) => reply(i + 1)),
      'every reply complete, also those whose TTS connection broke mid-reply',
    );
    // Mid-reply losses: the new stream got only what had not been synthesized (no sentence said twice).
    assert.equal(midReply.length, 6);
    for (const i of midReply) {
      const before = ttss[i - 1]!.utterances.at(-1)!.text;
      const after = ttss[i]!.utterances[0]!.text;
      assert.ok(before.startsWith('Answer ') && !after.startsWith('Answer '), `repeated after a drop: ${after}`);
      assert.ok(reply(0).endsWith(after.trim()), `continued from the first word not synthesized: ${after}`);
    }
    const s = agent.stats;
    assert.equal(s.sttReconnects, 12);
    assert.equal(s.ttsResumes, 6);
    assert.equal(s.ttsReconnects, 12);
    assert.equal(sink.resumes.length, 24, 'every reopened connection reported');
    assert.deepEqual([...new Set(sink.resumes.map((r) => r.reason))].sort(), ['1011', 'drop', 'idle']);
    assert.ok(
      stts.slice(0, -1).every((x) => !x.connected) && ttss.slice(0, -1).every((x) => !x.connected),
      'replaced connections closed',
    );
    // Bounded: the history holds what fits the budget (~14 exchanges), not 360 of them.
    assert.ok(maxHistory <= 2 + BUDGET / 12, `history grew to ${maxHistory} messages`);
    assert.equal(s.faults.length, 0);
  } finally {
    await agent.close();
  }
});

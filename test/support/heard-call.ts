/**
 * A constructed stereo call recording with known positions (samples): the caller's side is the speech fixture
 * (trimmed to its first and last sample above 100) over low line noise, the agent's side 440 Hz tones with
 * digital silence between. Used by the recording analysis and analyzer tests.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const RATE = 8000;
const raw = readFileSync(new URL('../fixtures/speech-8k.raw', import.meta.url));
const fixture = new Int16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
/** The fixture's speech, from its first to its last sample above 100 (espeak-ng's silence on both sides cut). */
const SPEECH = (() => {
  let a = 0;
  let b = fixture.length - 1;
  while (Math.abs(fixture[a]!) <= 100) a++;
  while (Math.abs(fixture[b]!) <= 100) b--;
  return fixture.slice(a, b + 1);
})();

const at = (ms: number) => Math.round((ms * RATE) / 1000);
export const toMs = (samples: number) => (samples * 1000) / RATE;

/** A 440 Hz tone standing in for agent audio (any audible signal: the agent side is energy-based). */
function tone(into: Int16Array, from: number, samples: number, amp = 6000): void {
  for (let i = 0; i < samples && from + i < into.length; i++)
    into[from + i] = Math.round(amp * Math.sin((2 * Math.PI * 440 * i) / RATE));
}

/** Low-level noise on the caller side, as a phone line has (seeded: the same every run). */
function noise(into: Int16Array, amp: number): void {
  let s = 12345;
  for (let i = 0; i < into.length; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    into[i] = into[i]! + Math.round(((s / 0x7fffffff) * 2 - 1) * amp);
  }
}

export interface Truth {
  callerStart: number[];
  callerEnd: number[];
  agentStart: number[];
  /** Per caller utterance that started over the agent: [utterance index, agent stop sample]. */
  bargeIns: Array<[number, number]>;
  /** [reply index, gap length in samples]. */
  gaps: Array<[number, number]>;
}

/**
 * A call: the agent greets; the caller speaks; the agent answers after `latencies[k]` ms (one reply with an
 * inserted 120 ms gap); the caller talks over a later reply, which stops `stopMs` after the caller starts.
 * Repeated `rounds` times (a long recording for the CPU figure). The caller's line carries uniform noise of
 * ±`noiseAmp` (30: ~−64 dBFS RMS; 300: ~−46 dBFS).
 */
export function constructCall(rounds = 1, noiseAmp = 30): { left: Int16Array; right: Int16Array; truth: Truth } {
  const roundMs = 21_000;
  const total = at(1500 + rounds * roundMs);
  const left = new Int16Array(total);
  const right = new Int16Array(total);
  const truth: Truth = { callerStart: [], callerEnd: [], agentStart: [], bargeIns: [], gaps: [] };
  const say = (start: number) => {
    left.set(SPEECH, start);
    truth.callerStart.push(start);
    truth.callerEnd.push(start + SPEECH.length);
    return start + SPEECH.length;
  };
  const reply = (start: number, len: number) => {
    tone(right, start, len);
    truth.agentStart.push(start);
    return start + len;
  };
  reply(at(200), at(1000)); // the greeting
  for (let r = 0; r < rounds; r++) {
    const base = at(1500 + r * roundMs);
    // Turn 1: answered after 730 ms, a 120 ms gap 600 ms into the reply.
    let end = say(base);
    const a1 = end + at(730);
    reply(a1, at(600));
    right.fill(0, a1 + at(600), a1 + at(720));
    tone(right, a1 + at(720), at(1400));
    truth.gaps.push([truth.agentStart.length - 1, at(120)]);
    // Turn 2: answered after 455 ms; the caller talks over it 1.2 s in; the agent stops 170 ms later.
    end = say(a1 + at(3000));
    const a2 = end + at(455);
    reply(a2, at(1200 + 170));
    const over = a2 + at(1200);
    const bargeStart = say(over) - SPEECH.length;
    truth.bargeIns.push([truth.callerStart.length - 1, a2 + at(1370)]);
    assert.equal(bargeStart, over);
    // Turn 3: the answer to the barge-in, after 610 ms.
    reply(truth.callerEnd.at(-1)! + at(610), at(1500));
  }
  noise(left, noiseAmp);
  return { left, right, truth };
}

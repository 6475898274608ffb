import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadSileroModel } from '../../src/media/silero-model.ts';
import { analyse, speechProbabilities, type HeardTurn } from '../../src/recording/analysis.ts';
import { constructCall, toMs, type Truth } from '../support/heard-call.ts';

/** Every found value against the constructed truth, ±20 ms; returns the worst error (ms). */
function check(turns: HeardTurn[], truth: Truth): number {
  let worst = 0;
  const near = (actualMs: number | undefined, expectedSamples: number, what: string) => {
    assert.ok(actualMs !== undefined, `${what}: missing`);
    const d = actualMs - toMs(expectedSamples);
    worst = Math.max(worst, Math.abs(d));
    assert.ok(Math.abs(d) <= 20, `${what}: ${actualMs} ms, expected ${toMs(expectedSamples)} (off by ${d.toFixed(1)})`);
  };
  const said = turns.filter((t) => t.callerEndMs !== undefined);
  assert.equal(said.length, truth.callerEnd.length, JSON.stringify(turns));
  assert.equal(turns[0]!.callerEndMs, undefined, 'the greeting comes first, answering nobody');
  near(turns[0]!.agentStartMs, truth.agentStart[0]!, 'greeting start');
  said.forEach((t, i) => {
    near(t.callerStartMs, truth.callerStart[i]!, `caller start ${i}`);
    near(t.callerEndMs, truth.callerEnd[i]!, `caller end ${i}`);
    near(t.agentStartMs, truth.agentStart[i + 1]!, `agent start ${i}`);
    near(t.heardLatencyMs, truth.agentStart[i + 1]! - truth.callerEnd[i]!, `heard latency ${i}`);
  });
  const barged = new Map(truth.bargeIns);
  said.forEach((t, i) => {
    const stop = barged.get(i);
    if (stop === undefined) assert.equal(t.bargeInStopMs, undefined, `no barge-in at ${i}`);
    else near(t.bargeInStopMs, stop - truth.callerStart[i]!, `barge-in stop ${i}`);
  });
  const gapAt = new Map(truth.gaps);
  turns.forEach((t, i) => {
    const gap = gapAt.get(i);
    assert.equal(t.gaps, gap === undefined ? 0 : 1, `gaps in reply ${i}`);
    if (gap !== undefined) {
      near(t.worstGapMs, gap, `inserted gap ${i}`);
      near(t.insertedSilenceMs, gap, `inserted silence ${i}`);
    }
  });
  return worst;
}

describe('recording analysis', () => {
  test('finds caller ends, agent starts, the barge-in stop and the inserted gap within ±20 ms', async (t) => {
    const model = await loadSileroModel();
    const { left, right, truth } = constructCall(1);
    const probs = await speechProbabilities(model, left);
    const { turns, summary } = analyse(left, right, probs);
    const worst = check(turns, truth);
    t.diagnostic(`worst error ${worst.toFixed(1)} ms over ${turns.length} turns: ${JSON.stringify(turns)}`);
    assert.equal(summary.turns, turns.length);
    assert.equal(summary.bargeIns, 1);
    assert.equal(summary.worstGapMs, turns[truth.gaps[0]![0]]!.worstGapMs);
    const latencies = turns.flatMap((x) => (x.heardLatencyMs === undefined ? [] : [x.heardLatencyMs]));
    assert.equal(summary.latencyMaxMs, Math.max(...latencies));
  });

  test('a noisy caller line (−46 dBFS RMS): still within ±20 ms', async (t) => {
    const model = await loadSileroModel();
    const { left, right, truth } = constructCall(1, 300);
    const { turns } = analyse(left, right, await speechProbabilities(model, left));
    t.diagnostic(`worst error ${check(turns, truth).toFixed(1)} ms`);
  });

  test('no agent audio: caller turns without latency; digital silence is never a gap', () => {
    const { left, truth } = constructCall(1);
    const probs = new Float32Array(Math.floor(left.length / 256));
    // Probabilities from the truth (speech inside each utterance): the pure part needs no model.
    truth.callerStart.forEach((s, i) => {
      for (let w = Math.ceil(s / 256); w < Math.floor(truth.callerEnd[i]! / 256); w++) probs[w] = 0.9;
    });
    const { turns, summary } = analyse(left, new Int16Array(left.length), probs);
    assert.equal(turns.length, truth.callerEnd.length);
    assert.ok(turns.every((x) => x.agentStartMs === undefined && x.heardLatencyMs === undefined && x.gaps === 0));
    assert.equal(summary.latencyP50Ms, undefined);
  });

  test('CPU per call minute: a 5-minute recording (diagnostic), every turn still within ±20 ms', async (t) => {
    const model = await loadSileroModel();
    const { left, right, truth } = constructCall(14);
    const minutes = left.length / 8000 / 60;
    const before = process.cpuUsage();
    const probs = await speechProbabilities(model, left);
    const mid = process.cpuUsage(before);
    const { turns } = analyse(left, right, probs);
    const all = process.cpuUsage(before);
    const worst = check(turns, truth);
    const perMin = (u: NodeJS.CpuUsage) => ((u.user + u.system) / 1000 / minutes).toFixed(0);
    t.diagnostic(
      `${minutes.toFixed(2)} min, ${turns.length} turns, worst error ${worst.toFixed(1)} ms; CPU ${perMin(all)} ms per call minute (Silero ${perMin(mid)} ms, the rest ${((all.user + all.system - mid.user - mid.system) / 1000 / minutes).toFixed(1)} ms)`,
    );
  });
});

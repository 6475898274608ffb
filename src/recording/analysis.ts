/**
 * Ear-level turn latency from a finished stereo call recording (left: the caller, right: what the caller
 * heard of the agent, sample-aligned, 8 kHz): when the caller stopped, when the agent became audible, how fast
 * the agent fell silent when talked over, and the silences playback inserted inside a reply.
 *
 * - Caller channel: Silero VAD (the model the cascade uses live) per 32 ms window (256 samples), with
 *   hysteresis and a hangover (an utterance ends after ≥ `hangoverMs` below the end threshold), so a breath
 *   or a short pause does not split an utterance and line noise is not speech. Its boundaries are then moved
 *   to 10 ms frames by energy: a 32 ms window (and Silero's LSTM, which lags the audio by a window or two)
 *   is too coarse for ±20 ms.
 * - Agent channel: an energy threshold on 10 ms frames, not a VAD. What plays there is TTS or model audio,
 *   tones or prompts, with digital silence when nothing plays; "audible" is the question, not "speech", a
 *   VAD would miss non-speech audio the caller hears, and the 40 ms gaps we look for are shorter than a VAD
 *   window. Boundaries are then refined to the sample inside the boundary frame.
 *
 * `speechProbabilities` needs the model (async, onnxruntime); everything else here is pure and synchronous.
 * Positions are ms from the recording's first sample. This file turns the spans into turns and a summary; the
 * spans come from audio-spans.ts, the probabilities from speech-probabilities.ts, the samples from wav.ts.
 */
import type { HeardSummary, HeardTurn } from '../store/call-record.ts';
import { type AnalysisOptions, DEFAULT_ANALYSIS, FRAME_MS } from './analysis-options.ts';
import { agentRuns, frameRms, refine, utterances } from './audio-spans.ts';

export type { HeardSummary, HeardTurn };
export { type AnalysisOptions, DEFAULT_ANALYSIS, WINDOW } from './analysis-options.ts';
export { agentRuns, utterances } from './audio-spans.ts';
export { AnalysisStoppedError, speechProbabilities } from './speech-probabilities.ts';
export { parseWav } from './wav.ts';

export interface Analysis {
  turns: HeardTurn[];
  summary: HeardSummary;
}

/** The whole analysis once the caller's probabilities are known (pure: tests feed it constructed audio). */
export function analyse(
  caller: Int16Array,
  agent: Int16Array,
  probs: Float32Array,
  opts: Partial<AnalysisOptions> = {},
): Analysis {
  const o = { ...DEFAULT_ANALYSIS, ...opts };
  const ms = (samples: number) => Math.round((samples * 1000) / o.sampleRate);
  const frame = Math.round((o.sampleRate * FRAME_MS) / 1000);
  const rms = frameRms(caller, frame);
  const floor = percentile([...rms], 0.1);
  const said = utterances(probs, o).map((u) => refine(u, rms, frame, floor));
  const runs = agentRuns(agent, o);
  const replyEnd = (o.replyEndMs * o.sampleRate) / 1000;
  const stopHold = (o.stopHoldMs * o.sampleRate) / 1000;
  const gapMin = (o.gapMs * o.sampleRate) / 1000;

  /** The agent run audible at sample `t`, if any. */
  const runAt = (t: number) => runs.findIndex((r) => r.start <= t && t < r.end);
  /** Index of the last run of the stretch starting at run i whose gaps are all shorter than `maxGap`. */
  const stretch = (i: number, maxGap: number, until = Number.POSITIVE_INFINITY) => {
    let j = i;
    while (j + 1 < runs.length && runs[j + 1]!.start - runs[j]!.end < maxGap && runs[j + 1]!.start < until) j++;
    return j;
  };

  const turns: HeardTurn[] = [];
  const reply = (turn: HeardTurn, from: number, until: number) => {
    const i = runs.findIndex((r) => r.start >= from && r.start < until);
    if (i < 0) return;
    const j = stretch(i, replyEnd, until);
    let end = runs[j]!.end;
    if (end > until) end = until; // cut by the caller talking over it: what plays after is the barge-in's
    let gaps = 0;
    let total = 0;
    let worst = 0;
    for (let k = i; k < j; k++) {
      const g = Math.min(runs[k + 1]!.start, end) - runs[k]!.end;
      if (g > gapMin) {
        gaps++;
        total += g;
        worst = Math.max(worst, g);
      }
    }
    turn.agentStartMs = ms(runs[i]!.start);
    turn.agentEndMs = ms(end);
    if (turn.callerEndMs !== undefined) turn.heardLatencyMs = turn.agentStartMs - turn.callerEndMs;
    turn.gaps = gaps;
    turn.insertedSilenceMs = ms(total);
    turn.worstGapMs = ms(worst);
  };

  const firstSaid = said[0]?.start ?? agent.length;
  if (runs.length && runs[0]!.start < firstSaid) {
    const opening: HeardTurn = { gaps: 0, insertedSilenceMs: 0, worstGapMs: 0 };
    reply(opening, 0, firstSaid);
    turns.push(opening);
  }
  for (let u = 0; u < said.length; u++) {
    const s = said[u]!;
    const turn: HeardTurn = {
      callerStartMs: ms(s.start),
      callerEndMs: ms(s.end),
      gaps: 0,
      insertedSilenceMs: 0,
      worstGapMs: 0,
    };
    const over = runAt(s.start);
    if (over >= 0) {
      // The agent stopped when it then stayed silent for stopHold (shorter gaps are playback hiccups).
      const j = stretch(over, stopHold);
      turn.bargeInStopMs = ms(runs[j]!.end - s.start);
    }
    reply(turn, s.end, said[u + 1]?.start ?? agent.length);
    turns.push(turn);
  }
  return { turns, summary: summarise(turns, ms(Math.min(caller.length, agent.length))) };
}

export function summarise(turns: HeardTurn[], audioMs: number): HeardSummary {
  const lat = turns.flatMap((t) => (t.heardLatencyMs === undefined ? [] : [t.heardLatencyMs]));
  const stop = turns.flatMap((t) => (t.bargeInStopMs === undefined ? [] : [t.bargeInStopMs]));
  const s: HeardSummary = {
    turns: turns.length,
    bargeIns: stop.length,
    insertedSilenceMs: turns.reduce((a, t) => a + t.insertedSilenceMs, 0),
    worstGapMs: turns.reduce((a, t) => Math.max(a, t.worstGapMs), 0),
    audioMs,
  };
  if (lat.length) {
    s.latencyP50Ms = percentile(lat, 0.5);
    s.latencyMaxMs = Math.max(...lat);
  }
  if (stop.length) {
    s.bargeInStopP50Ms = percentile(stop, 0.5);
    s.bargeInStopMaxMs = Math.max(...stop);
  }
  return s;
}

/** Nearest-rank percentile (q in 0..1) of a non-empty list. */
function percentile(values: number[], q: number): number {
  if (!values.length) return 0;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

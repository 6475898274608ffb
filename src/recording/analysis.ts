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
 * Positions are ms from the recording's first sample.
 */
import type { SileroModel } from '../media/silero-model.ts';
import type { HeardSummary, HeardTurn } from '../store/call-record.ts';

export type { HeardSummary, HeardTurn };

export const WINDOW = 256;
const FRAME_MS = 10;

export interface AnalysisOptions {
  sampleRate: number;
  /** Silero probability at which speech starts; ends below `negThreshold`. */
  threshold: number;
  negThreshold: number;
  /** Speech shorter than this is not an utterance (a cough, a click). */
  minSpeechMs: number;
  /** Non-speech that ends an utterance. */
  hangoverMs: number;
  /** Agent frames whose peak is at or below this are silence (G.711 idle decodes to 0 … ±8). */
  agentFloor: number;
  /** Silence inside a reply longer than this is inserted silence. */
  gapMs: number;
  /** Agent silence this long ends a reply (what follows is another reply, or nothing). */
  replyEndMs: number;
  /** After a barge-in, the agent has stopped once it stays silent this long. */
  stopHoldMs: number;
}

export const DEFAULT_ANALYSIS: AnalysisOptions = {
  sampleRate: 8000,
  threshold: 0.5,
  negThreshold: 0.35,
  minSpeechMs: 96,
  hangoverMs: 300,
  agentFloor: 16,
  gapMs: 40,
  replyEndMs: 1000,
  stopHoldMs: 200,
};

export interface Analysis {
  turns: HeardTurn[];
  summary: HeardSummary;
}

interface Span {
  start: number; // samples
  end: number; // samples, exclusive
}

/** Silero speech probability of each full 256-sample window of `pcm` (8 kHz), in order, one run at a time. */
/** Thrown by speechProbabilities when `stopped()` says so (between windows: a Silero run cannot be interrupted). */
export class AnalysisStoppedError extends Error {}

export async function speechProbabilities(
  model: SileroModel,
  pcm: Int16Array,
  stopped: () => boolean = () => false,
): Promise<Float32Array> {
  const { session, ort } = model;
  const context = 32;
  const input = new Float32Array(context + WINDOW);
  const state = new Float32Array(2 * 128);
  const feeds = {
    input: new ort.Tensor('float32', input, [1, input.length]),
    state: new ort.Tensor('float32', state, [2, 1, 128]),
    sr: new ort.Tensor('int64', BigInt64Array.from([8000n]), [1]),
  };
  const probName = session.outputNames[0] ?? 'output';
  const stateName = session.outputNames[1] ?? 'stateN';
  const n = Math.floor(pcm.length / WINDOW);
  const out = new Float32Array(n);
  for (let w = 0; w < n; w++) {
    if (stopped()) throw new AnalysisStoppedError('analysis stopped');
    input.copyWithin(0, WINDOW); // the last 32 samples of the previous window are the model's context
    for (let i = 0; i < WINDOW; i++) input[context + i] = pcm[w * WINDOW + i]! / 32768;
    const r = await session.run(feeds);
    state.set(r[stateName]!.data as Float32Array);
    out[w] = (r[probName]!.data as Float32Array)[0] ?? 0;
  }
  return out;
}

/** Caller utterances from window probabilities: hysteresis, minimum length and hangover (window units). */
export function utterances(probs: Float32Array, o: AnalysisOptions): Span[] {
  const winMs = (WINDOW * 1000) / o.sampleRate;
  const minWins = Math.ceil(o.minSpeechMs / winMs);
  const hangWins = Math.ceil(o.hangoverMs / winMs);
  const out: Span[] = [];
  let start = -1;
  let lastSpeech = -1;
  for (let w = 0; w <= probs.length; w++) {
    const p = w < probs.length ? probs[w]! : 0;
    if (start < 0) {
      if (p >= o.threshold) start = lastSpeech = w;
      continue;
    }
    if (p >= o.negThreshold) lastSpeech = w;
    if (w - lastSpeech >= hangWins || w === probs.length) {
      if (lastSpeech - start + 1 >= minWins) out.push({ start: start * WINDOW, end: (lastSpeech + 1) * WINDOW });
      start = -1;
    }
  }
  return out;
}

/** RMS of each 10 ms frame. */
function frameRms(pcm: Int16Array, frame: number): Float32Array {
  const n = Math.floor(pcm.length / frame);
  const out = new Float32Array(n);
  for (let f = 0; f < n; f++) {
    let s = 0;
    for (let i = f * frame; i < (f + 1) * frame; i++) s += pcm[i]! * pcm[i]!;
    out[f] = Math.sqrt(s / frame);
  }
  return out;
}

/**
 * Move an utterance's window-level edges to 10 ms frames: the first/last frame louder than a threshold set
 * from the utterance's own level (−35 dB under its loudest frame) and the channel's noise floor (+3.5 dB: a steady line's 10 ms frames vary far less than that), looked
 * for from a little outside the VAD's edges inwards (Silero starts late by up to two windows, and in a noisy line
 * ends late by several).
 */
function refine(u: Span, rms: Float32Array, frame: number, floor: number): Span {
  const f0 = Math.floor(u.start / frame);
  const f1 = Math.ceil(u.end / frame);
  let peak = 0;
  for (let f = f0; f < Math.min(f1, rms.length); f++) peak = Math.max(peak, rms[f]!);
  const th = Math.max(peak * 0.018, floor * 1.5, 20);
  const reach = Math.ceil((3 * WINDOW) / frame);
  let start = u.start;
  for (let f = Math.max(0, f0 - reach); f < Math.min(f1, rms.length); f++) {
    if (rms[f]! >= th) {
      start = f * frame;
      break;
    }
  }
  let end = u.end;
  for (let f = Math.min(rms.length - 1, f1 + reach); f >= f0; f--) {
    if (rms[f]! >= th) {
      end = (f + 1) * frame;
      break;
    }
  }
  return end > start ? { start, end } : u;
}

/** Audible runs of the agent channel (frame level, then to the sample inside the edge frames). */
export function agentRuns(pcm: Int16Array, o: AnalysisOptions): Span[] {
  const frame = Math.round((o.sampleRate * FRAME_MS) / 1000);
  const n = Math.floor(pcm.length / frame);
  const runs: Span[] = [];
  let start = -1;
  for (let f = 0; f <= n; f++) {
    let loud = false;
    if (f < n) {
      for (let i = f * frame; i < (f + 1) * frame; i++) {
        if (pcm[i]! > o.agentFloor || pcm[i]! < -o.agentFloor) {
          loud = true;
          break;
        }
      }
    }
    if (loud && start < 0) start = f;
    if (!loud && start >= 0) {
      let a = start * frame;
      while (a < (start + 1) * frame && Math.abs(pcm[a]!) <= o.agentFloor) a++;
      let b = f * frame;
      while (b > (f - 1) * frame && Math.abs(pcm[b - 1]!) <= o.agentFloor) b--;
      runs.push({ start: a, end: b });
      start = -1;
    }
  }
  // Zero crossings inside a tone or a word are not silence: join runs closer than one frame.
  const joined: Span[] = [];
  for (const r of runs) {
    const last = joined.at(-1);
    if (last && r.start - last.end < frame) last.end = r.end;
    else joined.push({ ...r });
  }
  return joined;
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

/** The format and sample data of a PCM WAV file (chunks walked, so LIST or other chunks before data are fine). */
export function parseWav(buf: Buffer): { sampleRate: number; channels: number; bits: number; data: Buffer } {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE')
    throw new Error('not a RIFF/WAVE file');
  let off = 12;
  let fmt: { sampleRate: number; channels: number; bits: number; format: number } | undefined;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    let size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('WAV data before its fmt chunk');
      if (fmt.format !== 1 && fmt.format !== 0xfffe) throw new Error(`WAV format ${fmt.format} is not PCM`);
      // A writer that died before fixing the header leaves 0 or 0xFFFFFFFF: take what is there.
      if (size === 0 || body + size > buf.length) size = buf.length - body;
      return { ...fmt, data: buf.subarray(body, body + size - (size % 2)) };
    }
    off = body + size + (size % 2);
  }
  throw new Error('WAV has no data chunk');
}

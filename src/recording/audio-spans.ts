/**
 * Where each channel is audible: the caller's utterances (Silero windows, edges moved to 10 ms frames by
 * energy) and the agent's audible runs (energy, edges to the sample). Pure and synchronous.
 */
import { type AnalysisOptions, FRAME_MS, type Span, WINDOW } from './analysis-options.ts';

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
export function frameRms(pcm: Int16Array, frame: number): Float32Array {
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
export function refine(u: Span, rms: Float32Array, frame: number, floor: number): Span {
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

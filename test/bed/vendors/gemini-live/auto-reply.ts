/**
 * autoReply: the fake answers by itself. It measures the energy of each 20 ms window of caller audio, replies
 * after speech followed by silence (or to text), and interrupts its reply when the caller talks over it.
 */
import type { SendAudioOptions } from './options.ts';
import { toBuffer } from './reply-wire.ts';
import { ToolCallSession } from './tool-calls.ts';

const WINDOW_MS = 20;

/**
 * Whether the RMS of the 16-bit LE samples in bytes [start, end) reaches `threshold` (rmsInt16LE(...) >= threshold,
 * exactly): read through an Int16Array when aligned, and stopped as soon as the running sum gets there.
 */
function reachesRms(buf: Buffer, start: number, end: number, threshold: number): boolean {
  const n = (end - start) >> 1;
  if (n === 0) return threshold <= 0;
  const at = buf.byteOffset + start;
  const samples = at % 2 === 0 ? new Int16Array(buf.buffer, at, n) : undefined;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = samples ? samples[i]! : buf.readInt16LE(start + 2 * i);
    sum += v * v;
    // The sum only grows: once the RMS over all n samples reaches the threshold it stays there.
    if ((i & 31) === 31 && Math.sqrt(sum / n) >= threshold) return true;
  }
  return Math.sqrt(sum / n) >= threshold;
}

export abstract class AutoReplySession extends ToolCallSession {
  /** Replies started by autoReply (continued from the handle's conversation when resumed). */
  autoTurns = 0;

  // Turn-taking state in audio time (speech and silence are carried over by a resumption handle).
  protected speechMs = 0;
  protected silenceRunMs = 0;
  private bargeSpeechMs = 0;
  private vadCarry: Buffer | undefined;
  /** A reply autoReply would have started while a tool call was unanswered (holdTurnsForTools). */
  private heldTurn: (() => void) | undefined;

  /** Energy per 20 ms window of caller audio; turn-taking in audio time. */
  protected override vad(pcm: Buffer, rate: number): void {
    const ar = this.opts.autoReply!;
    const threshold = ar.speechThreshold ?? 500;
    const minSpeechMs = ar.minSpeechMs ?? 200;
    const silenceMs = ar.silenceMs ?? 500;
    const bargeInMs = ar.bargeInMs ?? 60;
    const windowBytes = Math.round((rate * WINDOW_MS) / 1000) * 2;
    let buf = pcm;
    if (this.vadCarry !== undefined) {
      buf = Buffer.concat([this.vadCarry, pcm]);
      this.vadCarry = undefined;
    }
    let off = 0;
    for (; off + windowBytes <= buf.length; off += windowBytes) {
      const speech = reachesRms(buf, off, off + windowBytes, threshold);
      if (speech) {
        this.speechMs += WINDOW_MS;
        this.silenceRunMs = 0;
        if (this.replying) {
          this.bargeSpeechMs += WINDOW_MS;
          if (this.bargeSpeechMs >= bargeInMs) {
            // The caller talks over the reply: like the real service, interrupted then turnComplete.
            this.bargeSpeechMs = 0;
            this.interrupt();
            this.turnComplete();
          }
        }
      } else {
        this.bargeSpeechMs = 0;
        this.silenceRunMs += WINDOW_MS;
        if (this.silenceRunMs >= silenceMs) {
          if (this.speechMs >= minSpeechMs && !this.replying) this.startAutoReply(true);
          this.speechMs = 0;
        }
      }
    }
    if (off < buf.length) this.vadCarry = Buffer.from(buf.subarray(off));
  }

  protected override releaseHeldTurn(): void {
    if (this.pendingTools.size > 0 || this.heldTurn === undefined) return;
    const go = this.heldTurn;
    this.heldTurn = undefined;
    go();
  }

  private startAutoReply(afterSpeech: boolean): void {
    if (this.opts.holdTurnsForTools && this.pendingTools.size > 0) {
      // Like the service: the model does not go on while a call it made is unanswered.
      this.heldTurn = () => this.startAutoReply(afterSpeech);
      return;
    }
    const ar = this.opts.autoReply!;
    const turn = ++this.autoTurns;
    const gen = ++this.replyGen;
    this.replying = true;
    this.startGenerating();
    this.speechMs = 0;
    this.bargeSpeechMs = 0;
    const callerText =
      ar.transcripts === false ? undefined : (ar.transcripts?.caller ?? ((n: number) => `caller turn ${n}`))(turn);
    const agentText =
      ar.transcripts === false ? undefined : (ar.transcripts?.agent ?? ((n: number) => `agent reply ${n}`))(turn);
    const audio = typeof ar.replyAudio === 'function' ? ar.replyAudio(turn) : ar.replyAudio;
    if (afterSpeech && callerText !== undefined) this.sendInputTranscription(callerText);
    const opts: SendAudioOptions = {
      chunkMs: ar.chunkMs ?? 40,
      paceMs: ar.paceMs ?? 5,
      realtime: ar.realtime ?? false,
    };
    if (agentText !== undefined) opts.transcript = agentText;
    const pcm = toBuffer(audio);
    const playbackEnds = performance.now() + pcm.length / 48; // 24 kHz × 2 bytes = 48 bytes per ms
    const run = async () => {
      await this.streamAudio(gen, pcm, 24000, opts);
      if (this.replyGen !== gen || this.isClosed) return;
      this.generationComplete();
      if (ar.realtimePlayback !== false) {
        // Like the real service: turnComplete only once the client has (presumably) played the reply out;
        // caller speech until then still interrupts it.
        const left = playbackEnds - performance.now();
        if (left > 0) await this.sleep(left);
        if (this.replyGen !== gen || this.isClosed) return;
      }
      this.replying = false;
      this.turnComplete();
    };
    run().catch(() => {
      /* socket gone */
    });
  }

  protected override replyToClientText(): void {
    if (this.opts.autoReply && this.opts.autoReply.replyToText !== false) this.startAutoReply(false);
  }
}

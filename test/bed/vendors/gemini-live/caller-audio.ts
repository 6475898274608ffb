/** A fake Live session's caller audio: what arrived, how it arrived (gaps, late frames), waits on it. */
import { rateOf } from './protocol.ts';
import { LiveWireSession } from './wire-session.ts';

export abstract class CallerAudioSession extends LiveWireSession {
  /** Caller audio received, one Buffer per realtimeInput message (empty when recordAudio is off). */
  readonly audioChunks: Buffer[] = [];
  /** Total caller audio bytes received (counted even when recordAudio is off). */
  audioInBytes = 0;
  /** Caller audio arrival: largest gap between two audio messages (ms), and how many exceeded `lateAfterMs`. */
  maxAudioGapMs = 0;
  /** A gap above this counts as late (default 60: three 20 ms frames; raise it when frames are bigger). */
  lateAfterMs = 60;
  lateAudio = 0;
  /** Called for each late caller audio message with when the previous one arrived (performance.now()). */
  onLateAudio: ((previousAt: number) => void) | undefined = undefined;
  audioInMs = 0;
  /** Distinct mimeTypes of received audio. */
  readonly audioMimeTypes: string[] = [];
  /** The conversation's caller audio as the model has it: what the resumed handle held, then this connection's. */
  conversationAudio: Buffer[] = [];
  conversationAudioBytes = 0;
  /** performance.now() of the first and last caller audio on this connection (0: none). */
  firstAudioAt = 0;
  lastAudioAt = 0;

  private cachedAudioIn: Buffer | undefined;
  private audioWaiters: { ms: number; resolve: () => void }[] = [];

  /** All caller audio received so far, as one Buffer (16-bit LE PCM). */
  get audioIn(): Buffer {
    if (this.cachedAudioIn === undefined || this.cachedAudioIn.length !== this.audioInBytes) {
      this.cachedAudioIn = Buffer.concat(this.audioChunks);
    }
    return this.cachedAudioIn;
  }

  receivedAudioMs(): number {
    return this.audioInMs;
  }

  /** Resolves once at least `ms` of caller audio has arrived; rejects after `timeoutMs` or when the session closes. */
  waitForAudioMs(ms: number, timeoutMs = 2000): Promise<void> {
    if (this.audioInMs >= ms) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.audioWaiters = this.audioWaiters.filter((w) => w !== waiter);
        reject(new Error(`fake gemini session ${this.id}: only ${this.audioInMs} ms of audio ${why} (wanted ${ms})`));
      };
      const t = this.timer(
        timeoutMs,
        () => fail(`after ${timeoutMs} ms`),
        () => fail('when the session closed'),
      );
      const waiter = {
        ms,
        resolve: () => {
          this.clearTimer(t);
          resolve();
        },
      };
      this.audioWaiters.push(waiter);
    });
  }

  /** autoReply's turn-taking on caller audio, once setup is complete. */
  protected abstract vad(pcm: Buffer, rate: number): void;

  protected override onAudio(pcm: Buffer, mimeType: string): void {
    if (this.setup === undefined) {
      this.close(1007, 'Request contains an invalid argument.'); // audio before the setup frame
      return;
    }
    if (this.audioMimeTypes.length === 0 || !this.audioMimeTypes.includes(mimeType)) this.audioMimeTypes.push(mimeType);
    const rate = mimeType === 'audio/pcm;rate=16000' ? 16000 : rateOf(mimeType);
    this.audioInBytes += pcm.length;
    this.audioInMs += (pcm.length / 2 / rate) * 1000;
    // FreeSWITCH sends a frame every 20 ms; a gap of three frames means something on the way stalled.
    const now = performance.now();
    if (this.lastAudioAt > 0) {
      const gap = now - this.lastAudioAt;
      if (gap > this.maxAudioGapMs) this.maxAudioGapMs = gap;
      if (gap > this.lateAfterMs) {
        this.lateAudio++;
        this.onLateAudio?.(this.lastAudioAt);
      }
    } else {
      this.firstAudioAt = now;
    }
    this.lastAudioAt = now;
    this.conversationAudioBytes += pcm.length;
    if (this.recordAudio) {
      this.audioChunks.push(pcm);
      this.conversationAudio.push(pcm);
    }
    if (this.audioWaiters.length > 0) {
      const due = this.audioWaiters.filter((w) => this.audioInMs >= w.ms);
      if (due.length > 0) {
        this.audioWaiters = this.audioWaiters.filter((w) => this.audioInMs < w.ms);
        for (const w of due) w.resolve();
      }
    }
    if (this.opts.autoReply && this.setupCompleted) this.vad(pcm, rate);
  }
}

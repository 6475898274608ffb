import type { Logger } from '../../log.ts';
import { int16View } from '../../media/pcm.ts';
import { loadSileroModel, type SileroModel } from '../../media/silero-model.ts';
import { VoiceActivityDetector } from '../../media/vad.ts';
import type { Agent, AgentSink } from '../agent.ts';

export interface EchoAgentOptions {
  logger: Logger;
  /** Longest utterance kept (older audio is dropped). Default 15 s. */
  maxUtteranceMs?: number;
  /** Silence that ends a turn. Default 700 ms. */
  pauseMs?: number;
  loadVad?: () => Promise<SileroModel>;
}

const RATE = 8000;
const PREROLL_MS = 300;

/**
 * The no-key agent: plays back what the caller just said after each pause, so a newcomer can check SIP, RTP,
 * streaming and playback before adding vendor keys. It uses the same ingest, VAD and playout path as the real
 * agents: Silero VAD finds the caller's turns, the playout plays them back, and talking over the playback
 * interrupts it (barge-in) like it would interrupt Gemini.
 */
export class EchoAgent implements Agent {
  readonly kind = 'echo';
  readonly inputSampleRate = RATE;
  readonly #o: EchoAgentOptions;
  #sink: AgentSink | undefined;
  #vad: VoiceActivityDetector | undefined;
  /** Ring of the last maxUtterance + preroll of caller audio; the utterance is cut out of it. */
  #ring: Int16Array;
  #written = 0;
  #speechStartSample = -1;
  #closed = false;

  constructor(opts: EchoAgentOptions) {
    this.#o = opts;
    this.#ring = new Int16Array(((opts.maxUtteranceMs ?? 15000) + PREROLL_MS) * (RATE / 1000));
  }

  async start(sink: AgentSink): Promise<void> {
    this.#sink = sink;
    const model = await (this.#o.loadVad ?? loadSileroModel)();
    if (this.#closed) return;
    this.#vad = new VoiceActivityDetector(
      model,
      { sampleRate: RATE, minSpeechMs: 150, minSilenceMs: this.#o.pauseMs ?? 700 },
      {
        speechStart: (atMs) => this.#speechStart(atMs),
        speechEnd: (atMs) => this.#speechEnd(atMs),
      },
    );
    this.#o.logger.info('echo agent ready: it plays back what the caller says after each pause');
    // A short chime so the caller hears the playback path works before saying anything.
    sink.audio(chime(), RATE);
    sink.replyDone();
  }

  pushAudio(frame: Buffer): void {
    const vad = this.#vad;
    if (!vad) return;
    const samples = int16View(frame);
    const ring = this.#ring;
    const at = this.#written % ring.length;
    const first = Math.min(samples.length, ring.length - at);
    ring.set(samples.subarray(0, first), at);
    if (first < samples.length) ring.set(samples.subarray(first), 0);
    this.#written += samples.length;
    vad.push(frame);
  }

  #speechStart(atMs: number): void {
    const sink = this.#sink!;
    // Talking over the playback interrupts it, as it would interrupt a model.
    if (sink.playback().playing) sink.interrupted();
    this.#speechStartSample = Math.max(0, Math.round(((atMs - PREROLL_MS) * RATE) / 1000));
  }

  #speechEnd(atMs: number): void {
    if (this.#speechStartSample < 0) return;
    const end = Math.round((atMs * RATE) / 1000) + RATE / 10; // keep the last 100 ms (trailing consonants)
    const start = Math.max(this.#speechStartSample, this.#written - this.#ring.length, end - this.#ring.length);
    this.#speechStartSample = -1;
    const n = Math.min(end, this.#written) - start;
    if (n <= 0) return;
    const out = Buffer.allocUnsafe(n * 2);
    for (let i = 0; i < n; i++) out.writeInt16LE(this.#ring[(start + i) % this.#ring.length]!, i * 2);
    const sink = this.#sink!;
    sink.transcript('caller', `(${(n / RATE).toFixed(1)} s of speech)`, true);
    sink.transcript('agent', `(echo of ${(n / RATE).toFixed(1)} s)`, true);
    sink.audio(out, RATE);
    sink.replyDone();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#vad?.close();
    this.#vad = undefined;
  }
}

/** Two soft notes, 120 ms each, at 8 kHz. */
function chime(): Buffer {
  const out = Buffer.alloc(0.24 * RATE * 2);
  for (let i = 0; i < out.length / 2; i++) {
    const f = i < 0.12 * RATE ? 660 : 880;
    const env = Math.min(1, (i % (0.12 * RATE)) / 80, (0.12 * RATE - (i % (0.12 * RATE))) / 80);
    out.writeInt16LE(Math.round(Math.sin((2 * Math.PI * f * i) / RATE) * 5000 * env), i * 2);
  }
  return out;
}

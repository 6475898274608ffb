/**
 * In-memory cascade stages: the three contracts of src/agents/cascade/stages.ts with no sockets and no SDK,
 * for tests about what the agent decides (turns, history, replies, interruptions) rather than how a vendor's
 * wire behaves (the vendors/ fakes are for that). Each one records what the agent asked of it.
 *
 * - `EnergyStt`: speech is 20 ms windows at or above an RMS threshold, in audio time; after `endpointingMs`
 *   of silence that followed speech it sends the turn's scripted transcript as a final with speech_final.
 * - `ScriptedLlm`: streams a scripted reply a few words at a time; stops quietly when aborted.
 * - `ToneTts`: speaks each utterance as a tone, `msPerChar` of audio per character pushed, then `done`.
 *
 * Faults for long-call tests: `EnergyStt.lose()` and `ToneTts.drop()` end the connection as a vendor closing it
 * would (a retryable error naming why: idle, drop, 1011).
 */
import { rmsInt16LE } from './audio.ts';
import { StageError } from '../../src/agents/cascade/stages.ts';
import type {
  ChatMessage,
  LanguageModel,
  LlmRequest,
  SpeechToText,
  SttListener,
  TextToSpeech,
  TtsConnectionListener,
  TtsListener,
  TtsStream,
} from '../../src/agents/cascade/stages.ts';

const WINDOW_MS = 20;

export interface EnergySttOptions {
  /** Caller audio rate. Default 8000. */
  sampleRate?: number;
  /** What the caller "said" in their nth turn (n from 1). Default `caller turn n`. */
  transcript?: (turn: number) => string;
  /** RMS (int16) at or above which a 20 ms window is speech. Default 500. */
  speechThreshold?: number;
  /** Silence after speech that ends the turn. Default 300 ms (of audio). */
  endpointingMs?: number;
}

export class EnergyStt implements SpeechToText {
  readonly name = 'energy-stt';
  /** Turns sent as finals so far. */
  turns = 0;
  finalizeCalls = 0;
  connected = false;
  readonly #o: Required<EnergySttOptions>;
  #listener: SttListener | undefined;
  /** Audio seen, in samples; speech start / last speech end, in samples (-1: none pending). */
  #samples = 0;
  #speechFrom = -1;
  #lastSpeech = -1;

  constructor(opts: EnergySttOptions = {}) {
    this.#o = {
      sampleRate: 8000,
      transcript: (n) => `caller turn ${n}`,
      speechThreshold: 500,
      endpointingMs: 300,
      ...opts,
    };
  }

  async connect(listener: SttListener): Promise<void> {
    this.#listener = listener;
    this.connected = true;
  }

  sendAudio(frame: Buffer): void {
    if (!this.connected) return;
    const windowBytes = (this.#o.sampleRate / 1000) * WINDOW_MS * 2;
    for (let off = 0; off < frame.length; off += windowBytes) {
      const end = Math.min(frame.length, off + windowBytes);
      const speech = rmsInt16LE(frame, off, end) >= this.#o.speechThreshold;
      const at = this.#samples;
      this.#samples += (end - off) >> 1;
      if (speech) {
        if (this.#speechFrom < 0) {
          this.#speechFrom = at;
          this.#listener?.speechStarted(this.#sec(at));
        }
        this.#lastSpeech = this.#samples;
      } else if (
        this.#speechFrom >= 0 &&
        this.#samples - this.#lastSpeech >= (this.#o.endpointingMs * this.#o.sampleRate) / 1000
      ) {
        this.#final(true, false);
      }
    }
  }

  finalize(): void {
    this.finalizeCalls++;
    if (this.#speechFrom >= 0) this.#final(false, true);
  }

  async close(): Promise<void> {
    this.connected = false;
    this.#listener = undefined;
  }

  /** The stream is lost as when the service closes it: `lost` with a retryable error; `why` as reported. */
  lose(why = 'drop'): void {
    const listener = this.#listener;
    this.connected = false;
    this.#listener = undefined;
    listener?.lost(new StageError('stt', `energy-stt: stream lost (${why})`, true, { why }));
  }

  #final(speechFinal: boolean, fromFinalize: boolean): void {
    const start = this.#sec(this.#speechFrom);
    const end = this.#sec(this.#lastSpeech);
    this.#speechFrom = -1;
    const text = this.#o.transcript(++this.turns);
    const words = text.split(/\s+/).filter(Boolean);
    const step = (end - start) / Math.max(1, words.length);
    this.#listener?.result({
      text,
      isFinal: true,
      speechFinal,
      fromFinalize,
      start,
      duration: end - start,
      confidence: 0.98,
      words: words.map((word, i) => ({ word, start: start + i * step, end: start + (i + 1) * step, confidence: 0.98 })),
    });
  }

  #sec(samples: number): number {
    return samples / this.#o.sampleRate;
  }
}

export interface ScriptedLlmOptions {
  /** The reply to a request (default: `reply n` for the nth request). */
  reply?: (history: readonly ChatMessage[], n: number) => string;
  /** Words per streamed piece. Default 3. */
  wordsPerToken?: number;
}

export class ScriptedLlm implements LanguageModel {
  readonly name = 'scripted-llm';
  /** Every request, oldest first: the history the agent sent and whether it was aborted. */
  readonly requests: { systemInstructions: string; history: ChatMessage[]; aborted: boolean }[] = [];
  readonly #o: ScriptedLlmOptions;

  constructor(opts: ScriptedLlmOptions = {}) {
    this.#o = opts;
  }

  async *stream(req: LlmRequest): AsyncIterable<string> {
    const record = { systemInstructions: req.systemInstructions, history: [...req.history], aborted: false };
    this.requests.push(record);
    const text = this.#o.reply?.(req.history, this.requests.length) ?? `reply ${this.requests.length}`;
    const words = text.split(/(?<=\s)/);
    const per = this.#o.wordsPerToken ?? 3;
    for (let i = 0; i < words.length; i += per) {
      // A macrotask between pieces, as a network stream has: the agent can act (and abort) in between.
      await new Promise<void>((r) => setImmediate(r));
      if (req.signal.aborted) {
        record.aborted = true;
        return;
      }
      yield words.slice(i, i + per).join('');
    }
  }
}

export interface ToneTtsOptions {
  sampleRate?: number;
  /** Audio per character of text. Default 40 ms. */
  msPerChar?: number;
  /** Tone frequency. Default 440 Hz. */
  frequency?: number;
  /** Report word end times (each word ends where its characters' audio does), as Cartesia's timestamps. */
  wordTimes?: boolean;
}

export class ToneTts implements TextToSpeech {
  readonly name = 'tone-tts';
  readonly sampleRate: number;
  /** Every utterance opened, with the text pushed into it. */
  readonly utterances: { id: string; text: string; ended: boolean; cancelled: boolean }[] = [];
  #connected = false;
  readonly #msPerChar: number;
  readonly #frequency: number;
  readonly #wordTimes: boolean;
  readonly #timers = new Set<NodeJS.Immediate>();
  #connListener: TtsConnectionListener | undefined;
  /** Utterances not yet done or cancelled: `drop()` fails them. */
  readonly #live = new Map<string, (err: StageError) => void>();

  constructor(opts: ToneTtsOptions = {}) {
    this.sampleRate = opts.sampleRate ?? 8000;
    this.#msPerChar = opts.msPerChar ?? 40;
    this.#frequency = opts.frequency ?? 440;
    this.#wordTimes = opts.wordTimes ?? false;
  }

  get connected(): boolean {
    return this.#connected;
  }

  async connect(listener: TtsConnectionListener): Promise<void> {
    this.#connListener = listener;
    this.#connected = true;
  }

  /** The connection is lost as when the service closes it: open utterances fail, then `lost`. */
  drop(why = 'drop'): void {
    if (!this.#connected) return;
    this.#connected = false;
    const err = new StageError('tts', `tone-tts: connection lost (${why})`, true, { why });
    for (const fail of [...this.#live.values()]) fail(err);
    this.#live.clear();
    this.#connListener?.lost(err);
  }

  open(listener: TtsListener): TtsStream {
    const u = { id: `tone-${this.utterances.length + 1}`, text: '', ended: false, cancelled: false };
    this.utterances.push(u);
    // Audio goes out on a later turn of the event loop, never inside push(): as from a socket.
    const later = (fn: () => void) => {
      const t = setImmediate(() => {
        this.#timers.delete(t);
        if (!u.cancelled) fn();
      });
      this.#timers.add(t);
    };
    this.#live.set(u.id, (err) => {
      u.cancelled = true; // nothing more of it arrives
      listener.error(err);
    });
    let chars = 0;
    return {
      id: u.id,
      push: (text) => {
        u.text += text;
        const pcm = this.#tone(text.length * this.#msPerChar);
        const words = this.#wordTimes ? this.#wordEnds(text, chars) : undefined;
        chars += text.length;
        if (pcm.length) {
          later(() => {
            if (words !== undefined && words.words.length > 0) listener.words?.(words);
            listener.audio(pcm);
          });
        }
      },
      end: () => {
        u.ended = true;
        later(() => {
          this.#live.delete(u.id);
          listener.done();
        });
      },
      cancel: () => {
        u.cancelled = true;
        this.#live.delete(u.id);
      },
    };
  }

  async close(): Promise<void> {
    this.#connected = false;
    this.#live.clear();
    for (const t of this.#timers) clearImmediate(t);
    this.#timers.clear();
  }

  /** Word end times of `text`, whose audio starts `charsBefore` characters into the utterance. */
  #wordEnds(text: string, charsBefore: number): { words: string[]; start: number[]; end: number[] } {
    const out = { words: [] as string[], start: [] as number[], end: [] as number[] };
    for (const m of text.matchAll(/\S+/g)) {
      out.words.push(m[0]);
      out.start.push(((charsBefore + m.index) * this.#msPerChar) / 1000);
      out.end.push(((charsBefore + m.index + m[0].length) * this.#msPerChar) / 1000);
    }
    return out;
  }

  #tone(ms: number): Buffer {
    const n = Math.round((ms * this.sampleRate) / 1000);
    const out = Buffer.alloc(n * 2);
    for (let i = 0; i < n; i++)
      out.writeInt16LE(Math.round(Math.sin((2 * Math.PI * this.#frequency * i) / this.sampleRate) * 6000), i * 2);
    return out;
  }
}

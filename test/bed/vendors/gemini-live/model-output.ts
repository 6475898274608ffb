/**
 * What the model says on a fake Live session: reply audio streamed in paced chunks, transcriptions, the turn's
 * end or interruption, goAway. Tests script these; autoReply drives the same methods.
 */
import { CallerAudioSession } from './caller-audio.ts';
import type { SendAudioOptions } from './options.ts';
import { DEADLINE_REASON } from './protocol.ts';
import { audioRecord, replyWire, toBuffer } from './reply-wire.ts';

export abstract class ModelOutputSession extends CallerAudioSession {
  /** Model audio bytes sent (24 kHz unless told otherwise). */
  audioOutBytes = 0;
  /** `interrupted: true` messages sent. */
  interruptions = 0;
  /** A goAway was sent (the 1011 close follows after its timeLeft). */
  goAwaySent = false;
  /** performance.now() of the goAway (0: not yet). */
  goAwayAt = 0;

  /** The reply being streamed; bumping it stops that reply at its next chunk. */
  protected replyGen = 0;
  protected replying = false;

  /**
   * Model audio (24 kHz 16-bit mono), chunked and paced faster than real time. Resolves when all of it
   * was sent, or early when the reply is interrupted (`interrupt()`, autoReply barge-in) or the session closes.
   */
  async sendAudio(pcm24k: Int16Array | Buffer, options: SendAudioOptions = {}): Promise<void> {
    const gen = ++this.replyGen;
    this.replying = true;
    this.startGenerating();
    try {
      await this.streamAudio(gen, toBuffer(pcm24k), 24000, options);
    } finally {
      if (this.replyGen === gen) this.replying = false;
    }
  }

  sendInputTranscription(text: string, finished?: boolean): void {
    this.send({ serverContent: { inputTranscription: finished === undefined ? { text } : { text, finished } } });
  }

  sendOutputTranscription(text: string, finished?: boolean): void {
    this.send({ serverContent: { outputTranscription: finished === undefined ? { text } : { text, finished } } });
  }

  /** `interrupted: true`; also stops a reply being sent by sendAudio/autoReply. */
  interrupt(): void {
    this.replyGen++;
    this.replying = false;
    this.interruptions++;
    this.send({ serverContent: { interrupted: true } });
    this.endGenerating();
  }

  generationComplete(): void {
    this.send({ serverContent: { generationComplete: true } });
    this.endGenerating();
  }

  turnComplete(): void {
    this.send({ serverContent: { turnComplete: true } });
    this.endGenerating();
  }

  /**
   * `goAway` with `timeLeft` as a protobuf Duration string, e.g. "10s"; like the service, the connection is closed
   * with 1011 once `ms` has passed (unless `close: false`).
   */
  goAway(ms: number, close = true): void {
    this.goAwaySent = true;
    this.goAwayAt = performance.now();
    this.send({ goAway: { timeLeft: `${ms / 1000}s` } });
    if (close) this.timer(ms, () => this.close(1011, DEADLINE_REASON));
  }

  usageMetadata(
    meta: Record<string, unknown> = { promptTokenCount: 0, responseTokenCount: 0, totalTokenCount: 0 },
  ): void {
    this.send({ usageMetadata: meta });
  }

  /** A reply starts being generated (session resumption: handles stop being resumable). */
  protected abstract startGenerating(): void;

  /** The reply's generation ended (interrupted, generationComplete or turnComplete). */
  protected abstract endGenerating(): void;

  /** Stream `pcm` as reply `gen` until it is all sent or another reply (or interrupt) replaces it. */
  protected async streamAudio(gen: number, pcm: Buffer, rate: number, options: SendAudioOptions): Promise<void> {
    const chunkMs = options.chunkMs ?? 40;
    const paceMs = options.paceMs ?? 5;
    const chunkBytes = Math.max(2, Math.round((rate * chunkMs) / 1000) * 2);
    const mimeType = `audio/pcm;rate=${rate}`;
    const words = options.transcript ? options.transcript.split(/(?<=\s)/) : [];
    let w = 0;
    const t0 = performance.now();
    for (let off = 0, k = 1; off < pcm.length; off += chunkBytes, k++) {
      if (this.replyGen !== gen || this.isClosed) return;
      const chunk = pcm.subarray(off, Math.min(off + chunkBytes, pcm.length));
      this.audioOutBytes += chunk.length;
      if (!this.recordAudio && w >= words.length) {
        // The same reply audio every turn (autoReply): its messages are serialized once, not per session and turn.
        const wire = replyWire.message(pcm, rate, chunkBytes, off / chunkBytes, this.opts.textFrames === true);
        this.sent.push(audioRecord(mimeType, chunk.length));
        if (typeof wire === 'string') this.ws.send(wire);
        else this.ws.send(wire, { binary: true });
        if (off + chunkBytes < pcm.length)
          await this.sleep(options.realtime ? Math.max(0, t0 + k * chunkMs - performance.now()) : paceMs);
        continue;
      }
      const data = chunk.toString('base64');
      const serverContent: Record<string, any> = { modelTurn: { parts: [{ inlineData: { mimeType, data } }] } };
      if (w < words.length) serverContent.outputTranscription = { text: words[w++] };
      if (this.recordAudio) {
        this.send({ serverContent });
      } else {
        // Keep the record small: replace the payload in what is remembered, send the real thing.
        const json = JSON.stringify({ serverContent });
        serverContent.modelTurn = { parts: [{ inlineData: { mimeType, data: `<${chunk.length} bytes>` } }] };
        this.sent.push({ serverContent });
        if (this.opts.textFrames) this.ws.send(json);
        else this.ws.send(Buffer.from(json), { binary: true });
      }
      if (off + chunkBytes < pcm.length)
        await this.sleep(options.realtime ? Math.max(0, t0 + k * chunkMs - performance.now()) : paceMs);
    }
    if (this.replyGen === gen && w < words.length) this.sendOutputTranscription(words.slice(w).join(''));
  }

  /** A new generation ends any reply being streamed (sendAudio, autoReply). */
  protected override stop(): void {
    super.stop();
    this.replyGen++;
  }

  protected override onClosed(): void {
    super.onClosed();
    this.replying = false;
  }
}

/**
 * The mod_audio_stream side of one `uuid_audio_stream <uuid> start ...`: a real WebSocket client (package `ws`)
 * that sends the caller's audio as binary L16 frames, the start metadata and `send_text`/`stop` texts as text
 * frames, and turns the server's text frames into `mod_audio_stream::*` events (writing `streamAudio` files
 * into the emulator's temp dir). Behaviour follows the captures (reference/captured, stream/modes/json/play).
 *
 * Its parts, one job each: the stream's lifecycle and frame path (here), the WebSocket it opens
 * (audio-stream-socket.ts), the `streamAudio` files and `::play` events (audio-stream-play.ts) and the shapes
 * they share (audio-stream-types.ts).
 */
import WebSocket from 'ws';
import type { TimerSet } from './async-tools.ts';
import { StreamPlays } from './audio-stream-play.ts';
import { connectError, openStreamSocket } from './audio-stream-socket.ts';
import type { StreamMix, StreamStart, StreamState, StreamVars } from './audio-stream-types.ts';

export { validStreamUrl } from './audio-stream-socket.ts';
export { STREAM_VAR_NAMES } from './audio-stream-types.ts';
export type { StreamMix, StreamStart, StreamState, StreamVars } from './audio-stream-types.ts';

export interface StreamHost {
  readonly uuid: string;
  readonly tmpDir: string;
  readonly timers: TimerSet;
  readonly handshakeTimeoutMs: number;
  readonly playDelayMs: number;
  readonly metadataAfterFrames: number;
  readonly connectBurstFrames: number;
  fireCustom(subclass: string, body: string): void;
  /** The module dropped the bug itself (connect error): MEDIA_BUG_STOP. */
  bugClosed(stream: AudioStream): void;
  /** Runs `n` media frames for this stream right away (frames FreeSWITCH captured while connecting). */
  burst(n: number): void;
  changed(): void;
}

export class AudioStream {
  readonly url: string;
  readonly mix: StreamMix;
  readonly rate: number;
  readonly metadata: string | undefined;
  /** STREAM_* channel variables as they were when `start` ran. */
  readonly vars: StreamVars;
  readonly startedAt = performance.now();
  state: StreamState = 'connecting';
  paused = false;
  /** 20 ms frames sent (a STREAM_BUFFER_SIZE message holds several). */
  framesSent = 0;
  binaryMessagesSent = 0;
  /** Text frames sent: metadata, send_text, stop text. */
  readonly textsSent: string[] = [];
  /** Binary frames received from the server (the module ignores them). */
  binaryIgnored = 0;
  readonly files: string[];
  /** Per accepted `streamAudio` message: when it arrived and the modelled delay before its `::play` event. */
  readonly plays: { receivedAt: number; delayMs: number }[];
  closeCode: number | undefined;
  closeReason: string | undefined;
  readonly framesPerMessage: number;

  readonly #host: StreamHost;
  readonly #ws: WebSocket;
  #pending: Int16Array[] = [];
  /** Messages captured before the socket opened, flushed first. */
  #held: Buffer[] = [];
  #metadataSent = false;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #streamPlays: StreamPlays;

  constructor(host: StreamHost, start: StreamStart) {
    this.#host = host;
    this.#streamPlays = new StreamPlays(host);
    this.files = this.#streamPlays.files;
    this.plays = this.#streamPlays.plays;
    this.url = start.url;
    this.mix = start.mix;
    this.rate = start.rate;
    this.metadata = start.metadata;
    this.vars = start.vars;
    const bufferMs = Number.parseInt(start.vars.STREAM_BUFFER_SIZE ?? '', 10);
    this.framesPerMessage = Number.isFinite(bufferMs) && bufferMs >= 20 ? Math.floor(bufferMs / 20) : 1;
    this.#ws = openStreamSocket(start, host.handshakeTimeoutMs);
    this.#ws.on('open', () => this.#opened());
    this.#ws.on('message', (data, isBinary) => this.#received(data as Buffer, isBinary));
    this.#ws.on('error', (err) => this.#failed(err));
    this.#ws.on('close', (code, reason) => this.#closed(code, reason.toString()));
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** True while the media bug is attached (a new `start` fails until `stop`). */
  get attached(): boolean {
    return this.state === 'connecting' || this.state === 'connected' || this.state === 'disconnected';
  }

  /** One 20 ms frame: what the channel read (`read`) and, while something plays, what it wrote (`written`). */
  pushFrame(read: Int16Array, written: Int16Array | undefined): void {
    if ((this.state !== 'connecting' && this.state !== 'connected') || this.paused) return;
    let frame: Int16Array;
    if (this.mix === 'mono') frame = read;
    else if (!written)
      return; // mixed/stereo send nothing while nothing plays to the caller
    else if (this.mix === 'mixed') frame = read.map((s, i) => Math.max(-32768, Math.min(32767, s + (written[i] ?? 0))));
    else {
      frame = new Int16Array(read.length * 2);
      for (let i = 0; i < read.length; i++) {
        frame[2 * i] = read[i]!;
        frame[2 * i + 1] = written[i] ?? 0;
      }
    }
    this.#pending.push(frame);
    if (this.#pending.length < this.framesPerMessage) return;
    const frames = this.#pending;
    this.#pending = [];
    const message = Buffer.concat(frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)));
    if (this.state === 'connecting') {
      if (this.#held.length < 100) this.#held.push(message);
      return;
    }
    this.#sendAudio(message, frames.length);
  }

  /** `send_text`: silently dropped unless connected (the reply is still +OK while the bug is attached). */
  sendText(text: string): void {
    if (this.state !== 'connected') return;
    this.#ws.send(text);
    this.textsSent.push(text);
  }

  /** `stop [text]` (or hangup): final text, close 1000 "Normal closure", temp files deleted. No event here. */
  stop(text?: string): void {
    if (this.state === 'stopped' || this.state === 'failed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'stopped';
    this.#cleanup();
    if (wasConnected) {
      if (text) this.#sendTextRaw(text);
      this.#ws.close(1000, 'Normal closure');
    } else if (this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.terminate();
    }
    this.#host.changed();
  }

  /** Fault injection: the TCP connection dies without a close frame (the server sees 1006). */
  dropConnection(): void {
    this.#ws.terminate();
  }

  /** Emulator shutdown: kill the socket without ceremony; resolves once it is closed. */
  destroy(): Promise<void> {
    if (this.state !== 'failed') this.state = 'stopped';
    this.#cleanup();
    if (this.#ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#ws.once('close', () => resolve()));
    this.#ws.terminate();
    return closed;
  }

  #sendTextRaw(text: string): void {
    this.#ws.send(text);
    this.textsSent.push(text);
  }

  #sendAudio(message: Buffer, frames: number): void {
    this.#ws.send(message);
    this.binaryMessagesSent++;
    this.framesSent += frames;
    if (!this.#metadataSent && this.binaryMessagesSent >= this.#host.metadataAfterFrames) this.#sendMetadata();
  }

  #sendMetadata(): void {
    this.#metadataSent = true;
    if (this.metadata) this.#sendTextRaw(this.metadata);
  }

  #opened(): void {
    if (this.state !== 'connecting') return;
    this.state = 'connected';
    this.#host.fireCustom('mod_audio_stream::connect', JSON.stringify({ status: 'connected' }));
    if (this.#host.metadataAfterFrames <= 0) this.#sendMetadata();
    const held = this.#held;
    this.#held = [];
    for (const m of held) this.#sendAudio(m, m.length / (this.mix === 'stereo' ? 4 : 2) / (this.rate / 50));
    if (this.#host.connectBurstFrames > 0) this.#host.burst(this.#host.connectBurstFrames);
    const beat = Number.parseInt(this.vars.STREAM_HEART_BEAT ?? '', 10);
    if (beat > 0)
      this.#heartbeat = this.#host.timers.every(beat * 1000, () => this.state === 'connected' && this.#ws.ping());
    this.#host.changed();
  }

  #failed(err: Error & { code?: string }): void {
    if (this.state !== 'connecting') return; // errors after stop/close are not the module's business
    this.state = 'failed';
    this.#cleanup();
    this.#host.fireCustom('mod_audio_stream::error', JSON.stringify({ status: 'error', message: connectError(err) }));
    this.#host.bugClosed(this);
    this.#host.changed();
  }

  #closed(code: number, reason: string): void {
    this.closeCode = code;
    this.closeReason = reason;
    if (this.state !== 'connected') return;
    // Server-initiated close (or a dead socket): the module reports it and keeps the bug attached.
    this.state = 'disconnected';
    this.#host.timers.cancel(this.#heartbeat);
    this.#host.fireCustom(
      'mod_audio_stream::disconnect',
      JSON.stringify({ status: 'disconnected', message: { code, reason } }),
    );
    this.#host.changed();
  }

  #received(data: Buffer, isBinary: boolean): void {
    if (this.state !== 'connected') return;
    if (isBinary) {
      this.binaryIgnored++;
      return;
    }
    const text = data.toString('utf8');
    const play = this.#streamPlays.accept(text);
    if (!play) this.#host.fireCustom('mod_audio_stream::json', text);
  }

  #cleanup(): void {
    this.#host.timers.cancel(this.#heartbeat);
    this.#streamPlays.clear();
  }
}

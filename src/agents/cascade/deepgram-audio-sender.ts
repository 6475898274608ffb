/**
 * Caller audio on its way to Deepgram: frames are joined into binary messages of at most DEEPGRAM_SEND_MS of
 * audio (a WebSocket message per frame costs a send, masking and a syscall, each), and counted as sent or as
 * dropped because the socket was backed up. Frames are ignored while there is no open socket.
 */
import type { VendorSocket } from '../vendor-socket.ts';

export class DeepgramAudioSender {
  /** Frames sent, and frames dropped because the socket was backed up. */
  framesSent = 0;
  framesDropped = 0;
  /** Audio bytes sent since the last message from Deepgram (stall detection; the connection resets it). */
  bytesSinceMessage = 0;

  /** Set only while open: the hot path checks just this. */
  #socket: VendorSocket | undefined;
  /** Caller audio waiting to go out as one message, and how many frames it holds. */
  #pending: Buffer;
  readonly #sendBytes: number;
  #pendingBytes = 0;
  #pendingFrames = 0;

  /** `sendMs` of audio at `sampleRate` is the most one message holds (0: every frame on its own). */
  constructor(sendMs: number, sampleRate: number) {
    this.#sendBytes = Math.floor((sendMs * sampleRate) / 1000) * 2;
    this.#pending = Buffer.alloc(this.#sendBytes);
  }

  /** Where frames go from now on; undefined: nowhere (the stream is lost or closing). */
  setSocket(socket: VendorSocket | undefined): void {
    this.#socket = socket;
  }

  /**
   * Hot path: the frame joins the audio waiting to go out, which goes as one binary message once another frame
   * like it would take it past sendMs (ws copies while masking, so the caller may reuse `frame`; each message gets
   * a buffer of its own). A frame of sendMs or more goes on its own.
   */
  push(frame: Buffer): void {
    if (this.#socket === undefined) return;
    const n = frame.length;
    if (this.#pendingBytes + n > this.#sendBytes) {
      this.flush();
      if (n > this.#sendBytes) return this.#send(frame, 1);
    }
    frame.copy(this.#pending, this.#pendingBytes);
    this.#pendingBytes += n;
    this.#pendingFrames++;
    if (this.#pendingBytes + n > this.#sendBytes) this.flush();
  }

  /** The audio waiting (if any) as one message. */
  flush(): void {
    const bytes = this.#pendingBytes;
    const frames = this.#pendingFrames;
    if (bytes === 0) return;
    this.#pendingBytes = 0;
    this.#pendingFrames = 0;
    // The sent buffer is never written again: a socket that negotiated compression deflates it later.
    const audio = this.#pending.subarray(0, bytes);
    this.#pending = Buffer.allocUnsafe(this.#sendBytes);
    this.#send(audio, frames);
  }

  /** The audio still waiting goes on `socket` (uncounted) ahead of the close. */
  sendRest(socket: VendorSocket): void {
    if (this.#pendingBytes > 0) socket.send(this.#pending.subarray(0, this.#pendingBytes));
    this.#pendingBytes = 0;
  }

  #send(audio: Buffer, frames: number): void {
    const sent = this.#socket?.send(audio) ?? 'closed';
    if (sent === 'sent') {
      this.framesSent += frames;
      this.bytesSinceMessage += audio.length;
    } else if (sent === 'backed-up') {
      this.framesDropped += frames;
    }
  }
}

/**
 * Client messages on their way to the service: caller audio (hot path) and everything else (texts, tool
 * responses), numbered in the replay ring so a resumption re-sends what the newest handle does not hold, and
 * sent on the connection in use (none while resuming: they wait in the ring).
 */
import type { Logger } from 'pino';
import { audioMessageBytes } from './live-audio.ts';
import type { LiveConnection } from './live-connection.ts';
import type { ReplayRing } from './resumption.ts';

/** Texts held while the first connection opens. */
const MAX_EARLY = 16;

export class LiveOutbox {
  /** Caller frames dropped because the socket was backed up. */
  droppedFrames = 0;
  /** Caller frames sent (replays not counted). */
  sentFrames = 0;
  /** The connection in use; undefined while connecting or resuming. */
  conn: LiveConnection | undefined;
  readonly #ring: ReplayRing;
  readonly #log: Logger;
  /**
   * Texts asked for before the first connection was up: not in the ring yet, since the first handle (which
   * may come before setupComplete) would count them as held.
   */
  #early: string[] | undefined = [];

  constructor(ring: ReplayRing, log: Logger) {
    this.#ring = ring;
    this.#log = log;
  }

  /**
   * Hot path. The message is built by hand (live-audio.ts) and sent on the SDK's socket (which also gives
   * backpressure); the ring keeps the frame's bytes (frame-log.ts), so a resumption can re-send what the newest
   * handle does not hold. No log, no object kept per frame.
   */
  audio(frame: Buffer): void {
    const conn = this.conn;
    if (conn === undefined) {
      this.#ring.pushAudio(frame); // resuming: sent when the new connection is up
      return;
    }
    const sent = conn.sendBytes(audioMessageBytes(frame));
    if (sent === 'sent') {
      this.sentFrames++;
      this.#ring.pushAudio(frame);
    } else if (sent === 'closed') {
      this.#ring.pushAudio(frame); // the close is being reported: a resumption re-sends it
    } else if (this.droppedFrames++ === 0) {
      this.#log.warn({ bufferedAmount: conn.bufferedAmount }, 'gemini live socket backed up: dropping caller audio');
    }
  }

  /** A client message other than audio, sent even when the socket is backed up. */
  text(msg: string): void {
    if (this.#early !== undefined) {
      if (this.#early.length < MAX_EARLY) this.#early.push(msg);
      return;
    }
    this.#ring.push(msg);
    if (this.conn !== undefined && !this.conn.sendAlways(msg)) this.#log.warn('gemini live: a message was not sent');
  }

  /** The first connection is up: the texts held meanwhile go out. */
  opened(conn: LiveConnection): void {
    this.conn = conn;
    const early = this.#early ?? [];
    this.#early = undefined;
    for (const msg of early) this.text(msg);
  }

  close(): void {
    this.conn = undefined;
    this.#early = undefined;
    this.#ring.clear();
  }
}

/**
 * The contract between the media WebSocket (http/) and the calls it carries (calls/). http/ knows nothing
 * about sessions; it hands each accepted socket to a MediaRouter and feeds what arrives to the returned sink.
 */

/** What a call can do with its media socket. */
export interface MediaConnection {
  /** Send a text frame (mod_audio_stream `streamAudio`). False if the socket is not open. */
  sendText(text: string): boolean;
  close(code: number, reason: string): void;
}

/**
 * Where a media socket's traffic goes. `audio` is the hot path: one call per mod_audio_stream message
 * (STREAM_FRAME_MS).
 */
export interface MediaSink {
  audio(frame: Buffer): void;
  text(text: string): void;
  /** An empty or odd-length binary frame was dropped. */
  badFrame(bytes: number): void;
  closed(code: number, reason: string): void;
}

export type MediaAttachResult = { ok: true; sink: MediaSink } | { ok: false; code: number; reason: string };

export interface MediaRouter {
  /** A socket for `/stream/<callId>?token=<secret>` connected. */
  attach(callId: string, token: string, conn: MediaConnection): MediaAttachResult;
}

/** Close codes of the media socket: refusals, and the old socket of a call whose stream was restarted. */
export const MEDIA_CLOSE = {
  unknownCall: 4404,
  badToken: 4401,
  replaced: 4409,
  shuttingDown: 1001,
} as const;

/**
 * The WebSocket mod_audio_stream opens at `start` (package `ws`): the URL check, the handshake options the
 * captured libwsc build used, and the module's error body when the connect fails.
 */
import WebSocket from 'ws';
import { isObject, type StreamStart } from './audio-stream-types.ts';

/** `uuid_audio_stream ... start` URL check of the module: ws:// or wss://, host letters/digits/./- only, numeric port. */
export function validStreamUrl(url: string): boolean {
  const m = /^wss?:\/\/([^:/?#]*)(?::([^/?#]*))?/.exec(url);
  if (!m?.[1] || !/^[A-Za-z0-9.-]+$/.test(m[1])) return false;
  return m[2] === undefined || /^\d*$/.test(m[2]);
}

/** Starts connecting to `start.url` right away; the caller attaches the listeners. */
export function openStreamSocket(start: StreamStart, handshakeTimeoutMs: number): WebSocket {
  return new WebSocket(start.url, {
    handshakeTimeout: handshakeTimeoutMs,
    // The libwsc build offered no compression in the captured runs, whatever STREAM_MESSAGE_DEFLATE said.
    perMessageDeflate: false,
    headers: extraHeaders(start.vars.STREAM_EXTRA_HEADERS),
    // Frames stay masked (the MASK bit set, as a client must) with a zero key: callbridge unmasks them as
    // it would libwsc's random-key frames, but ws here skips copying and XOR-ing every outgoing frame.
    generateMask: zeroMask,
  });
}

/** The module's error body for a failed connect (code 6 and its text as captured; the others are guesses). */
export function connectError(err: Error & { code?: string }): { code: number; error: string } {
  if (err.code === 'ECONNREFUSED') return { code: 6, error: 'Connection refused (system error 111)' };
  if (/timed out/i.test(err.message)) return { code: 10, error: 'Connection timed out' };
  const http = /Unexpected server response: (\d+)/.exec(err.message);
  if (http) return { code: 6, error: `Unexpected HTTP status ${http[1]}` };
  return { code: 6, error: err.message };
}

function extraHeaders(json: string | undefined): Record<string, string> {
  if (!json) return {};
  try {
    const parsed: unknown = JSON.parse(json);
    if (!isObject(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

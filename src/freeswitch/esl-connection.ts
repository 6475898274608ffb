import { connect, type Socket } from 'node:net';
import { EslFrameParser, EslProtocolError, type EslFrame } from './esl-frames.ts';
import { eventFromJsonText, type RawEvent } from './events.ts';

/** A reply to one command: `command/reply` (Reply-Text) or `api/response` (body). */
export interface EslReply {
  readonly contentType: string;
  readonly replyText: string;
  readonly body: string;
  header(name: string): string | undefined;
}

export interface EslConnectionHandlers {
  /** `auth/request`: send `auth`. */
  authRequest(): void;
  event(e: RawEvent): void;
  /** `text/disconnect-notice`, `text/rude-rejection`. */
  notice(contentType: string, body: string): void;
  /** The peer sent something unparsable; the socket is being destroyed. */
  protocolError(err: Error): void;
  /** A handler threw while dealing with one frame; the connection carries on. */
  handlerError(err: unknown): void;
}

/**
 * One socket to mod_event_socket: frames in (EslFrameParser), commands out, replies matched to commands
 * first-in-first-out (FreeSWITCH answers a connection's commands one at a time, in order). Replaces modesl's
 * Connection so that no byte from the peer can throw out of the socket's data handler.
 */
export class EslConnection {
  readonly socket: Socket;
  readonly #parser: EslFrameParser;
  readonly #handlers: EslConnectionHandlers;
  readonly #replies: Array<(reply: EslReply) => void> = [];

  constructor(host: string, port: number, maxFrameBytes: number, handlers: EslConnectionHandlers) {
    this.#parser = new EslFrameParser(maxFrameBytes);
    this.#handlers = handlers;
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  /**
   * Writes one command (`line`, then `Name: value` header lines) in a single write. Every command takes a
   * reply slot, so later replies keep matching their commands. Callers validate what they put in (commands.ts).
   */
  send(line: string, headers: Readonly<Record<string, string>> | null, onReply: (reply: EslReply) => void): void {
    let text = `${line}\n`;
    if (headers) for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\n`;
    this.#replies.push(onReply);
    this.socket.write(`${text}\n`);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    let frames: EslFrame[];
    try {
      frames = this.#parser.push(chunk);
    } catch (err) {
      this.socket.destroy();
      this.#handlers.protocolError(err as Error);
      return;
    }
    for (const frame of frames) {
      if (this.socket.destroyed) return;
      try {
        this.#dispatch(frame);
      } catch (err) {
        if (err instanceof EslProtocolError) {
          this.socket.destroy();
          this.#handlers.protocolError(err);
          return;
        }
        this.#handlers.handlerError(err);
      }
    }
  }

  #dispatch(frame: EslFrame): void {
    const type = frame.headers.get('content-type') ?? '';
    switch (type) {
      case 'command/reply':
      case 'api/response': {
        const done = this.#replies.shift();
        done?.({
          contentType: type,
          replyText: frame.headers.get('reply-text') ?? '',
          body: frame.body,
          header: (n) => frame.headers.get(n.toLowerCase()),
        });
        return;
      }
      case 'text/event-json':
        return this.#handlers.event(eventFromJsonText(frame.body));
      case 'auth/request':
        return this.#handlers.authRequest();
      case 'text/disconnect-notice':
      case 'text/rude-rejection':
        return this.#handlers.notice(type, frame.body);
      default:
        return; // log/data, event plain/xml: not subscribed to
    }
  }
}

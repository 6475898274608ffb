/**
 * One inbound mod_event_socket connection: its auth and event subscription state, the write batching, and the
 * one-command-at-a-time rule of the real listener (events fired while a command runs are held back and sent
 * after its reply).
 */
import type { Socket } from 'node:net';
import type { FsEvent } from './event-templates.ts';
import {
  PacketParser,
  authRequest,
  disconnectNotice,
  eventAsJson,
  eventAsPlain,
  passesFilters,
  type EslPacket,
  type Filter,
} from './esl-wire.ts';

/** The server side a connection reports to (EslServer). */
export interface EslConnectionOwner {
  handle(conn: EslConnection, packet: EslPacket): Promise<string | undefined>;
  forget(conn: EslConnection): void;
}

export class EslConnection {
  readonly id: number;
  readonly socket: Socket;
  authed = false;
  format: 'json' | 'plain' | undefined;
  all = false;
  names = new Set<string>();
  subclasses = new Set<string>();
  filters: Filter[] = [];
  #busy = false;
  #held: FsEvent[] = [];
  #queue: EslPacket[] = [];
  #closed = false;
  #corked = false;
  #closeAfterReply = false;
  readonly #server: EslConnectionOwner;
  readonly #parser = new PacketParser();

  constructor(id: number, socket: Socket, server: EslConnectionOwner) {
    this.id = id;
    this.socket = socket;
    this.#server = server;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#queue.push(...this.#parser.push(chunk));
      void this.#drain();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#closed = true;
      server.forget(this);
    });
    this.write(authRequest());
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(text: string | Buffer): void {
    if (this.#closed || this.socket.destroyed) return;
    // What is written in one callback (a playback's stop, completion and next start; a reply and the events it
    // caused) leaves in one system call once it returns: the bytes and their order are the same, only the TCP
    // segments differ. (Waiting for setImmediate would batch more, but delays replies behind the loop's I/O.)
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(text);
  }

  deliver(event: FsEvent): void {
    if (!this.#wants(event)) return;
    if (this.#busy) this.#held.push(event);
    else this.write(this.format === 'plain' ? eventAsPlain(event) : eventAsJson(event));
  }

  close(): void {
    this.write(disconnectNotice());
    this.#closed = true;
    this.socket.end();
  }

  mayWant(name: string, subclass: string | undefined): boolean {
    if (!this.authed || !this.format) return false;
    if (this.all) return true;
    if (!this.names.has(name)) return false;
    return !(name === 'CUSTOM' && subclass && !this.subclasses.has(subclass));
  }

  #wants(event: FsEvent): boolean {
    if (!this.authed || !this.format) return false;
    if (this.all) return passesFilters(event, this.filters);
    if (!this.names.has(event.name)) return false;
    if (event.name === 'CUSTOM' && event.subclass && !this.subclasses.has(event.subclass)) return false;
    return passesFilters(event, this.filters);
  }

  async #drain(): Promise<void> {
    if (this.#busy) return;
    while (this.#queue.length && !this.#closed) {
      const packet = this.#queue.shift()!;
      this.#busy = true;
      try {
        const reply = await this.#server.handle(this, packet);
        if (reply) this.write(reply);
      } finally {
        this.#busy = false;
      }
      const held = this.#held;
      this.#held = [];
      for (const e of held) this.deliver(e);
      if (this.#closeAfterReply) this.close();
    }
  }

  closeAfterReply(): void {
    this.#closeAfterReply = true;
  }
}

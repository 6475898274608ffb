/**
 * mod_event_socket (inbound mode) over real TCP: auth, event subscriptions and filters per connection,
 * api / bgapi / sendmsg handed to the emulator, events serialized as `event json` or `event plain`.
 *
 * Like the real listener, a connection handles one command at a time: events fired while a command runs
 * (including a slow `api originate`) are held back and sent after its reply.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { FsEvent } from './event-templates.ts';
import {
  PacketParser,
  apiResponse,
  authRequest,
  commandReply,
  disconnectNotice,
  eventAsJson,
  eventAsPlain,
  passesFilters,
  type EslPacket,
  type Filter,
} from './esl-wire.ts';

export type CommandKind =
  | 'auth'
  | 'event'
  | 'nixevent'
  | 'noevents'
  | 'filter'
  | 'api'
  | 'bgapi'
  | 'sendmsg'
  | 'exit'
  | 'linger'
  | 'other';

export interface CommandRecord {
  /** performance.now() when it arrived. */
  at: number;
  kind: CommandKind;
  line: string;
  headers: Record<string, string>;
  body?: string;
  /** Which ESL connection sent it (1, 2, ... in accept order). */
  connection: number;
}

/** What the server needs from the emulator. */
export interface EslBackend {
  password(): string;
  record(command: CommandRecord): void;
  /** Runs an API command; returns the reply body exactly as FreeSWITCH writes it. */
  api(command: string, arg: string): Promise<string>;
  /** Runs an API command in the background; the backend fires its BACKGROUND_JOB. */
  bgapi(jobUuid: string, command: string, arg: string): void;
  /** Queues a sendmsg; returns the Reply-Text. */
  sendmsg(uuid: string, headers: Record<string, string>, body: string | undefined): string;
}

const KINDS = new Set<CommandKind>([
  'auth',
  'event',
  'nixevent',
  'noevents',
  'filter',
  'api',
  'bgapi',
  'sendmsg',
  'exit',
  'linger',
]);

class EslConnection {
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
  readonly #server: EslServer;
  readonly #parser = new PacketParser();

  constructor(id: number, socket: Socket, server: EslServer) {
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

export class EslServer {
  #server: Server | undefined;
  #connections = new Set<EslConnection>();
  #nextId = 1;
  #port = 0;
  readonly #backend: EslBackend;

  constructor(backend: EslBackend) {
    this.#backend = backend;
  }

  get port(): number {
    return this.#port;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  async listen(port: number): Promise<number> {
    const server = createServer((socket) => this.#connections.add(new EslConnection(this.#nextId++, socket, this)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this.#port;
  }

  /**
   * Stops accepting. `graceful`: each connection gets the disconnect notice and a FIN (destroyed if still
   * open 200 ms later); otherwise every socket is destroyed at once, like a crash.
   */
  async close(graceful: boolean): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    if (graceful) {
      const open = [...this.#connections];
      for (const c of open) c.close();
      const grace = setTimeout(() => this.dropConnections(), 200);
      await Promise.all(
        open.map((c) => (c.socket.closed ? undefined : new Promise((resolve) => c.socket.once('close', resolve)))),
      );
      clearTimeout(grace);
    } else {
      this.dropConnections();
    }
    await closed;
  }

  dropConnections(): void {
    for (const c of this.#connections) {
      c.socket.uncork(); // what was written before the crash left, as it would have without the batching
      c.socket.destroy();
    }
    this.#connections.clear();
  }

  injectRaw(raw: string | Buffer): void {
    for (const c of this.#connections) if (c.authed && !c.closed && !c.socket.destroyed) c.socket.write(raw);
  }

  /** Whether some connection may take an event of this name (its filters are not looked at: they need the headers). */
  wants(name: string, subclass: string | undefined): boolean {
    for (const c of this.#connections) if (c.mayWant(name, subclass)) return true;
    return false;
  }

  broadcast(event: FsEvent): void {
    for (const c of this.#connections) c.deliver(event);
  }

  forget(c: EslConnection): void {
    this.#connections.delete(c);
  }

  async handle(conn: EslConnection, packet: EslPacket): Promise<string | undefined> {
    const line = packet.line;
    const word = (line.split(/\s+/, 1)[0] ?? '').toLowerCase();
    const kind: CommandKind = KINDS.has(word as CommandKind) ? (word as CommandKind) : 'other';
    const record: CommandRecord = { at: performance.now(), kind, line, headers: packet.headers, connection: conn.id };
    if (packet.body !== undefined) record.body = packet.body;
    this.#backend.record(record);

    if (!conn.authed) {
      if (kind === 'auth' && line.slice(5).trim() === this.#backend.password()) {
        conn.authed = true;
        return commandReply('+OK accepted');
      }
      conn.closeAfterReply();
      return commandReply('-ERR invalid');
    }
    const rest = line.slice(word.length).trim();
    switch (kind) {
      case 'auth':
        return commandReply('-ERR already authenticated');
      case 'event':
        return this.#subscribe(conn, rest);
      case 'nixevent':
        return this.#unsubscribe(conn, rest);
      case 'noevents':
        conn.all = false;
        conn.names.clear();
        conn.subclasses.clear();
        conn.format = undefined;
        return commandReply('+OK no longer listening for events');
      case 'filter':
        return this.#filter(conn, rest);
      case 'api': {
        const [command, arg] = splitFirst(rest);
        return apiResponse(await this.#backend.api(command, arg));
      }
      case 'bgapi': {
        const jobUuid = headerOf(packet.headers, 'Job-UUID') || randomUUID();
        const [command, arg] = splitFirst(rest);
        this.#backend.bgapi(jobUuid, command, arg);
        return commandReply(`+OK Job-UUID: ${jobUuid}`, { 'Job-UUID': jobUuid });
      }
      case 'sendmsg': {
        const uuid = rest || headerOf(packet.headers, 'session-id') || '';
        return commandReply(this.#backend.sendmsg(uuid, packet.headers, packet.body));
      }
      case 'exit':
        conn.closeAfterReply();
        return commandReply('+OK bye');
      case 'linger':
        return commandReply('+OK will linger');
      default:
        if (word === 'nolinger') return commandReply('+OK will not linger');
        return commandReply('-ERR command not found');
    }
  }

  #subscribe(conn: EslConnection, rest: string): string {
    const words = rest.split(/\s+/).filter(Boolean);
    let format: 'json' | 'plain' = 'plain';
    const first = words[0]?.toLowerCase();
    if (first === 'json' || first === 'plain') {
      format = first;
      words.shift();
    } else if (first === 'xml') {
      return commandReply('-ERR event xml is not emulated (use json or plain)');
    }
    let keys = 0;
    let custom = false;
    for (const w of words) {
      if (custom) {
        conn.subclasses.add(w);
        continue;
      }
      const name = w.toUpperCase();
      if (name === 'ALL') conn.all = true;
      else if (!/^[A-Z_]+$/.test(name)) continue;
      conn.names.add(name);
      keys++;
      if (name === 'CUSTOM') custom = true;
    }
    if (!keys) return commandReply('-ERR no keywords supplied');
    conn.format = format;
    return commandReply(`+OK event listener enabled ${format}`);
  }

  #unsubscribe(conn: EslConnection, rest: string): string {
    const words = rest.split(/\s+/).filter(Boolean);
    if (!words.length) return commandReply('-ERR no keywords supplied');
    let custom = false;
    for (const w of words) {
      if (custom) {
        conn.subclasses.delete(w);
        continue;
      }
      const name = w.toUpperCase();
      if (name === 'CUSTOM') {
        custom = true;
        continue;
      }
      if (name === 'ALL') {
        conn.all = false;
        conn.names.clear();
        conn.subclasses.clear();
      }
      conn.names.delete(name);
    }
    return commandReply('+OK events nixed');
  }

  #filter(conn: EslConnection, rest: string): string {
    const [first, more] = splitFirst(rest);
    if (first.toLowerCase() === 'delete') {
      const [header, value] = splitFirst(more);
      if (!header) return commandReply('-ERR invalid syntax');
      if (header.toLowerCase() === 'all') {
        conn.filters = [];
        return commandReply('+OK filter deleted.');
      }
      conn.filters = conn.filters.filter(
        (f) => !(f.header.toLowerCase() === header.toLowerCase() && (!value || f.value === value)),
      );
      return commandReply(value ? `+OK filter deleted. [${header}]=[${value}]` : `+OK filter deleted. [${header}]`);
    }
    if (!first || !more) return commandReply('-ERR invalid syntax');
    conn.filters.push({ header: first, value: more });
    return commandReply(`+OK filter added. [${first}]=[${more}]`);
  }
}

function splitFirst(text: string): [string, string] {
  const t = text.trim();
  const space = t.indexOf(' ');
  return space < 0 ? [t, ''] : [t.slice(0, space), t.slice(space + 1).trim()];
}

function headerOf(headers: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

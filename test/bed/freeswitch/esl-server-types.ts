/**
 * The shapes mod_event_socket's emulation shares: what it records of each command and what it needs from the
 * emulator. esl-server.ts re-exports them for the emulator and the tests.
 */

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

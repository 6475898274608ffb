/** The errors EslClient (esl.ts, which re-exports them) rejects with; callers tell them apart by class. */

export class EslError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EslError';
  }
}
export class EslNotConnectedError extends EslError {}
export class EslTimeoutError extends EslError {}
/** FreeSWITCH answered `-ERR ...` (or `-USAGE`). */
export class EslCommandError extends EslError {
  readonly reply: string;
  constructor(command: string, reply: string) {
    super(`${command.split(' ', 2).join(' ')}: ${reply.trim()}`);
    this.reply = reply.trim();
  }
}

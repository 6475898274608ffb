/**
 * What ending a call settles beyond the session's own parts: the channel's hangup and the final status written
 * to the call's record. CallSession.end() decides when and in what order; these say how.
 */

import { EslNotConnectedError } from '../freeswitch/esl.ts';
import type { Logger } from '../log.ts';
import { finalStatus } from '../store/call-record.ts';
import { errorText } from '../errors.ts';
import type { CallBook } from './call-book.ts';
import type { CallControl } from './session-deps.ts';

/**
 * Hang the channel up. Resolves true when the ESL connection is gone: then nobody can hang the channel up or
 * say how the call ended (FreeSWITCH went away, or is unreachable). Other failures are logged.
 */
export function hangUpChannel(control: CallControl, log: Logger): Promise<boolean> {
  return control.hangup().then(
    () => false,
    (err: unknown) => {
      log.warn({ err: errorText(err) }, 'hangup command failed');
      return err instanceof EslNotConnectedError;
    },
  );
}

/** How a call ended, as its session saw it. */
export interface Ending {
  reason: string;
  endedAt: number;
  /** The ESL connection was gone when the channel was to be hung up. */
  connectionLost: boolean;
  /** The agent gave up: recorded as failed, whatever FreeSWITCH's hangup cause. */
  failed: boolean | undefined;
  hangupCause: string | undefined;
  /** Where a transfer that succeeded took the caller. */
  transferredTo: string | undefined;
}

/** Write the call's final status to its record; returns the session's end reason. */
export function recordEnding(book: CallBook, id: string, ending: Ending): string {
  const { reason, endedAt, hangupCause, transferredTo } = ending;
  if (ending.connectionLost) {
    const endReason = `FreeSWITCH connection lost (${reason})`;
    book.setStatus(id, 'failed', { endReason, endedAt });
    return endReason;
  }
  const answered = book.live(id)?.answeredAt !== undefined;
  const status = ending.failed ? 'failed' : finalStatus(hangupCause, answered);
  const endReason = transferredTo ? `transferred to ${transferredTo}` : reason;
  book.setStatus(id, status, { hangupCause, endReason, endedAt });
  return reason;
}

/** What a call counts (CallStats): zero when it starts, summed up in its last log line. */

import type { CallStats } from './session-deps.ts';

export function newCallStats(): CallStats {
  return { framesIn: 0, badFrames: 0, replies: 0, bargeIns: 0, firstCommandMs: [], bargeInMs: [], chunkFailures: 0 };
}

/** What a call's last log line says: how long it lasted and its counters. */
export function callSummary(stats: CallStats, durationMs: number) {
  const { framesIn, badFrames, replies, bargeIns, chunkFailures } = stats;
  return { durationMs, framesIn, badFrames, replies, bargeIns, chunkFailures };
}

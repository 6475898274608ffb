/** What a cascade call counted (the agent owns it; the reply side updates the reply counts). */
export interface CascadeStats {
  turns: number;
  ignoredTurns: number;
  replies: number;
  bargeIns: number;
  /** Replies dropped before they were heard because the caller went on talking. */
  abandonedReplies: number;
  llmRetries: number;
  ttsRetries: number;
  sttReconnects: number;
  ttsReconnects: number;
  /** Replies continued on a new TTS stream after their first one broke mid-reply. */
  ttsResumes: number;
  /** Model turns that called tools (each round of calls counts once). */
  toolRounds: number;
  faults: string[];
}

export function newCascadeStats(): CascadeStats {
  return {
    turns: 0,
    ignoredTurns: 0,
    replies: 0,
    bargeIns: 0,
    abandonedReplies: 0,
    llmRetries: 0,
    ttsRetries: 0,
    sttReconnects: 0,
    ttsReconnects: 0,
    ttsResumes: 0,
    toolRounds: 0,
    faults: [],
  };
}

/** The fields of the "cascade closed" log line. */
export function statsSummary(
  s: CascadeStats,
  historyMessages: number,
  vad: { windows: number; dropped: number } | undefined,
): Record<string, unknown> {
  return {
    turns: s.turns,
    ignored: s.ignoredTurns,
    replies: s.replies,
    bargeIns: s.bargeIns,
    abandoned: s.abandonedReplies,
    retries: s.llmRetries + s.ttsRetries,
    reconnects: s.sttReconnects + s.ttsReconnects,
    ttsResumes: s.ttsResumes,
    toolRounds: s.toolRounds,
    historyMessages,
    vadWindows: vad?.windows,
    vadDropped: vad?.dropped,
  };
}

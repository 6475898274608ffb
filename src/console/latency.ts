/** Per-turn latency as the chart draws it: pipeline marks of each reply, and heard latency where known. */

export interface TurnLatency {
  turn: number;
  /** When the reply started playing (or its last mark), ms from its first pipeline mark. */
  pipelineMs?: number;
  /** How long the caller waited, measured in the recording. */
  heardMs?: number;
  /** Every mark, for the tooltip. */
  marks: Record<string, number>;
}

export function turnLatencies(
  turns: Array<Record<string, number>>,
  heard: Array<{ heardLatencyMs?: number }> = [],
): TurnLatency[] {
  const n = Math.max(turns.length, heard.length);
  const out: TurnLatency[] = [];
  for (let i = 0; i < n; i++) {
    const marks = turns[i] ?? {};
    const values = Object.values(marks);
    const pipelineMs = marks['playbackStartMs'] ?? (values.length ? Math.max(...values) : undefined);
    const heardMs = heard[i]?.heardLatencyMs;
    out.push({
      turn: i + 1,
      ...(pipelineMs !== undefined && { pipelineMs }),
      ...(heardMs !== undefined && { heardMs }),
      marks,
    });
  }
  return out;
}

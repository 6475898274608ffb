import type { TranscriptEntry } from './types.ts';

/** One line of a call's timeline: an utterance (caller, agent), a tool call, or digits the caller pressed. */
export type TimelineItem =
  | { kind: 'line'; speaker: TranscriptEntry['speaker']; text: string; final: boolean; at: number }
  | { kind: 'dtmf'; digits: string; at: number; awaitingEvent?: boolean };

/** How the record's transcript writes the digits a caller pressed. */
const DTMF_LINE = /^DTMF: ([0-9A-D*#]+)$/;

/**
 * The conversation as it grows. The server sends the whole utterance so far each time (same speaker, same
 * `at`), so an interim line is replaced in place, by longer interim text and finally by the final text;
 * tool lines are always final and each is new. Digits come twice, as a caller line `DTMF: 12#` (also in
 * the record, so in a snapshot) and right after as a `dtmf` event: shown once, as digits.
 */
export class Timeline {
  readonly items: TimelineItem[] = [];

  /** Start over from a record's transcript (the event stream's snapshot). */
  reset(transcript: TranscriptEntry[]): void {
    this.items.length = 0;
    for (const e of transcript) this.transcript(e);
  }

  /** Returns the index of the item that changed. */
  transcript(e: TranscriptEntry): number {
    const digits = e.speaker === 'caller' && e.final ? DTMF_LINE.exec(e.text)?.[1] : undefined;
    if (digits) return this.items.push({ kind: 'dtmf', digits, at: e.at, awaitingEvent: true }) - 1;
    const line = { kind: 'line' as const, speaker: e.speaker, text: e.text, final: e.final, at: e.at };
    if (e.speaker !== 'tool') {
      const i = this.items.findIndex((x) => x.kind === 'line' && x.speaker === e.speaker && x.at === e.at);
      if (i >= 0) {
        this.items[i] = line;
        return i;
      }
    }
    return this.items.push(line) - 1;
  }

  dtmf(digits: string, at: number): number {
    const i = this.items.findLastIndex((x) => x.kind === 'dtmf' && x.awaitingEvent && x.digits === digits);
    const seen = this.items[i];
    if (seen?.kind === 'dtmf') {
      seen.awaitingEvent = false;
      return i;
    }
    return this.items.push({ kind: 'dtmf', digits, at }) - 1;
  }
}

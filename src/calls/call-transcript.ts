import type { Speaker } from '../agents/agent.ts';
import type { Logger } from '../log.ts';
import type { CallRecord, TranscriptEntry } from '../store/call-record.ts';

/**
 * Both sides of a call's conversation, kept in its record: one entry per utterance, replaced as partial
 * transcripts grow and closed by the final one (or a barge-in, or the call's end). Each change is reported.
 */
export class CallTranscript {
  readonly #record: CallRecord;
  readonly #changed: (entry: TranscriptEntry) => void;
  readonly #log: Logger;
  readonly #open: Partial<Record<Speaker, TranscriptEntry>> = {};

  constructor(record: CallRecord, changed: (entry: TranscriptEntry) => void, logger: Logger) {
    this.#record = record;
    this.#changed = changed;
    this.#log = logger;
  }

  /** The whole utterance so far (AgentSink `transcript`). */
  readonly update = (speaker: Speaker, text: string, final: boolean): void => {
    let entry = this.#open[speaker];
    if (!entry) {
      entry = { speaker, text, at: Date.now(), final: false };
      this.#record.transcript.push(entry);
      this.#open[speaker] = entry;
    }
    entry.text = text;
    if (final) this.close(speaker);
    else this.#changed(entry);
  };

  /** The speaker's utterance in progress is over. */
  close(speaker: Speaker): void {
    const entry = this.#open[speaker];
    if (!entry) return;
    entry.final = true;
    delete this.#open[speaker];
    this.#changed(entry);
    this.#log.debug({ speaker, text: entry.text }, 'utterance');
  }

  closeAll(): void {
    this.close('caller');
    this.close('agent');
  }
}

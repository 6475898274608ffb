/** What the queue needs from FreeSWITCH (the call session provides it over ESL). */
export interface PlaybackControl {
  /** Queue a fully written file behind what is already playing. Rejects if FreeSWITCH refused it. */
  play(path: string, chunkId: string): Promise<void>;
  /** Stop the current file and drop everything queued (`uuid_break <uuid> all`). Fire and forget. */
  stopAll(): void;
}

/** Timings the session logs and exports as metrics. */
export interface PlayoutObserver {
  /** First playback command of a reply, `ms` after its first audio reached the queue. */
  firstCommand?(ms: number): void;
  /** PLAYBACK_START of a reply's first chunk: the caller starts hearing it (`ms` after its first audio). */
  firstPlayback?(ms: number): void;
  /** A barge-in was handled; `broke` says a uuid_break was needed, `ms` how long handling took. */
  interrupted?(broke: boolean, ms: number): void;
  /** Everything queued has been played (or dropped) and no reply is arriving. */
  idle?(): void;
  /** FreeSWITCH could not play a chunk (FILE NOT FOUND, command refused, write failed). */
  chunkFailed?(reason: string): void;
  /** No converter was free: this reply goes out as WAV at the agent's rate and FreeSWITCH resamples it. */
  resamplerFallback?(): void;
  /** A chunk's file was in place `ms` after it was cut (a slow PLAYBACK_DIR shows here first). */
  written?(ms: number): void;
}

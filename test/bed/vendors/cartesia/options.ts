/** The Cartesia fake's options, scripted errors and recorded contexts (public: re-exported by ../cartesia.ts). */

export interface CartesiaErrorSpec {
  status_code: number;
  title: string;
  message: string;
  error_code?: string;
}

export interface CartesiaFakeOptions {
  /** The key the fake accepts; undefined accepts any non-empty key. */
  apiKey?: string;
  /** Turn upgrades away: `http-N` with that status, `destroy` drops the TCP connection, `hang` never answers. */
  refuse?: `http-${number}` | 'destroy' | 'hang';
  /** Refuse only the first N upgrades. Default: all. */
  refuseCount?: number;
  /** Audio per character of transcript. Default 60 ms (≈ speech at 15 chars/s). */
  msPerChar?: number;
  /** Audio per chunk message. Default 40 ms. */
  chunkMs?: number;
  /** Delay before the first chunk of each transcript (synthesis latency). Default 10 ms. */
  firstChunkDelayMs?: number;
  /** Delay between chunks. Default 2 ms; 0 = setImmediate. */
  paceMs?: number;
  /** Tone frequency. Default 440 Hz. */
  toneHz?: number;
  /** Keep every server message in `session.sent` (default true; off for long load runs). */
  recordSent?: boolean;
  /**
   * Return an error for a request instead of audio (`n` counts generation requests over the whole fake, from 1).
   * `thenClose`: close the socket right after the error, both frames in one TCP write (the client reads them at once).
   */
  failRequest?: (
    req: Record<string, any>,
    n: number,
  ) => (CartesiaErrorSpec & { thenClose?: { code: number; reason?: string } }) | undefined;
}

export interface FakeTtsContext {
  id: string;
  /** Transcripts received, in order (the final empty `continue:false` one included). */
  transcripts: string[];
  /** The first request's settings. */
  modelId: string;
  voice: unknown;
  outputFormat: { container: string; encoding: string; sample_rate: number };
  addTimestamps: boolean;
  language: string | undefined;
  /** `continue:false` received. */
  ended: boolean;
  cancelled: boolean;
  cancelledAt: number | undefined;
  /** `done` sent. */
  done: boolean;
  /** Audio bytes and ms sent. */
  audioBytes: number;
  audioMs: number;
  chunks: number;
  firstChunkAt: number | undefined;
  errored: CartesiaErrorSpec | undefined;
}

/** The emulator's knobs and their defaults (the timings measured on a real FreeSWITCH 1.10.12). */

export interface EmulatorOptions {
  /** ESL port; 0 (default) picks a free one. */
  eslPort?: number;
  /** ESL password. Default `ClueCon`. */
  password?: string;
  /** Where `streamAudio` files are written (FreeSWITCH's temp_dir). Default: a fresh dir under os.tmpdir(), removed on stop(). */
  tmpDir?: string;
  /** sendmsg playback on an idle channel: command → start. Default 25 (measured 21–40). */
  playbackStartDelayMs?: number;
  /** uuid_break → the current file stops. Default 25 (measured 23–32). */
  breakDelayMs?: number;
  /** uuid_broadcast lead frames before each item: caller talking / silent. Default {talking: 100, silent: 190}. */
  broadcastLeadMs?: number | { talking: number; silent: number };
  /** Wall-clock interval between the 20 ms audio frames sent to mod_audio_stream. Default 20; smaller = faster than real time. */
  frameIntervalMs?: number;
  /** `streamAudio` message → `mod_audio_stream::play` event. Default 14 (measured 12–17). */
  streamAudioPlayDelayMs?: number;
  /** mod_audio_stream WebSocket handshake timeout (the module's is 1 s). */
  wsHandshakeTimeoutMs?: number;
  /** Send the start metadata after this many audio messages (the real module may flush captured frames first). Default 0. */
  metadataAfterFrames?: number;
  /** Audio frames sent in a burst right after the WebSocket opens (observed: 2–3). Default 2. */
  connectBurstFrames?: number;
  /** restart(): how long ESL refuses connections. Default 500. */
  restartDownMs?: number;
  /** Keep every fired event in `emulator.eventLog` and `channel.events` (turn off for long benchmarks). Default true. */
  keepEventLog?: boolean;
  /** Keep the audio of every played file for `heardPcm()` (turn off for long benchmarks; segments are still recorded). Default true. */
  recordHeardAudio?: boolean;
  /** Gateways `sofia/gateway/<name>/...` accepts; others → -ERR INVALID_GATEWAY. Default: any name. */
  gateways?: string[];
}

export interface Settings {
  eslPort: number;
  password: string;
  playbackStartDelayMs: number;
  breakDelayMs: number;
  broadcastLeadMs: { talking: number; silent: number };
  frameIntervalMs: number;
  streamAudioPlayDelayMs: number;
  wsHandshakeTimeoutMs: number;
  metadataAfterFrames: number;
  connectBurstFrames: number;
  restartDownMs: number;
  keepEventLog: boolean;
  recordHeardAudio: boolean;
  gateways: string[] | undefined;
}

export function resolveSettings(o: EmulatorOptions): Settings {
  const lead = o.broadcastLeadMs ?? { talking: 100, silent: 190 };
  return {
    eslPort: o.eslPort ?? 0,
    password: o.password ?? 'ClueCon',
    playbackStartDelayMs: o.playbackStartDelayMs ?? 25,
    breakDelayMs: o.breakDelayMs ?? 25,
    broadcastLeadMs: typeof lead === 'number' ? { talking: lead, silent: lead } : lead,
    frameIntervalMs: o.frameIntervalMs ?? 20,
    streamAudioPlayDelayMs: o.streamAudioPlayDelayMs ?? 14,
    wsHandshakeTimeoutMs: o.wsHandshakeTimeoutMs ?? 1000,
    metadataAfterFrames: o.metadataAfterFrames ?? 0,
    connectBurstFrames: o.connectBurstFrames ?? 2,
    restartDownMs: o.restartDownMs ?? 500,
    keepEventLog: o.keepEventLog ?? true,
    recordHeardAudio: o.recordHeardAudio ?? true,
    gateways: o.gateways,
  };
}

import type { Config } from '../config.ts';
import type { FormatSetting } from '../playout/formats.ts';

/** How a call's media stream is set up (mod_audio_stream → our media WebSocket). */
export interface StreamSettings {
  /** Base of the URL mod_audio_stream connects to; the call's id and secret are appended. */
  wsUrl: string;
  heartbeatSeconds: number;
  /** Caller audio per mod_audio_stream message. */
  frameMs: number;
  /** How long `uuid_audio_stream start` may take to report `mod_audio_stream::connect`. */
  connectTimeoutMs: number;
  /**
   * How long a media socket that closed mid-call waits before the stream is restarted: a hangup closes the
   * socket too, and its CHANNEL_HANGUP, on its way, ends the call instead.
   */
  closeGraceMs: number;
}

/** How a call's agent audio becomes playback (see playout/). */
export interface PlayoutSettings {
  format: FormatSetting;
  transport: 'shared-dir' | 'stream';
  method: 'sendmsg' | 'broadcast';
  /** Where chunk files are written, and where FreeSWITCH finds them. */
  dir: string;
  freeswitchDir: string;
  /** `dir` is tmpfs: chunk files are written synchronously (see SharedDirTransport). */
  dirOnTmpfs: boolean;
  firstChunkMs: number;
  chunkMs: number;
  lowWaterMs: number;
  maxAheadMs: number;
}

/** The prompt played when the agent fails mid-call (see call-apology.ts). */
export interface ApologySettings {
  /** Path as FreeSWITCH sees it; undefined: hang up without a prompt. */
  file: string | undefined;
  /** Longest wait for the prompt to finish before hanging up anyway. */
  timeoutMs: number;
}

/** Everything a CallSession reads from the configuration. */
export interface SessionSettings {
  stream: StreamSettings;
  playout: PlayoutSettings;
  apology: ApologySettings;
}

const CLOSE_GRACE_MS = 1500;
/** The shipped prompt lasts about 5 s; a longer custom one is cut here rather than holding a dead call. */
const APOLOGY_TIMEOUT_MS = 10_000;

export function sessionSettings(config: Config, playbackOnTmpfs: boolean): SessionSettings {
  return {
    stream: {
      wsUrl: config.CALLBRIDGE_WS_URL,
      heartbeatSeconds: config.STREAM_HEARTBEAT_SECONDS,
      frameMs: config.STREAM_FRAME_MS,
      connectTimeoutMs: config.STREAM_CONNECT_TIMEOUT_MS,
      closeGraceMs: CLOSE_GRACE_MS,
    },
    playout: {
      format: config.PLAYBACK_FORMAT,
      transport: config.PLAYBACK_TRANSPORT,
      method: config.PLAYBACK_METHOD,
      dir: config.PLAYBACK_DIR,
      freeswitchDir: config.PLAYBACK_DIR_FREESWITCH,
      dirOnTmpfs: playbackOnTmpfs,
      firstChunkMs: config.PLAYBACK_FIRST_CHUNK_MS,
      chunkMs: config.PLAYBACK_CHUNK_MS,
      lowWaterMs: config.PLAYBACK_LOW_WATER_MS,
      maxAheadMs: config.PLAYBACK_MAX_AHEAD_MS,
    },
    apology: { file: config.APOLOGY_FILE, timeoutMs: APOLOGY_TIMEOUT_MS },
  };
}

import { neededKeys, type Pipeline } from './agents/vendors.ts';
import { type ParsedSettings, settingsSchema } from './config-schema.ts';
import { resolveNodes, type FreeswitchNode } from './freeswitch/nodes.ts';
import { isSecretName, redactUrlCredentials } from './secrets.ts';

/**
 * Builds the configuration callbridge runs with from environment variables, once at start: each setting checked
 * by the schema (config-schema.ts), then the checks across settings, then the derived values (the resolved
 * pipeline, the playback directory, the stream URL, the node list). A bad or missing value stops the process
 * with one message that lists all of them (not the first one only).
 */

export { CONFIG_VARIABLES, DEFAULT_APOLOGY_FILE, type Env } from './config-schema.ts';

export const DEFAULT_PLAYBACK_DIR = '/var/lib/callbridge/playback';

export interface Config
  extends Omit<
    ParsedSettings,
    | 'GOOGLE_API_KEY'
    | 'GEMINI_API_KEY'
    | 'PLAYBACK_DIR'
    | 'PLAYBACK_DIR_FREESWITCH'
    | 'AGENT_PIPELINE'
    | 'CALLBRIDGE_WS_URL'
    | 'RECORDING_DIR_FREESWITCH'
    | 'FREESWITCH_NODES'
  > {
  /** The default pipeline, `auto` resolved. */
  AGENT_PIPELINE: Pipeline;
  /** Why that pipeline (for the start-up log line). */
  AGENT_PIPELINE_SOURCE: string;
  /** GOOGLE_API_KEY, or GEMINI_API_KEY when only that one is set. */
  GOOGLE_API_KEY: string | undefined;
  PLAYBACK_DIR: string;
  /** PLAYBACK_DIR is the default: start-up may fall back to a per-user directory when the default is not writable. */
  PLAYBACK_DIR_DEFAULTED: boolean;
  /** Where FreeSWITCH sees PLAYBACK_DIR (the same path unless the shared volume is mounted elsewhere). */
  PLAYBACK_DIR_FREESWITCH: string;
  /** Where FreeSWITCH sees RECORDING_DIR (the same path unless the shared volume is mounted elsewhere). */
  RECORDING_DIR_FREESWITCH: string;
  /** CALLBRIDGE_WS_URL, or the URL derived from HTTP_HOST/HTTP_PORT when unset. */
  CALLBRIDGE_WS_URL: string;
  /** The FreeSWITCH nodes (at least one: `default` from FREESWITCH_ESL_HOST/PORT when FREESWITCH_NODES is empty). */
  FREESWITCH_NODES: FreeswitchNode[];
}

/** The stream URL FreeSWITCH on this machine can use to reach our listener. */
function streamUrlFor(host: string, port: number): string {
  const specific = /^[A-Za-z0-9.-]+$/.test(host) && host !== '0.0.0.0' && host !== 'localhost';
  return `ws://${specific ? host : '127.0.0.1'}:${port}`;
}

/** `got "..."` for a bad value, unless the setting holds a secret (which must never reach a log or terminal). */
function shownValue(name: string, value: string): string {
  if (isSecretName(name)) return '';
  return ` (got ${JSON.stringify(redactUrlCredentials(value)).slice(0, 60)})`;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Parse settings from an environment map (process.env by default). Empty strings count as unset. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(settingsSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') input[key] = v.trim();
  }
  const result = settingsSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const name = i.path.join('.');
      const shown = name in input ? shownValue(name, input[name]!) : '';
      return `${name}: ${i.message}${shown}`;
    });
    throw new ConfigError(problems);
  }
  const c = result.data;
  if (c.STREAM_FRAME_MS % 20)
    throw new ConfigError(['STREAM_FRAME_MS must be a multiple of 20 (mod_audio_stream buffers whole 20 ms frames)']);
  if (c.PLAYBACK_FIRST_CHUNK_MS % 20 || c.PLAYBACK_CHUNK_MS % 20) {
    throw new ConfigError([
      'PLAYBACK_FIRST_CHUNK_MS and PLAYBACK_CHUNK_MS must be multiples of 20 (FreeSWITCH pads other lengths with silence)',
    ]);
  }
  if (c.PLAYBACK_CHUNK_MS + c.PLAYBACK_LOW_WATER_MS > c.PLAYBACK_MAX_AHEAD_MS) {
    // A chunk only goes out while it fits under the cap: one that never fits starves FreeSWITCH (gaps).
    throw new ConfigError([
      `PLAYBACK_CHUNK_MS (${c.PLAYBACK_CHUNK_MS}) + PLAYBACK_LOW_WATER_MS (${c.PLAYBACK_LOW_WATER_MS}) must not exceed PLAYBACK_MAX_AHEAD_MS (${c.PLAYBACK_MAX_AHEAD_MS})`,
    ]);
  }
  const google = c.GOOGLE_API_KEY ?? c.GEMINI_API_KEY;
  const set: Record<string, unknown> = { ...c, GOOGLE_API_KEY: google };
  const missing = c.AGENT_PIPELINE === 'auto' ? [] : neededKeys(c.AGENT_PIPELINE).filter((k) => set[k] === undefined);
  const why = `required when AGENT_PIPELINE=${c.AGENT_PIPELINE} (or use AGENT_PIPELINE=auto)`;
  if (missing.length > 0) throw new ConfigError(missing.map((name) => `${name}: ${why}`));
  const loopback = c.HTTP_HOST === '127.0.0.1' || c.HTTP_HOST === '::1' || c.HTTP_HOST === 'localhost';
  if (!loopback && !c.API_TOKEN && !c.ALLOW_INSECURE_API) {
    throw new ConfigError([
      `HTTP_HOST=${c.HTTP_HOST} exposes the calls API beyond this machine: set API_TOKEN (callers then send Authorization: Bearer <token>), or ALLOW_INSECURE_API=true if something else guards it`,
    ]);
  }
  const {
    GEMINI_API_KEY,
    PLAYBACK_DIR,
    PLAYBACK_DIR_FREESWITCH,
    AGENT_PIPELINE,
    CALLBRIDGE_WS_URL,
    FREESWITCH_NODES,
    ...rest
  } = c;
  const playbackDir = PLAYBACK_DIR ?? DEFAULT_PLAYBACK_DIR;
  const wsUrl = CALLBRIDGE_WS_URL ?? streamUrlFor(c.HTTP_HOST, c.HTTP_PORT);
  return {
    ...rest,
    CALLBRIDGE_WS_URL: wsUrl,
    FREESWITCH_NODES: resolveNodes(FREESWITCH_NODES ?? [], {
      host: c.FREESWITCH_ESL_HOST,
      port: c.FREESWITCH_ESL_PORT,
      wsUrl,
    }),
    PLAYBACK_DIR: playbackDir,
    // The default written out (a copied .env.example) counts as the default: same fallback.
    PLAYBACK_DIR_DEFAULTED: playbackDir === DEFAULT_PLAYBACK_DIR,
    AGENT_PIPELINE: AGENT_PIPELINE === 'auto' ? (google ? 'gemini-live' : 'echo') : AGENT_PIPELINE,
    AGENT_PIPELINE_SOURCE:
      AGENT_PIPELINE === 'auto'
        ? google
          ? 'auto: GOOGLE_API_KEY is set'
          : 'auto: no GOOGLE_API_KEY'
        : 'AGENT_PIPELINE',
    GOOGLE_API_KEY: google,
    PLAYBACK_DIR_FREESWITCH: PLAYBACK_DIR_FREESWITCH ?? playbackDir,
    RECORDING_DIR_FREESWITCH: c.RECORDING_DIR_FREESWITCH ?? c.RECORDING_DIR,
  };
}

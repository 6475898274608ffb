import { hostname } from 'node:os';
import { z } from 'zod';
import { PIPELINES, VENDOR_ENV } from './agents/vendors.ts';
import { isFilePath } from './freeswitch/commands.ts';
import { parseNodeList } from './freeswitch/nodes.ts';
import { CONVERTER_NAMES } from './media/resampling/converter-names.ts';
import { PATTERNS } from './patterns.ts';

/**
 * The schema of every setting callbridge reads from environment variables: each one's type, range and default,
 * checked one by one. Checks across settings and the values derived from them (the resolved pipeline, the
 * playback directory, the stream URL, the node list) are loadConfig's job (config.ts).
 * `.env.example` and the README table list the same names; a test keeps the three in step.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(1).max(65535);
const ms = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A URL FreeSWITCH's mod_audio_stream accepts: ws/wss, host of letters, digits, dots and dashes only. */
const streamBaseUrl = z
  .string()
  .regex(
    /^wss?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/,
    'must be ws://host[:port] or wss://host[:port] with a host of letters, digits, dots and dashes only (mod_audio_stream rejects underscores and IPv6 literals)',
  )
  .transform((v) => v.replace(/\/$/, ''));

const absDir = z
  .string()
  .regex(/^\/[A-Za-z0-9._/-]*$/, 'must be an absolute path of letters, digits, ".", "_", "-" and "/"');

/** Where the FreeSWITCH image puts the apology prompt (freeswitch/Dockerfile). */
export const DEFAULT_APOLOGY_FILE = '/usr/local/freeswitch/sounds/callbridge/apology.wav';

export const settingsSchema = z.object({
  GEMINI_VOICE: z.string().regex(PATTERNS.voice).default('Puck'),
  AGENT_LANGUAGE: z.string().regex(PATTERNS.language).default('en-US'),
  SYSTEM_INSTRUCTIONS: z
    .string()
    .min(1)
    .default(
      'You are a helpful voice assistant on a phone call. Be concise, friendly and natural. ' +
        'Keep answers short and conversational: the caller hears you, they cannot see text.',
    ),

  /**
   * Which way of answering a call gets by default: Gemini Live (speech to speech), the cascade, or the echo
   * agent; `auto` = Gemini Live when GOOGLE_API_KEY is set, else echo (a stack with no keys still answers).
   */
  AGENT_PIPELINE: z.enum(['auto', ...PIPELINES]).default('auto'),
  // Each vendor's own variables (keys, endpoints, models, timeouts): agents/vendors.ts.
  ...VENDOR_ENV,

  FREESWITCH_ESL_HOST: z.string().min(1).default('127.0.0.1'),
  FREESWITCH_ESL_PORT: port.default(8021),
  FREESWITCH_ESL_PASSWORD: z.string().min(1).default('ClueCon'),
  ESL_COMMAND_TIMEOUT_MS: ms(100, 60000).default(5000),
  ESL_RECONNECT_MAX_MS: ms(100, 300000).default(10000),
  /**
   * Several FreeSWITCH nodes (freeswitch/nodes.ts): `name=host:port[|ws://url-it-streams-to]`, comma-separated,
   * all with FREESWITCH_ESL_PASSWORD. Empty: one node, `default`, at FREESWITCH_ESL_HOST/PORT.
   */
  FREESWITCH_NODES: z
    .string()
    .transform((v, ctx) => {
      const { nodes, problems } = parseNodeList(v);
      for (const message of problems) ctx.issues.push({ code: 'custom', message, input: v });
      return nodes;
    })
    .optional(),
  /** Calls (live and being dialled) this instance carries at most; 0: no limit. */
  MAX_CALLS: z.coerce.number().int().min(0).max(100000).default(0),
  /** A parked call over MAX_CALLS: `busy` hangs it up (USER_BUSY), `leave` leaves it parked, unanswered. */
  MAX_CALLS_ACTION: z.enum(['busy', 'leave']).default('busy'),
  /** Played by FreeSWITCH (a file on its host) before the USER_BUSY hang-up of MAX_CALLS_ACTION=busy. */
  MAX_CALLS_MESSAGE_FILE: z
    .string()
    .refine(isFilePath, 'must be an absolute path of letters, digits, ".", "_", "-" and "/" without .. segments')
    .optional(),

  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Empty: ws://<HTTP_HOST, or 127.0.0.1 when it is a wildcard>:<HTTP_PORT>, so a changed port cannot be missed. */
  CALLBRIDGE_WS_URL: streamBaseUrl.optional(),

  STREAM_CONNECT_TIMEOUT_MS: ms(200, 30000).default(3000),
  STREAM_HEARTBEAT_SECONDS: z.coerce.number().int().min(0).max(300).default(10),
  /** Caller audio per mod_audio_stream message (STREAM_BUFFER_SIZE), ms, a multiple of 20. */
  STREAM_FRAME_MS: z.coerce.number().int().min(20).max(200).default(60),
  MEDIA_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(640)
    .max(4 * 1024 * 1024)
    .default(65536),

  PLAYBACK_METHOD: z.enum(['sendmsg', 'broadcast']).default('sendmsg'),
  PLAYBACK_TRANSPORT: z.enum(['shared-dir', 'stream']).default('shared-dir'),
  PLAYBACK_DIR: absDir.optional(),
  PLAYBACK_DIR_FREESWITCH: absDir.optional(),
  PLAYBACK_FORMAT: z.enum(['auto', 'l16', 'wav', 'native']).default('auto'),
  PLAYBACK_FIRST_CHUNK_MS: ms(20, 1000).default(100),
  PLAYBACK_CHUNK_MS: ms(20, 2000).default(500),
  PLAYBACK_LOW_WATER_MS: ms(0, 2000).default(100),
  PLAYBACK_MAX_AHEAD_MS: ms(100, 5000).default(1000),
  /**
   * SPEEX_0..10: SpeexDSP's resampler (a few kB, made per reply); SINC_*, LINEAR: libsamplerate (pooled).
   * SPEEX_3: ~15× less CPU than SINC_FASTEST, flatter to 3.4 kHz, ≥ 80 dB alias rejection (bench/resamplers.ts).
   */
  RESAMPLER: z.enum(CONVERTER_NAMES).default('SPEEX_3'),
  /** libsamplerate converters only (Speex ones are made per reply). */
  RESAMPLER_POOL_START: z.coerce.number().int().min(0).max(512).default(8),
  /**
   * Most libsamplerate converters per rate pair (~1.6 MB each); a reply beyond goes out as WAV (FreeSWITCH
   * resamples it). No cap on Speex ones.
   */
  RESAMPLER_POOL_MAX: z.coerce.number().int().min(1).max(4096).default(64),
  /**
   * 1: resample agent audio in a worker thread (off the event loop, on a second core); 0: inline. `auto`: a
   * worker when the process may use more than one CPU and RESAMPLER is a libsamplerate one (on one CPU the
   * worker only adds messaging: measured 76 % vs 58 % CPU at 200 calls; Speex converters cost less than the
   * messages: ~2× the process CPU in a worker, bench/resamplers.ts).
   */
  DSP_THREADS: z.enum(['auto', '0', '1']).default('auto'),
  /**
   * Played when an agent fails mid-call and cannot be resumed, before the hang-up: a prompt on the FreeSWITCH
   * host (the image ships this one), not a TTS call that may fail too. `none`: hang up without it.
   */
  APOLOGY_FILE: z
    .string()
    .refine(
      (v) => v === 'none' || isFilePath(v),
      'must be `none` or an absolute path of letters, digits, ".", "_", "-" and "/" without .. segments',
    )
    .default(DEFAULT_APOLOGY_FILE)
    .transform((v) => (v === 'none' ? undefined : v)),

  LOG_FORMAT: z.enum(['json', 'text']).default('json'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  SHUTDOWN_TIMEOUT_MS: ms(0, 600000).default(10000),

  // ---- Calls API, outbound calls, per-call configuration, history (issue 4) ----
  API_TOKEN: z.string().min(16, 'use at least 16 characters').optional(),
  ALLOW_INSECURE_API: bool.default(false),
  MAX_REQUEST_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(65536),
  DEFAULT_GATEWAY: z.string().regex(PATTERNS.gateway).optional(),
  OUTBOUND_CALLER_ID: z.string().regex(PATTERNS.phoneNumber).optional(),
  ORIGINATE_TIMEOUT_SECONDS: z.coerce.number().int().min(5).max(300).default(45),
  CALLBACK_URL: z.url().optional(),
  CALLBACK_SECRET: z.string().min(16, 'use at least 16 characters').optional(),
  CALLBACK_TIMEOUT_MS: ms(100, 30000).default(2000),
  AGENT_PROFILES: z.string().optional(),
  AGENT_PROFILES_FILE: z.string().optional(),
  GREETING: z.string().min(1).max(2000).optional(),
  /** The default tools of every call: a JSON file read and checked at start (calls/tools/tool-config.ts). */
  TOOLS_FILE: z.string().min(1).optional(),
  // ---- Caller digits and call limits (per call: `dtmf` and `limits` in call-settings.ts) ----
  DTMF_INTERDIGIT_MS: ms(200, 30000).default(2000),
  /** `none`: collections end only by the inter-digit timeout or DTMF_MAX_DIGITS. */
  DTMF_TERMINATOR: z.enum(['#', '*', 'none']).default('#'),
  DTMF_BARGE_IN: bool.default(true),
  DTMF_MAX_DIGITS: z.coerce.number().int().min(1).max(64).default(32),
  SILENCE_TIMEOUT_S: z.coerce.number().int().min(0).max(3600).default(0),
  SILENCE_PROMPTS: z.coerce.number().int().min(0).max(10).default(2),
  SILENCE_PROMPT_TEXT: z.string().min(1).max(500).default('Are you still there?'),
  GOODBYE_TEXT: z.string().min(1).max(500).default('Thank you for calling. Goodbye!'),
  MAX_CALL_DURATION_S: z.coerce.number().int().min(0).max(86400).default(0),
  CALL_HISTORY_PATH: z.string().min(1).default('data/calls.db'),
  /** Call history in PostgreSQL (shared by several instances) instead of the SQLite file; empty: SQLite. */
  DATABASE_URL: z
    .string()
    .refine(
      (v) => /^postgres(ql)?:\/\/[^\s]+$/.test(v) && URL.canParse(v),
      'must be a postgres:// or postgresql:// URL (postgres://user:password@host:5432/database); leave it empty for SQLite at CALL_HISTORY_PATH',
    )
    .optional(),
  CALL_HISTORY_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  // ---- Several instances (calls/cluster-calls.ts; empty REDIS_URL: one instance, no Redis) ----
  /** Redis shared by the instances: call claims, live records, change stream, routed actions. */
  REDIS_URL: z
    .string()
    .refine(
      (v) => /^rediss?:\/\/[^\s]+$/.test(v) && URL.canParse(v),
      'must be a redis:// or rediss:// URL (redis://[:password@]host:6379[/db]); leave it empty for a single instance',
    )
    .optional(),
  /** This instance's name in the cluster (claims, routed actions); default `<hostname>-<pid>`. */
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, ".", "_" and "-", at most 64')
    .default(() => defaultInstanceId()),
  /** A call's claim lapses this long after its owner stopped renewing it (renewed every third of it). */
  CLAIM_LEASE_MS: ms(1000, 60000).default(3000),
  /** Prefix of every Redis key and channel (several clusters may share one Redis). */
  CLUSTER_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'letters, digits, ".", "_", ":" and "-", at most 64')
    .default('callbridge'),
  CALL_HISTORY_MAX_CALLS: z.coerce.number().int().min(100).max(10_000_000).default(100000),
  // ---- Call recording (per call: `recording` in call-settings.ts; files: calls/call-recording.ts) ----
  /** Off unless asked for: recording a call needs the caller told (and often their consent) in many places. */
  RECORDING: bool.default(false),
  RECORDING_DIR: absDir.default('/var/lib/callbridge/recordings'),
  RECORDING_DIR_FREESWITCH: absDir.optional(),
  RECORDING_ANNOUNCEMENT_FILE: z
    .string()
    .refine(isFilePath, 'must be an absolute path of letters, digits, ".", "_", "-" and "/" without .. segments')
    .optional(),
  TWILIO_SIP_URI: z
    .string()
    .regex(/^sips?:[^\s<>"']+$/, 'a SIP URI like sip:callbridge@203.0.113.7:5060')
    .optional(),
  TWILIO_SIP_USERNAME: z.string().min(1).optional(),
  TWILIO_SIP_PASSWORD: z.string().min(1).optional(),
  TWILIO_AUTH_TOKEN: z.string().min(1).optional(),
  TWILIO_WEBHOOK_URL: z.url().optional(),
  // ---- Web console and browser calls (http/routes/console.ts, calls/browser-tickets.ts) ----
  /** How long a console sign-in (a signed cookie) lasts. */
  CONSOLE_SESSION_HOURS: z.coerce.number().int().min(1).max(720).default(12),
  BROWSER_CALLS: bool.default(true),
  /** FreeSWITCH's SIP-over-WebSocket binding as the browser reaches it. */
  BROWSER_SIP_WS_URL: z
    .string()
    .regex(/^wss?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~/-]*)?$/, 'must be ws://host:port or wss://host:port[/path]')
    .default('ws://127.0.0.1:5066'),
  /** Whom the browser dials: FreeSWITCH's browser context answers only the agent extension. */
  BROWSER_SIP_TARGET: z
    .string()
    .regex(/^sips?:[A-Za-z0-9._~+-]+@[A-Za-z0-9.:[\]-]+$/, 'must be a SIP URI like sip:agent@127.0.0.1')
    .default('sip:agent@127.0.0.1'),
  /** Comma-separated stun:/turn: URLs handed to the browser's WebRTC stack. */
  BROWSER_ICE_SERVERS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^(stun|stuns|turn|turns):[^\s,]+$/, 'each must be a stun: or turn: URL'))),
  /** Signs browser-call tickets; empty: random per process (set the same on every instance behind one FreeSWITCH). */
  BROWSER_TICKET_SECRET: z.string().min(16, 'use at least 16 characters').optional(),
  BROWSER_TICKET_TTL_S: z.coerce.number().int().min(5).max(3600).default(60),
});

/** The settings as given (strings before coercion; what a test or a caller's env map may hold). */
export type Env = z.input<typeof settingsSchema>;
/** The settings after the schema: typed, defaults filled in, before loadConfig's checks and derived values. */
export type ParsedSettings = z.output<typeof settingsSchema>;

/** `<hostname>-<pid>`, cut and cleaned to fit INSTANCE_ID's pattern. */
function defaultInstanceId(): string {
  const pid = String(process.pid);
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .slice(0, 63 - pid.length) || 'callbridge';
  return `${host}-${pid}`;
}

/** Names of every variable callbridge reads (for the docs test). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(settingsSchema.shape);

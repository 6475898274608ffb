/**
 * What a GeminiLiveAgent is built from: the options, and the function that derives them for one call from the
 * environment and the call's settings.
 */
import type { Logger } from 'pino';
import type { AgentSettings } from '../agent.ts';
import type { googleSettings } from '../google-settings.ts';
import type { EnvOf } from '../vendor-settings.ts';
import type { LIVE_THINKING_LEVELS, geminiLiveSettings } from './settings.ts';
import type { LiveConnectionOptions } from './live-connection.ts';
import type { LiveConnectConfig } from '@google/genai';

const DEFAULT_MAX_BUFFERED = 256 * 1024;

export interface GeminiLiveAgentOptions {
  apiKey: string;
  /** e.g. 'gemini-3.8-live' (the SDK prefixes 'models/'). */
  model: string;
  /** Override of the API endpoint (tests, proxies), e.g. 'http://127.0.0.1:PORT'. Default: Google's. */
  baseUrl?: string;
  /** How long to wait for the socket to open and the model to answer the setup frame. */
  connectTimeoutMs: number;
  settings: AgentSettings;
  /** Child logger carrying the call uuid. */
  logger: Logger;
  /** Caller audio is dropped while more than this many bytes wait in the socket. Default 256 KiB (≈ 8 s). */
  maxBufferedBytes?: number;
  /**
   * How speakFirst() asks for an opening turn: `realtimeInput.text` (default) or a `clientContent` user turn.
   * Gemini 3.1 Live closes the session with 1007 on clientContent after setup (it only seeds history), so
   * realtime text is the default; client-content remains for older models.
   */
  speakFirstVia?: 'client-content' | 'realtime-text';
  thinkingLevel?: (typeof LIVE_THINKING_LEVELS)[number];
  proactiveAudio?: boolean;
  /** Sliding-window context compression. Default: trigger 64000, target 32000 tokens. */
  compression?: { triggerTokens: number; targetTokens: number };
  /** From losing a connection (or deciding to switch) to giving up on resuming it. Default 5000 ms. */
  resumeBudgetMs?: number;
  /** Ask for `lastConsumedClientMessageIndex` (`sessionResumption.transparent`). Default false. */
  transparent?: boolean;
  /** Keepalive ping period and the silence after which a connection counts as dead (0: off). 15 s / 60 s. */
  pingIntervalMs?: number;
  deadAfterMs?: number;
  /** Client messages kept for replay after a resumption. Default 1500 (30 s of 20 ms frames). */
  replayCapacity?: number;
}

/** GeminiLiveAgent options for one call: the environment, overridden by the call's settings. */
export function geminiLiveOptions(
  env: EnvOf<typeof geminiLiveSettings> & EnvOf<typeof googleSettings>,
  settings: AgentSettings,
  logger: Logger,
): GeminiLiveAgentOptions {
  return {
    apiKey: env.GOOGLE_API_KEY ?? '',
    model: settings.geminiModel ?? env.GEMINI_LIVE_MODEL,
    baseUrl: env.GEMINI_BASE_URL,
    connectTimeoutMs: env.GEMINI_CONNECT_TIMEOUT_MS,
    settings,
    logger,
    thinkingLevel: env.GEMINI_THINKING_LEVEL,
    proactiveAudio: env.GEMINI_PROACTIVE_AUDIO,
    compression: {
      triggerTokens: env.GEMINI_COMPRESSION_TRIGGER_TOKENS,
      targetTokens: env.GEMINI_COMPRESSION_TARGET_TOKENS,
    },
    resumeBudgetMs: env.GEMINI_RESUME_BUDGET_MS,
    transparent: env.GEMINI_RESUME_TRANSPARENT,
    pingIntervalMs: env.GEMINI_PING_INTERVAL_MS,
    deadAfterMs: env.GEMINI_DEAD_AFTER_MS,
  };
}

/** The options of one connection of the agent (its config built by live-setup.ts). */
export function connectionOptions(o: GeminiLiveAgentOptions, config: LiveConnectConfig): LiveConnectionOptions {
  return {
    apiKey: o.apiKey,
    model: o.model,
    baseUrl: o.baseUrl,
    config,
    transparent: o.transparent ?? false,
    maxBufferedBytes: o.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED,
    pingIntervalMs: o.pingIntervalMs ?? 15000,
    deadAfterMs: o.deadAfterMs ?? 60000,
    logger: o.logger,
  };
}

/**
 * What one Deepgram stream is opened with (DeepgramSttOptions), and how a call's options are made from the
 * environment and the call's own settings.
 */
import type { Logger } from '../../log.ts';
import type { AgentSettings } from '../agent.ts';
import type { EnvOf } from '../vendor-settings.ts';
import type { deepgramSettings } from './deepgram-settings.ts';

export interface DeepgramSttOptions {
  apiKey: string;
  /** Override of the endpoint (tests, proxies): `ws://host:port` (http/https are turned into ws/wss). */
  baseUrl?: string;
  /** e.g. 'nova-3', 'nova-2-phonecall'. */
  model: string;
  /** BCP-47 language, e.g. 'en-US' (omitted: the model's default). */
  language?: string;
  sampleRate: 8000 | 16000;
  /** Silence (ms) after which Deepgram marks a final `speech_final`. */
  endpointingMs: number;
  /** Gap in words (ms) after which Deepgram sends UtteranceEnd (Deepgram's minimum is 1000). */
  utteranceEndMs: number;
  connectTimeoutMs: number;
  /** A KeepAlive goes out when no audio was sent for this long (the service closes after ~10 s). Default 3000. */
  keepAliveMs?: number;
  /** Audio sent for this long without any message back → the stream counts as lost. Default 10000; 0 = off. */
  stallTimeoutMs?: number;
  /** Audio is dropped while more than this many bytes wait in the socket. Default 128 KiB (≈ 8 s at 8 kHz). */
  maxBufferedBytes?: number;
  /**
   * Caller frames are joined into messages of at most this much audio (ms): a WebSocket message per frame costs
   * a send (masking, a syscall) each. Default 0: every frame on its own.
   */
  sendMs?: number;
  logger: Logger;
}

/** DeepgramStt options for one call: the environment, overridden by the call's settings. */
export function deepgramOptions(
  env: EnvOf<typeof deepgramSettings>,
  settings: AgentSettings,
  sampleRate: 8000 | 16000,
  logger: Logger,
): DeepgramSttOptions {
  return {
    apiKey: env.DEEPGRAM_API_KEY ?? '',
    ...(env.DEEPGRAM_BASE_URL !== undefined ? { baseUrl: env.DEEPGRAM_BASE_URL } : {}),
    model: settings.deepgramModel ?? env.DEEPGRAM_MODEL,
    language: settings.language,
    sampleRate,
    endpointingMs: env.DEEPGRAM_ENDPOINTING_MS,
    utteranceEndMs: env.DEEPGRAM_UTTERANCE_END_MS,
    connectTimeoutMs: env.DEEPGRAM_CONNECT_TIMEOUT_MS,
    sendMs: env.DEEPGRAM_SEND_MS,
    logger,
  };
}

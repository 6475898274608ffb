import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Agent, AgentSettings } from './agent.ts';
import { GeminiLiveAgent } from './gemini-live/gemini-live-agent.ts';

export type AgentKind = 'gemini-live';

/** The agent a call gets when nothing more specific was asked for. */
export function defaultAgentKind(config: Config): AgentKind {
  return 'gemini-live';
}

/** Build an agent of `kind` for one call. New ways of answering are added here. */
export function createAgent(kind: AgentKind, config: Config, settings: AgentSettings, logger: Logger): Agent {
  switch (kind) {
    case 'gemini-live':
      return new GeminiLiveAgent({
        apiKey: config.GOOGLE_API_KEY ?? '',
        model: config.GEMINI_LIVE_MODEL,
        baseUrl: config.GEMINI_BASE_URL,
        connectTimeoutMs: config.GEMINI_CONNECT_TIMEOUT_MS,
        settings,
        logger,
      });
  }
}

export function defaultSettings(config: Config): AgentSettings {
  return { systemInstructions: config.SYSTEM_INSTRUCTIONS, voice: config.GEMINI_VOICE, language: config.AGENT_LANGUAGE };
}

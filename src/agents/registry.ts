import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { loadSileroModel } from '../media/vad.ts';
import type { Agent, AgentSettings, Pipeline } from './agent.ts';
import { CartesiaTts } from './cascade/cartesia-tts.ts';
import { CascadeAgent } from './cascade/cascade-agent.ts';
import { DeepgramStt } from './cascade/deepgram-stt.ts';
import { GeminiLlm } from './cascade/gemini-llm.ts';
import { EchoAgent } from './echo/echo-agent.ts';
import { GeminiLiveAgent } from './gemini-live/gemini-live-agent.ts';

/** Keys each pipeline needs; a call asking for one whose keys are missing gets the echo agent instead. */
export function missingKeys(pipeline: Pipeline, config: Config): string[] {
  const need: Array<[string, string | undefined]> =
    pipeline === 'gemini-live'
      ? [['GOOGLE_API_KEY', config.GOOGLE_API_KEY]]
      : pipeline === 'cascade'
        ? [
            ['DEEPGRAM_API_KEY', config.DEEPGRAM_API_KEY],
            ['GOOGLE_API_KEY', config.GOOGLE_API_KEY],
            ['CARTESIA_API_KEY', config.CARTESIA_API_KEY],
          ]
        : [];
  return need.filter(([, v]) => !v).map(([k]) => k);
}

/** Build the agent for one call. New ways of answering are added here. */
export function createAgent(pipeline: Pipeline, settings: AgentSettings, config: Config, logger: Logger): Agent {
  const missing = missingKeys(pipeline, config);
  if (missing.length > 0) {
    logger.warn({ pipeline, missing }, 'this pipeline has no keys configured; the echo agent answers instead');
    return new EchoAgent({ logger });
  }
  switch (pipeline) {
    case 'gemini-live':
      return new GeminiLiveAgent({
        apiKey: config.GOOGLE_API_KEY ?? '',
        model: settings.geminiModel ?? config.GEMINI_LIVE_MODEL,
        baseUrl: config.GEMINI_BASE_URL,
        connectTimeoutMs: config.GEMINI_CONNECT_TIMEOUT_MS,
        settings,
        logger,
      });
    case 'cascade':
      return createCascadeAgent(config, settings, logger);
    case 'echo':
      return new EchoAgent({ logger });
  }
}

/** The cascade with the configured vendors: Deepgram → Gemini (text) → Cartesia, Silero barge-in. */
export function createCascadeAgent(config: Config, settings: AgentSettings, logger: Logger): CascadeAgent {
  const sampleRate = 8000; // what FreeSWITCH streams for this agent; phone-call STT models like 8 kHz
  return new CascadeAgent({
    settings,
    logger,
    sampleRate,
    createStt: () =>
      new DeepgramStt({
        apiKey: config.DEEPGRAM_API_KEY ?? '',
        ...(config.DEEPGRAM_BASE_URL !== undefined ? { baseUrl: config.DEEPGRAM_BASE_URL } : {}),
        model: settings.deepgramModel ?? config.DEEPGRAM_MODEL,
        language: settings.language,
        sampleRate,
        endpointingMs: config.DEEPGRAM_ENDPOINTING_MS,
        utteranceEndMs: config.DEEPGRAM_UTTERANCE_END_MS,
        connectTimeoutMs: config.DEEPGRAM_CONNECT_TIMEOUT_MS,
        logger,
      }),
    llm: new GeminiLlm({
      apiKey: config.GOOGLE_API_KEY ?? '',
      model: settings.llmModel ?? config.GEMINI_TEXT_MODEL,
      ...(config.GEMINI_BASE_URL !== undefined ? { baseUrl: config.GEMINI_BASE_URL } : {}),
      timeoutMs: config.GEMINI_TEXT_TIMEOUT_MS,
      thinking: config.GEMINI_TEXT_THINKING,
    }),
    createTts: () =>
      new CartesiaTts({
        apiKey: config.CARTESIA_API_KEY ?? '',
        ...(config.CARTESIA_BASE_URL !== undefined ? { baseUrl: config.CARTESIA_BASE_URL } : {}),
        model: config.CARTESIA_MODEL,
        voiceId: settings.cartesiaVoiceId ?? config.CARTESIA_VOICE_ID,
        language: settings.language,
        sampleRate: config.CARTESIA_SAMPLE_RATE,
        connectTimeoutMs: config.CARTESIA_CONNECT_TIMEOUT_MS,
        timeoutMs: config.CARTESIA_TIMEOUT_MS,
        logger,
      }),
    loadVad: loadSileroModel,
    turn: { endOn: config.TURN_END },
    bargeIn: { threshold: config.VAD_THRESHOLD, minSpeechMs: config.BARGE_IN_MIN_MS },
    apology: config.CASCADE_APOLOGY,
  });
}

/**
 * The setup of a Gemini Live connection (what `ai.live.connect` turns into the first `{"setup":...}` frame),
 * and the model rules checked before any connection is opened: a setting the chosen model refuses fails call
 * set-up with a message naming the setting, instead of a 1007 close from the service.
 */
import { Modality, ThinkingLevel, type LiveConnectConfig } from '@google/genai';
import { instructionsWithPrior, type AgentSettings } from '../agent.ts';
import { liveTools } from './live-tools.ts';
import type { LIVE_THINKING_LEVELS } from './settings.ts';

/** What the setup is built from besides the per-call AgentSettings. */
import { isLive38 } from './models.ts';

export interface LiveSetupOptions {
  model: string;
  settings: AgentSettings;
  thinkingLevel?: (typeof LIVE_THINKING_LEVELS)[number];
  proactiveAudio?: boolean;
  /** Context compression: a sliding window triggered at `triggerTokens`, cut back to `targetTokens`. */
  compression: { triggerTokens: number; targetTokens: number };
}

/** Input window of the models whose size is known; compression must trigger below it. */
function contextWindow(model: string): number | undefined {
  return isLive38(model) ? 131072 : undefined;
}

/** Why `opts` cannot work with its model (undefined: it can). Each message names the setting to change. */
export function setupProblem(opts: LiveSetupOptions): string | undefined {
  const { model, compression } = opts;
  if (isLive38(model) && opts.thinkingLevel !== undefined) {
    return `GEMINI_THINKING_LEVEL=${opts.thinkingLevel} is refused by ${model} (3.8 Live models take no thinking level): unset it or choose another model`;
  }
  if (isLive38(model) && opts.proactiveAudio === false) {
    return `GEMINI_PROACTIVE_AUDIO=false is refused by ${model} (proactive audio is always on in 3.8 Live): unset it or choose another model`;
  }
  if (compression.targetTokens >= compression.triggerTokens) {
    return `GEMINI_COMPRESSION_TARGET_TOKENS (${compression.targetTokens}) must be below GEMINI_COMPRESSION_TRIGGER_TOKENS (${compression.triggerTokens})`;
  }
  const window = contextWindow(model);
  if (window !== undefined && compression.triggerTokens >= window) {
    return `GEMINI_COMPRESSION_TRIGGER_TOKENS (${compression.triggerTokens}) must be below the ${window}-token window of ${model}`;
  }
  return undefined;
}

/**
 * The connect config: audio out, voice and language, instructions, both transcriptions, a sliding context
 * window, session resumption (with the handle to resume, if any), and the call's tools (live-tools.ts). `transparent` is not set here: the SDK
 * refuses it in Gemini Developer API mode (see LiveConnection).
 */
export function liveConfig(opts: LiveSetupOptions, handle: string | undefined): LiveConnectConfig {
  const { settings, compression } = opts;
  const config: LiveConnectConfig = {
    responseModalities: [Modality.AUDIO],
    speechConfig: {
      voiceConfig: { prebuiltVoiceConfig: { voiceName: settings.voice } },
      languageCode: settings.language,
    },
    systemInstruction: instructionsWithPrior(settings),
    inputAudioTranscription: {},
    outputAudioTranscription: {},
    // int64 fields: the SDK types them as strings (JSON numbers would also be accepted by the service).
    contextWindowCompression: {
      triggerTokens: String(compression.triggerTokens),
      slidingWindow: { targetTokens: String(compression.targetTokens) },
    },
    sessionResumption: handle === undefined ? {} : { handle },
  };
  if (opts.thinkingLevel !== undefined) {
    const level = opts.thinkingLevel.toUpperCase() as 'MINIMAL' | 'LOW' | 'MEDIUM' | 'HIGH';
    config.thinkingConfig = { thinkingLevel: ThinkingLevel[level] };
  }
  const tools = liveTools(settings.tools);
  if (tools !== undefined) config.tools = tools;
  if (opts.proactiveAudio !== undefined) config.proactivity = { proactiveAudio: opts.proactiveAudio };
  return config;
}

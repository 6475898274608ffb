/**
 * How callbridge decides each call's settings: the configured defaults, the named agent profiles and the
 * tools file (read and checked at start-up, before anything opens), the callback, and the tools given with
 * POST /calls. Wired once by startCallbridge; the call managers only see `resolveSettings`.
 */
import { readFileSync } from 'node:fs';
import { limitSettings } from './calls/call-limits.ts';
import type { CallRecorder } from './calls/call-recording.ts';
import { resolveCallSettings, type CallbackOptions, type CallFacts, type CallSettings } from './calls/call-settings.ts';
import { profilesSchema, type Profiles } from './calls/settings-patch.ts';
import type { PendingToolSettings } from './calls/call-tools.ts';
import { dtmfSettings } from './calls/dtmf-collector.ts';
import { loadToolsFile, type ToolPatch } from './calls/tools/tool-config.ts';
import { ConfigError, type Config } from './config.ts';
import { errorText, issueLines } from './errors.ts';
import type { Logger } from './log.ts';

/** What the settings files say: read first, so a mistake in them stops start-up before anything opens. */
export interface SettingsFiles {
  profiles: Profiles;
  /** TOOLS_FILE's tools, applied to every call. */
  toolPatch: ToolPatch | undefined;
}

/** Named agent profiles from AGENT_PROFILES (JSON) or AGENT_PROFILES_FILE (a JSON file). */
function loadProfiles(config: Config): Profiles {
  const file = config.AGENT_PROFILES_FILE;
  const text = config.AGENT_PROFILES ?? (file ? readFileSync(file, 'utf8') : undefined);
  if (!text) return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const name = `AGENT_PROFILES${config.AGENT_PROFILES ? '' : '_FILE'}`;
    throw new ConfigError([`${name}: not valid JSON (${errorText(err)})`]);
  }
  const parsed = profilesSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(issueLines(parsed.error).map((line) => `AGENT_PROFILES: ${line}`));
  return parsed.data;
}

/** The agent profiles, then the tools file; throws ConfigError on the first one that is wrong. */
export function loadSettingsFiles(config: Config): SettingsFiles {
  const profiles = loadProfiles(config);
  const fileTools = config.TOOLS_FILE ? loadToolsFile(config.TOOLS_FILE) : undefined;
  if (fileTools && !fileTools.ok) throw new ConfigError(fileTools.problems);
  return { profiles, toolPatch: fileTools?.ok ? fileTools.patch : undefined };
}

export interface CallSettingsWiring {
  /** CALLBACK_URL's callback, absent unless set. */
  callback: CallbackOptions | undefined;
  /** A call's settings (and whether the recorder records it), given its facts. */
  resolveSettings(facts: CallFacts, log: Logger): Promise<CallSettings>;
}

export function wireCallSettings(deps: {
  config: Config;
  files: SettingsFiles;
  /** Tools given with POST /calls, waiting for their call to be answered. */
  apiTools: PendingToolSettings;
  recorder: CallRecorder;
}): CallSettingsWiring {
  const { config, files, apiTools, recorder } = deps;
  const defaults: CallSettings = {
    pipeline: config.AGENT_PIPELINE,
    systemInstructions: config.SYSTEM_INSTRUCTIONS,
    voice: config.GEMINI_VOICE,
    language: config.AGENT_LANGUAGE,
    ...(config.GREETING && { greeting: config.GREETING }),
    dtmf: dtmfSettings(config),
    limits: limitSettings(config),
    ...(files.toolPatch && { toolPatch: files.toolPatch }),
  };
  const callback = config.CALLBACK_URL
    ? { url: config.CALLBACK_URL, secret: config.CALLBACK_SECRET, timeoutMs: config.CALLBACK_TIMEOUT_MS }
    : undefined;
  const resolveSettings = async (facts: CallFacts, log: Logger): Promise<CallSettings> => {
    const settings = await resolveCallSettings(facts, {
      defaults,
      profiles: files.profiles,
      callback,
      logger: log,
      toolSecret: config.CALLBACK_SECRET,
      apiTools: (id) => apiTools.take(id),
    });
    recorder.decide(facts.callId, settings.recording);
    return settings;
  };
  return { callback, resolveSettings };
}

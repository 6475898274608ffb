/**
 * A call's settings (CallSettings) and how they are decided when the call arrives: the callback request, the
 * callbridge_* channel variables, the profile, the tools. The wire schemas, the CallSettings type and the merge
 * of one patch into settings live in settings-patch.ts.
 */
import { PIPELINES, type Pipeline } from '../agents/vendors.ts';
import type { Logger } from '../log.ts';
import { errorText, issueLines } from '../errors.ts';
import {
  applyPatch,
  callbackAnswer,
  callOptions,
  settingsPatch,
  TEXT_LIMITS,
  withToolPatch,
  type CallOptions,
  type CallSettings,
  type Profiles,
  type SettingsPatch,
} from './settings-patch.ts';
import { signedHeaders } from './signing.ts';
import type { ToolPatch } from './tools/tool-config.ts';
import { callTools } from './tools/tool-table.ts';

/**
 * How one call is answered. Sources, lowest to highest precedence:
 *   environment defaults < CALLBACK_URL answer < named profile < channel variables (set by the dialplan, a
 *   user's own originate, or POST /calls).
 */
export { PIPELINES, type Pipeline };
export type { CallSettings };

/**
 * Channel variables callbridge reads on a parked call (besides the marker `callbridge`). Free text travels
 * base64url-encoded (`*_b64`): a raw space, comma or brace would break an originate string.
 */
export const CALL_VARIABLES = {
  pipeline: 'callbridge_pipeline',
  profile: 'callbridge_profile',
  voice: 'callbridge_voice',
  language: 'callbridge_language',
  instructions: 'callbridge_instructions_b64',
  greeting: 'callbridge_greeting_b64',
  openingReason: 'callbridge_opening_reason_b64',
  objective: 'callbridge_objective_b64',
  /** `{dtmf, limits}` as JSON (the settingsPatch fields), base64url. */
  options: 'callbridge_options_b64',
  /** `true` or `false`: record this call (overrides RECORDING, the callback and the profile). */
  recording: 'callbridge_recording',
} as const;

/** `{dtmf, limits}` for the `callbridge_options_b64` channel variable (POST /calls sets it). */
export function encodeOptions(o: CallOptions): string | undefined {
  return o.dtmf || o.limits ? encodeText(JSON.stringify(o)) : undefined;
}

export const encodeText = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');
export const decodeText = (s: string): string => Buffer.from(s, 'base64url').toString('utf8');

/** What we know of the call when deciding how to answer it. */
export interface CallFacts {
  callId: string;
  direction: 'inbound' | 'outbound';
  from: string;
  to: string;
  /** SIP Call-ID when there is one. */
  sipCallId?: string;
  /** The dialed SIP URI and the caller's, when FreeSWITCH knows them (inbound SIP calls). */
  sipRequestUri?: string;
  sipFromUri?: string;
  variable(name: string): string | undefined;
}

export interface CallbackOptions {
  url: string;
  secret?: string;
  timeoutMs: number;
}

export interface ResolveDeps {
  defaults: CallSettings;
  profiles: Profiles;
  callback?: CallbackOptions;
  logger: Logger;
  /** Signs webhook tool requests (CALLBACK_SECRET); never leaves the tool table's closure. */
  toolSecret?: string;
  /** Tool settings given with POST /calls for this call (too large for channel variables). */
  apiTools?(callId: string): ToolPatch | undefined;
}

/** The callback request body: `{uri, from, call_id}`, what every callback receiver reads, plus what else we know. */
export function callbackBody(f: CallFacts): Record<string, unknown> {
  const variables: Record<string, string> = {};
  for (const name of Object.values(CALL_VARIABLES)) {
    const v = f.variable(name);
    if (v !== undefined) variables[name] = v;
  }
  return {
    uri: f.sipRequestUri ? `sip:${f.sipRequestUri}` : `sip:${f.to}`,
    from: f.sipFromUri ? `sip:${f.sipFromUri}` : `sip:${f.from}`,
    call_id: f.sipCallId ?? f.callId,
    call_uuid: f.callId,
    direction: f.direction,
    variables,
  };
}

/** Kept here for its users; the signing itself lives in signing.ts (webhook tools sign the same way). */
export { signCallback } from './signing.ts';

async function askCallback(cb: CallbackOptions, facts: CallFacts, log: Logger): Promise<SettingsPatch | undefined> {
  const body = JSON.stringify(callbackBody(facts));
  const headers = signedHeaders(cb.secret, body);
  const t0 = performance.now();
  try {
    const res = await fetch(cb.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(cb.timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const parsed = callbackAnswer.safeParse(await res.json());
    if (!parsed.success) throw new Error(`invalid answer: ${issueLines(parsed.error, 'body').join('; ')}`);
    log.info({ ms: Math.round(performance.now() - t0) }, 'callback answered');
    return parsed.data;
  } catch (err) {
    const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${cb.timeoutMs} ms` : errorText(err);
    log.warn({ url: cb.url, reason }, 'callback failed; using the defaults');
    return undefined;
  }
}

function fromVariables(f: CallFacts, log: Logger): SettingsPatch {
  const text = (name: string) => {
    const v = f.variable(name);
    return v ? decodeText(v) : undefined;
  };
  const raw = {
    pipeline: f.variable(CALL_VARIABLES.pipeline),
    voice: f.variable(CALL_VARIABLES.voice),
    language: f.variable(CALL_VARIABLES.language),
    system_instructions: text(CALL_VARIABLES.instructions),
    greeting: text(CALL_VARIABLES.greeting),
  };
  const given = Object.entries(raw).filter(([, v]) => v !== undefined && v !== '');
  const parsed = settingsPatch.safeParse(Object.fromEntries(given));
  const patch = parsed.success ? parsed.data : {};
  if (!parsed.success)
    log.warn({ problems: issueLines(parsed.error) }, 'ignoring invalid callbridge_* channel variables');
  return { ...patch, ...optionsVariable(f, log), ...recordingVariable(f, log) };
}

/** `callbridge_recording`: `true` or `false`; anything else is ignored with a warning. */
function recordingVariable(f: CallFacts, log: Logger): { recording?: boolean } {
  const v = f.variable(CALL_VARIABLES.recording);
  if (v === undefined || v === '') return {};
  if (v === 'true' || v === 'false') return { recording: v === 'true' };
  log.warn(
    { variable: CALL_VARIABLES.recording, value: v.slice(0, 20) },
    'ignoring an invalid callbridge_* channel variable',
  );
  return {};
}

/** The `callbridge_options_b64` variable, checked on its own: a bad one does not void the others. */
function optionsVariable(f: CallFacts, log: Logger): CallOptions {
  const v = f.variable(CALL_VARIABLES.options);
  if (!v) return {};
  let problems: string[];
  try {
    const parsed = v.length <= 8192 ? callOptions.safeParse(JSON.parse(decodeText(v))) : undefined;
    if (parsed?.success) return parsed.data;
    problems = parsed ? issueLines(parsed.error) : ['longer than 8192 characters'];
  } catch (err) {
    problems = [`not base64url JSON: ${errorText(err)}`];
  }
  log.warn({ variable: CALL_VARIABLES.options, problems }, 'ignoring an invalid callbridge_* channel variable');
  return {};
}

/**
 * A decoded campaign text variable, or undefined when absent or longer than `limit` characters (ignored with
 * a warning like the other invalid variables). Base64 too long to fit is refused without decoding it.
 */
function campaignText(f: CallFacts, name: string, limit: number, problems: string[]): string | undefined {
  const v = f.variable(name);
  if (!v) return undefined;
  // A character is at most 4 UTF-8 bytes; base64 makes 3 bytes 4 characters.
  const text = v.length <= Math.ceil((limit * 4) / 3) * 4 ? decodeText(v) : undefined;
  if (text !== undefined && text.length <= limit) return text;
  problems.push(`${name}: decoded text must be at most ${limit} characters`);
  return undefined;
}

/** Decide how this call is answered (see the precedence above). Never throws; never waits past the callback timeout. */
export async function resolveCallSettings(facts: CallFacts, d: ResolveDeps): Promise<CallSettings> {
  let s = { ...d.defaults };
  if (d.callback) {
    const answer = await askCallback(d.callback, facts, d.logger);
    if (answer) s = applyPatch(s, answer);
  }
  const profileName = facts.variable(CALL_VARIABLES.profile);
  if (profileName) {
    const profile = d.profiles[profileName];
    if (profile) s = applyPatch(s, profile);
    else d.logger.warn({ profile: profileName }, 'unknown agent profile; ignoring it');
  }
  s = applyPatch(s, fromVariables(facts, d.logger));
  const apiTools = d.apiTools?.(facts.callId);
  if (apiTools) s = { ...s, ...withToolPatch(s.toolPatch, apiTools) };
  s = withTools(s, facts, d);
  const problems: string[] = [];
  const openingReason = campaignText(facts, CALL_VARIABLES.openingReason, TEXT_LIMITS.openingReason, problems);
  const objective = campaignText(facts, CALL_VARIABLES.objective, TEXT_LIMITS.objective, problems);
  if (problems.length) d.logger.warn({ problems }, 'ignoring invalid callbridge_* channel variables');
  if (openingReason) s.openingReason = openingReason;
  if (objective) s.objective = objective;
  if (s.openingReason || s.objective) {
    s.systemInstructions +=
      `\n\nThis is an outbound call you placed to ${facts.to}.` +
      (s.openingReason ? ` You are calling about: ${s.openingReason}.` : '') +
      (s.objective ? ` Your objective for this call: ${s.objective}.` : '') +
      ' Introduce yourself briefly, state why you are calling, and keep it conversational.';
  }
  return s;
}

/** The call's tool declarations (for the agent) and tool table (for its runner), from its merged tool settings. */
function withTools(s: CallSettings, f: CallFacts, d: ResolveDeps): CallSettings {
  const context = {
    call_id: f.sipCallId ?? f.callId,
    call_uuid: f.callId,
    direction: f.direction,
    from: f.from,
    to: f.to,
  };
  const tools = callTools(s.toolPatch, context, d.toolSecret ?? d.callback?.secret);
  if (!tools) return s;
  if (tools.dropped.length)
    d.logger.warn(
      { dropped: tools.dropped },
      'more tools than a call may have (16, built-ins included): dropping the last webhooks',
    );
  return { ...s, tools: tools.declarations, toolTable: tools.table };
}

/** What the agent is told to say first on an answered outbound call (or when a greeting is configured). */
export function openingHint(s: CallSettings, direction: 'inbound' | 'outbound'): string | undefined {
  if (s.greeting) return `The call has just been answered. Greet the caller by saying: ${s.greeting}`;
  if (direction !== 'outbound') return undefined;
  if (s.openingReason) {
    const intro = 'The person you called has just answered. Introduce yourself and say you are calling about';
    return `${intro} ${s.openingReason}.`;
  }
  return 'The person you called has just answered. Introduce yourself and say why you are calling.';
}

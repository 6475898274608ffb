import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import { UnsafeEslValueError, originate, type EslCommand } from '../freeswitch/commands.ts';
import { noResumptions, type CallRecord } from '../store/call-record.ts';
import { CALL_VARIABLES, encodeOptions, encodeText } from './call-settings.ts';
import type { dtmfPatch, limitsPatch } from './settings-patch.ts';
import type { z } from 'zod';
import { MARKER_VARIABLE } from './marker.ts';

/** A request to place a call (the calls API's POST /calls body). */
export interface OriginateRequest {
  to: string;
  from?: string;
  caller_name?: string;
  gateway?: string;
  pipeline?: string;
  profile?: string;
  system_instructions?: string;
  voice?: string;
  language?: string;
  greeting?: string;
  opening_reason?: string;
  objective?: string;
  timeout_seconds?: number;
  dtmf?: z.infer<typeof dtmfPatch>;
  limits?: z.infer<typeof limitsPatch>;
  /** Record the call (channel variable `callbridge_recording`). */
  recording?: boolean;
}

export class OriginateError extends Error {
  readonly kind: 'invalid' | 'unavailable';
  constructor(kind: 'invalid' | 'unavailable', message: string) {
    super(message);
    this.kind = kind;
  }
}

/** What placing a call reads from the configuration. */
export interface OutboundSettings {
  defaultGateway: string | undefined;
  callerId: string | undefined;
  timeoutSeconds: number;
  /** The sofia profile `sip:` transfer targets are dialled through (default DEFAULT_SIP_PROFILE). */
  sipProfile?: string;
}

/** The profile of freeswitch/conf/sip_profiles/callbridge.xml. */
export const DEFAULT_SIP_PROFILE = 'callbridge';

export function outboundSettings(config: Config): OutboundSettings {
  return {
    defaultGateway: config.DEFAULT_GATEWAY,
    callerId: config.OUTBOUND_CALLER_ID,
    timeoutSeconds: config.ORIGINATE_TIMEOUT_SECONDS,
  };
}

/** A call about to be placed: its `originate` command and the record it starts with. */
export interface OutboundCall {
  id: string;
  gateway: string;
  timeoutSeconds: number;
  command: EslCommand;
  record: CallRecord;
}

/**
 * Build the call `req` asks for. OriginateError: 'invalid' if it cannot be placed as asked, 'unavailable'
 * when FreeSWITCH is not `connected`.
 */
export function outboundCall(req: OriginateRequest, settings: OutboundSettings, connected: boolean): OutboundCall {
  const gateway = req.gateway ?? settings.defaultGateway;
  if (!gateway) throw new OriginateError('invalid', 'no gateway: pass "gateway" or set DEFAULT_GATEWAY');
  if (!connected) throw new OriginateError('unavailable', 'FreeSWITCH is not connected');
  const id = randomUUID();
  const timeoutSeconds = req.timeout_seconds ?? settings.timeoutSeconds;
  const variables: Record<string, string> = { [MARKER_VARIABLE]: '1' };
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) variables[name] = value;
  };
  set(CALL_VARIABLES.pipeline, req.pipeline);
  set(CALL_VARIABLES.profile, req.profile);
  set(CALL_VARIABLES.voice, req.voice);
  set(CALL_VARIABLES.language, req.language);
  // Free text only ever travels base64url-encoded: it cannot alter the originate string.
  set(CALL_VARIABLES.instructions, req.system_instructions && encodeText(req.system_instructions));
  set(CALL_VARIABLES.greeting, req.greeting && encodeText(req.greeting));
  set(CALL_VARIABLES.openingReason, req.opening_reason && encodeText(req.opening_reason));
  set(CALL_VARIABLES.objective, req.objective && encodeText(req.objective));
  set(CALL_VARIABLES.options, encodeOptions({ dtmf: req.dtmf, limits: req.limits }));
  set(CALL_VARIABLES.recording, req.recording === undefined ? undefined : String(req.recording));
  let command: EslCommand;
  try {
    command = originate({
      uuid: id,
      gateway,
      number: req.to,
      callerIdNumber: req.from ?? settings.callerId,
      callerIdName: req.caller_name,
      timeoutSeconds,
      variables,
    });
  } catch (err) {
    if (err instanceof UnsafeEslValueError) throw new OriginateError('invalid', err.message);
    throw err;
  }
  const record: CallRecord = {
    id,
    direction: 'outbound',
    from: req.from ?? settings.callerId ?? '',
    to: req.to,
    gateway,
    pipeline: req.pipeline ?? '',
    status: 'queued',
    createdAt: Date.now(),
    ...(req.voice && { voice: req.voice }),
    ...(req.language && { language: req.language }),
    ...(req.opening_reason && { openingReason: req.opening_reason }),
    ...(req.objective && { objective: req.objective }),
    turns: [],
    transcript: [],
    resumptions: noResumptions(),
  };
  return { id, gateway, timeoutSeconds, command, record };
}

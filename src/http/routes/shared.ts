import type { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { TransferOutcome } from '../../calls/call-actions.ts';
import type { CallChange } from '../../calls/call-book.ts';
import type { CallRecord, CallStatus, PageCursor } from '../../store/call-record.ts';
import { ErrorBody, type ListQuery, type NewCallBody } from '../schemas.ts';
import type { TwilioOptions } from '../twilio.ts';

/** What the HTTP API needs from the rest of callbridge (kept narrow so http/ stays a thin layer). */
export interface ApiDeps {
  health(): {
    eslConnected: boolean;
    freeswitchVersion?: string;
    activeCalls: number;
    /** Per FreeSWITCH node (FREESWITCH_NODES). */
    nodes?: Array<{ name: string; esl: 'connected' | 'disconnected'; activeCalls: number }>;
  };
  metrics(): Promise<string>;
  calls: {
    list(opts: { status?: CallStatus; limit: number; before?: PageCursor }): Promise<CallRecord[]>;
    get(id: string): Promise<CallRecord | undefined>;
    /** Registers the call and sends the originate; rejects with InvalidRequestError for unusable values. */
    originate(body: NewCallBody): Promise<CallRecord>;
    hangup(id: string): Promise<'hanging-up' | 'ended' | 'unknown'>;
    subscribe(id: string, fn: (record: CallRecord, change: CallChange) => void): () => void;
    /** Every change of every call (GET /events); returns the unsubscribe. Absent: /events is not served. */
    subscribeAll?(fn: (record: CallRecord, change: CallChange) => void): () => void;
    /** The calls that have not ended, for the first event of GET /events. */
    live?(): CallRecord[];
  };
  /** What a live call can be asked to do; each rejects (or throws) CallNotLiveError when it is not live. */
  control?: {
    transfer(id: string, target: string, method?: 'bridge' | 'refer'): Promise<TransferOutcome>;
    sendDtmf(id: string, digits: string): Promise<void>;
    /** False when the call's agent cannot speak given text (a promise when the call may be another instance's). */
    say(id: string, text: string): boolean | Promise<boolean>;
  };
  /** Call recordings (calls/call-recording.ts); absent: the recording routes are not served. */
  recordings?: {
    /** The complete file, or undefined while recording or when there is none. */
    file(id: string): Promise<{ path: string; bytes: number } | undefined>;
    remove(id: string): Promise<'deleted' | 'none' | 'busy'>;
  };
  /** Bearer token required on every endpoint but /health (and the Twilio webhook when TWILIO_AUTH_TOKEN lets us check Twilio's signature). */
  apiToken?: string;
  maxBodyBytes: number;
  twilio?: TwilioOptions;
  /** The web console: its built files (default dist/console/) and how long a sign-in lasts (hours, default 12). */
  console?: { dir?: string; sessionHours?: number };
  /** Calls from the console's browser to the agent (SIP over WebSocket to FreeSWITCH); absent: BROWSER_CALLS=false. */
  browserCalls?: {
    wsUrl: string;
    target: string;
    iceServers: string[];
    /** A single-use ticket FreeSWITCH's browser call must carry (calls/browser-tickets.ts). */
    issueTicket(): { ticket: string; expiresAt: number };
  };
}

export class InvalidRequestError extends Error {}
/** A 503: `unavailable` (FreeSWITCH not connected), or `at_capacity` (MAX_CALLS reached). */
export class UnavailableError extends Error {
  readonly code: string;
  constructor(message: string, code = 'unavailable') {
    super(message);
    this.code = code;
  }
}
/** The call is not live: never known, already ended, or not answered yet. */
export class CallNotLiveError extends Error {
  readonly kind: 'unknown' | 'ended' | 'not-ready';
  constructor(kind: 'unknown' | 'ended' | 'not-ready', message: string) {
    super(message);
    this.kind = kind;
  }
}

type ErrorStatus = 400 | 401 | 404 | 409 | 413 | 415 | 500 | 502 | 503;
export function fail<S extends ErrorStatus>(c: Context, status: S, code: string, message: string, details?: string[]) {
  return c.json({ error: { code, message, ...(details && { details }) } }, status);
}

/** An error response in the OpenAPI description. */
export const err = (description: string) => ({ content: { 'application/json': { schema: ErrorBody } }, description });

export type ListQueryValue = z.infer<typeof ListQuery>;

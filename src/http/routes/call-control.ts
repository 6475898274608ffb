import { type OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { PATTERNS } from '../../patterns.ts';
import { CallId } from '../schemas.ts';
import { CallNotLiveError, UnavailableError, err, fail, type ApiDeps } from './shared.ts';

/** A phone number (dialled through the call's gateway) or `sip:user@host[:port]`: nothing that could split a dial string. */
const SIP_URI = /^sips?:[A-Za-z0-9_.+-]{1,64}@[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/;

export const TransferRequest = z
  .object({
    target: z
      .string()
      .refine((v) => PATTERNS.phoneNumber.test(v) || SIP_URI.test(v), 'a phone number (+ and digits) or sip:user@host')
      .openapi({ example: '+15551234567' }),
    method: z
      .enum(['bridge', 'refer'])
      .optional()
      .openapi({ description: '`bridge` (default): FreeSWITCH dials the target; `refer`: SIP REFER to the caller' }),
  })
  .strict()
  .openapi('TransferRequest');

export const TransferResult = z
  .object({
    id: z.string(),
    ok: z.boolean(),
    method: z.enum(['bridge', 'refer']).optional(),
    reason: z.enum(['busy', 'no-answer', 'rejected', 'failed', 'invalid']).optional(),
    detail: z.string().optional(),
  })
  .openapi('TransferResult', {
    description: 'How the transfer ended; unless `ok`, the caller is still with the agent',
  });

export const DtmfRequest = z
  .object({
    digits: z
      .string()
      .regex(/^[0-9*#A-DwW]{1,64}$/, '1 to 64 of 0-9 * # A-D, and w/W for pauses')
      .openapi({ example: '1234#' }),
  })
  .strict()
  .openapi('DtmfRequest');

export const SayRequest = z
  .object({ text: z.string().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters') })
  .strict()
  .openapi('SayRequest');

const Done = z.object({ id: z.string(), status: z.literal('sent') }).openapi('ControlSent');

const notLive = {
  404: err('Unknown call'),
  409: err('The call has ended, is not answered yet, or (say) its agent cannot speak given text'),
};

/** 404 unknown, 409 ended or not answered yet, 503 its owner (another instance) unreachable; else rethrown (500). */
function notLiveAnswer(c: Context, e: unknown) {
  if (e instanceof UnavailableError) return fail(c, 503, e.code, e.message);
  if (!(e instanceof CallNotLiveError)) throw e;
  if (e.kind === 'unknown') return fail(c, 404, 'not_found', 'no such call');
  return fail(c, 409, e.kind === 'ended' ? 'call_ended' : 'call_not_active', e.message);
}

/** What a live call can be asked to do through the API: transfer, send DTMF, speak. */
export function callControlRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  const control = deps.control;
  const unavailable = (c: Context) => fail(c, 503, 'unavailable', 'call control is not available');

  app.openapi(
    createRoute({
      method: 'post',
      path: '/calls/{id}/transfer',
      description: 'Blind transfer of the caller; answers once the transfer succeeded or failed',
      request: {
        params: CallId,
        body: { content: { 'application/json': { schema: TransferRequest } }, required: true },
      },
      responses: {
        200: { content: { 'application/json': { schema: TransferResult } }, description: 'The outcome' },
        400: err('Invalid request or target'),
        ...notLive,
        503: err('Call control not available'),
      },
    }),
    async (c) => {
      if (!control) return unavailable(c);
      const { id } = c.req.valid('param');
      const { target, method } = c.req.valid('json');
      try {
        const outcome = await control.transfer(id, target, method);
        if (!outcome.ok && outcome.reason === 'invalid') return fail(c, 400, 'invalid_request', outcome.detail);
        return c.json({ id, ...outcome }, 200);
      } catch (e) {
        return notLiveAnswer(c, e);
      }
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/calls/{id}/dtmf',
      description: 'Send DTMF digits into the call (e.g. to drive an IVR at the far end)',
      request: { params: CallId, body: { content: { 'application/json': { schema: DtmfRequest } }, required: true } },
      responses: {
        200: { content: { 'application/json': { schema: Done } }, description: 'FreeSWITCH accepted the digits' },
        400: err('Invalid digits'),
        ...notLive,
        502: err('FreeSWITCH refused the digits'),
        503: err('Call control not available'),
      },
    }),
    async (c) => {
      if (!control) return unavailable(c);
      const { id } = c.req.valid('param');
      try {
        await control.sendDtmf(id, c.req.valid('json').digits);
      } catch (e) {
        if (e instanceof CallNotLiveError || e instanceof UnavailableError) return notLiveAnswer(c, e);
        return fail(c, 502, 'dtmf_failed', e instanceof Error ? e.message : String(e));
      }
      return c.json({ id, status: 'sent' as const }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/calls/{id}/say',
      description: 'The agent says `text` now, as it is (a speech-to-speech model is asked to say it word for word)',
      request: { params: CallId, body: { content: { 'application/json': { schema: SayRequest } }, required: true } },
      responses: {
        200: { content: { 'application/json': { schema: Done } }, description: 'Handed to the agent' },
        400: err('Invalid text'),
        ...notLive,
        503: err('Call control not available'),
      },
    }),
    async (c) => {
      if (!control) return unavailable(c);
      const { id } = c.req.valid('param');
      try {
        if (!(await control.say(id, c.req.valid('json').text)))
          return fail(c, 409, 'not_supported', "this call's agent cannot speak given text");
      } catch (e) {
        return notLiveAnswer(c, e);
      }
      return c.json({ id, status: 'sent' as const }, 200);
    },
  );
}

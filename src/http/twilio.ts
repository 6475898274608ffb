import { createHmac } from 'node:crypto';
import { Hono } from 'hono';
import { safeEqual } from '../secrets.ts';
import { PATTERNS } from '../patterns.ts';

export interface TwilioOptions {
  /** Where Twilio should send the call: FreeSWITCH's SIP address, e.g. sip:callbridge@203.0.113.7:5080. */
  sipUri: string;
  username?: string;
  password?: string;
  /** With the account's auth token, requests without a valid X-Twilio-Signature are refused. */
  authToken?: string;
  /** The public URL Twilio calls (it signs that exact URL). */
  webhookUrl?: string;
}

const xml = (s: string) => s.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** Twilio's request signature: base64 HMAC-SHA1 over the URL followed by the sorted POST parameters. */
export function twilioSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], url);
  return createHmac('sha1', authToken).update(data).digest('base64');
}

/**
 * POST /twilio/voice: the voice webhook of a Twilio number. Answers TwiML that dials FreeSWITCH over SIP;
 * the caller's number stays the SIP From (Twilio's default) and also travels as X-Caller-Number.
 */
export function twilioRoutes(o: TwilioOptions): Hono {
  const app = new Hono();
  app.post('/voice', async (c) => {
    const form = await c.req.parseBody();
    const params = Object.fromEntries(Object.entries(form).map(([k, v]) => [k, String(v)]));
    if (o.authToken) {
      const expected = twilioSignature(o.authToken, o.webhookUrl ?? c.req.url, params);
      const given = c.req.header('x-twilio-signature') ?? '';
      if (!safeEqual(given, expected))
        return c.json({ error: { code: 'unauthorized', message: 'invalid X-Twilio-Signature' } }, 401);
    }
    const from = PATTERNS.phoneNumber.test(params.From ?? '') ? params.From! : undefined;
    const to = PATTERNS.phoneNumber.test(params.To ?? '') ? params.To! : undefined;
    const headers = [
      from && `X-Caller-Number=${encodeURIComponent(from)}`,
      to && `X-Called-Number=${encodeURIComponent(to)}`,
    ]
      .filter(Boolean)
      .join('&');
    const uri = headers ? `${o.sipUri}${o.sipUri.includes('?') ? '&' : '?'}${headers}` : o.sipUri;
    const auth = [o.username && ` username="${xml(o.username)}"`, o.password && ` password="${xml(o.password)}"`]
      .filter(Boolean)
      .join('');
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Dial answerOnBridge="true"><Sip${auth}>${xml(uri)}</Sip></Dial></Response>`;
    return c.body(body, 200, { 'content-type': 'text/xml; charset=utf-8' });
  });
  return app;
}

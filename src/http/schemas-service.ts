import { z } from '@hono/zod-openapi';
import { BROWSER_TICKET_HEADER } from '../calls/browser-tickets.ts';

/** The API's error body, its health answer and the web console's session and browser call. */

export const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string(), details: z.array(z.string()).optional() }) })
  .openapi('Error');

export const Health = z
  .object({
    status: z.literal('ok'),
    esl: z.enum(['connected', 'disconnected']),
    freeswitch: z.string().optional().openapi({ description: 'FreeSWITCH version, once connected' }),
    activeCalls: z.number().int(),
    nodes: z
      .array(
        z.object({
          name: z.string(),
          esl: z.enum(['connected', 'disconnected']),
          activeCalls: z.number().int(),
        }),
      )
      .optional()
      .openapi({ description: 'Each FreeSWITCH node (FREESWITCH_NODES): its ESL connection and live calls' }),
  })
  .openapi('Health');

// ---- Web console (routes/console.ts) ----

export const ConsoleSessionState = z
  .object({
    authRequired: z.boolean().openapi({ description: 'API_TOKEN is set: the console must sign in' }),
    authenticated: z.boolean().openapi({ description: 'This request is authorized (bearer token or console cookie)' }),
  })
  .openapi('ConsoleSessionState');

export const ConsoleSignIn = z
  .object({ token: z.string().min(1).max(1024).openapi({ description: 'The API_TOKEN' }) })
  .strict()
  .openapi('ConsoleSignIn');

export const BrowserCall = z
  .object({
    wsUrl: z
      .string()
      .openapi({ description: "FreeSWITCH's SIP WebSocket (BROWSER_SIP_WS_URL)", example: 'ws://127.0.0.1:5066' }),
    target: z.string().openapi({ description: 'The URI to dial (BROWSER_SIP_TARGET)', example: 'sip:agent@127.0.0.1' }),
    ticket: z
      .string()
      .openapi({ description: 'Single-use credential: send it in the INVITE header named by `header`' }),
    header: z.literal(BROWSER_TICKET_HEADER),
    expiresAt: z.number().int().openapi({ description: 'When the ticket stops working (ms since the epoch)' }),
    iceServers: z.array(z.string()).openapi({ description: 'STUN/TURN URLs for WebRTC (BROWSER_ICE_SERVERS)' }),
  })
  .openapi('BrowserCall', { description: 'What the console needs to call the agent from the browser' });

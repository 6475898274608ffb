import { type OpenAPIHono, createRoute } from '@hono/zod-openapi';
import type { CallRecord } from '../../store/call-record.ts';
import { CallId, CallTurns } from '../schemas.ts';
import { err, fail, type ApiDeps } from './shared.ts';

type TurnRow = { pipeline?: Record<string, number>; heard?: NonNullable<CallRecord['heardTurns']>[number] };

/**
 * Each reply's pipeline marks beside what the caller heard. Both lists hold the replies that reached the
 * caller, in order (a pipeline turn is logged at a reply's first PLAYBACK_START; a heard turn with agent audio
 * is a reply in the recording), so they pair by position; caller utterances the agent never answered have
 * heard figures only.
 */
export function sideBySide(r: CallRecord): TurnRow[] {
  const rows: TurnRow[] = [];
  let k = 0;
  for (const heard of r.heardTurns ?? []) {
    const pipeline = heard.agentStartMs !== undefined ? r.turns[k++] : undefined;
    rows.push(pipeline ? { pipeline, heard } : { heard });
  }
  for (; k < r.turns.length; k++) rows.push({ pipeline: r.turns[k]! });
  return rows;
}

/** `GET /calls/{id}/turns`. */
export function turnsRoute(app: OpenAPIHono, deps: ApiDeps): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/calls/{id}/turns',
      request: { params: CallId },
      responses: {
        200: {
          content: { 'application/json': { schema: CallTurns } },
          description:
            'Per reply: the pipeline marks (model side) beside the heard figures from the recording (telephony side)',
        },
        404: err('Unknown call'),
      },
    }),
    async (c) => {
      const r = await deps.calls.get(c.req.valid('param').id);
      if (!r) return fail(c, 404, 'not_found', 'no such call');
      const body = { id: r.id, analysed: r.heard !== undefined, turns: sideBySide(r) };
      return c.json(r.heard ? { ...body, heard: r.heard } : body, 200);
    },
  );
}

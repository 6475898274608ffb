import type { ActionRequest } from '../cluster/action-bus.ts';
import { CallUnavailableError } from './call-control.ts';
import type { CallNodes } from './call-nodes.ts';

/** How a call that is not live travels back from its owner (the ActionBus keeps an error's name and code). */
export const NOT_LIVE = 'CallNotLive';

/**
 * The owner's side of an action another instance routed here (cluster mode): run on the call's node as the
 * local API would, within `timeoutMs`. Arguments are checked again here (and by the ESL validators below).
 */
export async function serveAction(nodes: CallNodes, req: ActionRequest, timeoutMs: number): Promise<unknown> {
  const id = req.callId;
  const args = (req.args ?? {}) as Record<string, unknown>;
  const text = (name: string): string => {
    const v = args[name];
    if (typeof v !== 'string') throw new Error(`action ${req.action}: ${name} must be a string`);
    return v;
  };
  const run = async (): Promise<unknown> => {
    switch (req.action) {
      case 'hangup':
        return nodes.hangup(id);
      case 'transfer': {
        const method = args.method === 'refer' || args.method === 'bridge' ? args.method : undefined;
        return nodes.transfer(id, text('target'), { method });
      }
      case 'dtmf':
        await nodes.sendDtmf(id, text('digits'));
        return null;
      case 'say':
        return nodes.say(id, text('text'));
      default:
        throw new Error(`unknown action ${req.action}`);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`action ${req.action} took over ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([run(), timeout]);
  } catch (e) {
    if (e instanceof CallUnavailableError) throw Object.assign(new Error(e.message), { name: NOT_LIVE, code: e.kind });
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

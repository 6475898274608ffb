import {
  ActionBusBusyError,
  ActionBusUnavailableError,
  OwnerGoneError,
  OwnerTimeoutError,
  RemoteActionError,
} from '../cluster/action-bus.ts';
import type { Cluster } from '../cluster/cluster.ts';
import { errorText } from '../errors.ts';
import { FINAL_STATUSES } from '../store/call-record.ts';
import { CallUnavailableError } from './call-control.ts';
import { NOT_LIVE } from './cluster-actions.ts';

/** The call's owner is gone or did not answer in time (the API answers 503 owner_unavailable). */
export class OwnerUnavailableError extends Error {
  override name = 'OwnerUnavailableError';
}

/**
 * The asking side of an action on a call not live here (cluster-actions.ts is the owner's side): run it on the
 * call's owner, or `local()` when that is this instance or the call is in nobody's hands and not live anywhere.
 * OwnerUnavailableError when the owner is gone or silent; CallUnavailableError when the owner says the call is
 * not live.
 */
export async function routeToOwner<T>(
  cluster: Cluster,
  timeoutMs: number,
  req: { callId: string; action: string; args: unknown },
  local: () => Promise<T>,
): Promise<T> {
  const id = req.callId;
  const owner = await cluster.claims.owner(id).catch(() => undefined);
  if (owner === cluster.claims.instanceId) return local();
  if (!owner) {
    // Live in the cluster with nobody holding it: its owner died and the failover has not taken it yet.
    const shared = await cluster.calls.get(id).catch(() => undefined);
    if (!shared || FINAL_STATUSES.has(shared.status)) return local();
    throw new OwnerUnavailableError(
      `call ${id} lost its instance (${shared.owner}); another instance is taking it over: try again in a moment`,
    );
  }
  try {
    return (await cluster.actions.request(owner, req, timeoutMs)) as T;
  } catch (e) {
    if (e instanceof RemoteActionError && e.name === NOT_LIVE) {
      const kind = e.code === 'ended' || e.code === 'not-ready' ? e.code : 'unknown';
      throw new CallUnavailableError(kind, e.message);
    }
    const ownerFailed = [OwnerGoneError, OwnerTimeoutError, ActionBusUnavailableError, ActionBusBusyError];
    if (ownerFailed.some((type) => e instanceof type)) {
      throw new OwnerUnavailableError(
        `call ${id} is carried by instance ${owner}, which cannot be reached (${errorText(e)}); ` +
          'another instance takes its calls over within the claim lease: try again in a few seconds',
      );
    }
    throw e;
  }
}

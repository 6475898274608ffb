import { CallNotLiveError, UnavailableError, type ApiDeps } from '../http/app.ts';
import { CallUnavailableError } from './call-control.ts';
import type { CallNodes } from './call-nodes.ts';
import { OwnerUnavailableError, type ClusterCalls } from './cluster-calls.ts';

type ApiCalls = ApiDeps['calls'];
type ApiControl = NonNullable<ApiDeps['control']>;

/** The API's errors for a call another instance carries: 503 owner_unavailable, or not live as locally. */
function apiError(err: unknown): never {
  if (err instanceof OwnerUnavailableError) throw new UnavailableError(err.message, 'owner_unavailable');
  if (err instanceof CallUnavailableError) throw new CallNotLiveError(err.kind, err.message);
  throw err;
}

/**
 * Cluster mode: the calls API of this instance answers for every instance. Reads merge the shared live
 * records with this instance's calls; event streams add the other instances' changes; actions on a call
 * another instance carries are routed to it (calls/cluster-calls.ts).
 */
export function clusterApiCalls(local: ApiCalls, cluster: ClusterCalls): ApiCalls {
  return {
    ...local,
    list: (o) => cluster.list(o),
    get: (id) => cluster.get(id),
    hangup: (id) => cluster.route(id, 'hangup', undefined, () => local.hangup(id)).catch(apiError),
    subscribe: (id, fn) => {
      const mine = local.subscribe(id, fn);
      const theirs = cluster.subscribe((record, change) => record.id === id && fn(record, change));
      return () => {
        mine();
        theirs();
      };
    },
    ...(local.subscribeAll && {
      subscribeAll: (fn) => {
        const mine = local.subscribeAll!(fn);
        const theirs = cluster.subscribe(fn);
        return () => {
          mine();
          theirs();
        };
      },
    }),
    ...(local.live && { live: () => [...local.live!(), ...cluster.remoteLive()] }),
  };
}

export function clusterApiControl(local: ApiControl, cluster: ClusterCalls, nodes: CallNodes): ApiControl {
  return {
    transfer: (id, target, method) =>
      cluster.route(id, 'transfer', { target, method }, () => local.transfer(id, target, method)).catch(apiError),
    sendDtmf: (id, digits) => cluster.route(id, 'dtmf', { digits }, () => local.sendDtmf(id, digits)).catch(apiError),
    say: async (id, text) => {
      const result = await cluster
        .route(id, 'say', { text }, () => Promise.resolve(nodes.say(id, text)))
        .catch(apiError);
      if (result === 'said' || result === 'unsupported') return result === 'said';
      throw new CallNotLiveError(result, `call ${id} is ${result === 'not-ready' ? 'not answered yet' : result}`);
    },
  };
}

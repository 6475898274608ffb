import type { CallBook } from './calls/call-book.ts';
import { AtCapacityError } from './calls/admission.ts';
import { CallUnavailableError } from './calls/call-control.ts';
import type { CallNodes } from './calls/call-nodes.ts';
import type { PendingToolSettings } from './calls/call-tools.ts';
import { OwnerUnavailableError, type ClusterCalls } from './calls/cluster-calls.ts';
import { OriginateError } from './calls/outbound-call.ts';
import { toolCountProblem } from './calls/tools/tool-config.ts';
import { CallNotLiveError, InvalidRequestError, UnavailableError, type ApiDeps } from './http/app.ts';
import { FINAL_STATUSES, type CallRecord } from './store/call-record.ts';

/**
 * What the calls API asks of callbridge, answered by the call nodes and the call book (and, in cluster mode,
 * by every instance): the seam between http/ and calls/, so neither reaches into the other.
 */
export type ApiCalls = ApiDeps['calls'];
export type ApiControl = NonNullable<ApiDeps['control']>;

/** The live calls the console's event stream starts from (the book keeps no list of them). */
export function trackLiveCalls(book: CallBook): () => CallRecord[] {
  const live = new Map<string, CallRecord>();
  book.on('change', (record, change) => {
    if (change.type !== 'status') return;
    if (FINAL_STATUSES.has(change.status)) live.delete(record.id);
    else live.set(record.id, record);
  });
  return () => {
    // A call handed over to another instance (cluster) leaves the book without a final status.
    for (const id of live.keys()) if (!book.live(id)) live.delete(id);
    return [...live.values()];
  };
}

/** The calls API's errors for what the call layer refuses. */
function apiError(err: unknown): never {
  if (err instanceof OwnerUnavailableError) throw new UnavailableError(err.message, 'owner_unavailable');
  if (err instanceof CallUnavailableError) throw new CallNotLiveError(err.kind, err.message);
  throw err;
}

function sayResult(id: string, result: 'said' | 'unsupported' | 'unknown' | 'ended' | 'not-ready'): boolean {
  if (result === 'said' || result === 'unsupported') return result === 'said';
  throw new CallNotLiveError(result, `call ${id} is ${result === 'not-ready' ? 'not answered yet' : result}`);
}

/** This instance's calls, as the API sees them. */
export function localApi(deps: {
  book: CallBook;
  nodes: CallNodes;
  apiTools: PendingToolSettings;
  live: () => CallRecord[];
}): { calls: ApiCalls; control: ApiControl } {
  const { book, nodes, apiTools } = deps;
  return {
    calls: {
      list: (o) => book.list(o),
      get: (id) => book.get(id),
      originate: async ({ tools, builtin_tools, transfer_targets, ...body }) => {
        const toolPatch = { tools, builtin_tools, transfer_targets };
        const tooMany = toolCountProblem(toolPatch);
        if (tooMany) throw new InvalidRequestError(tooMany);
        // No I/O runs between the originate being sent and this line, so the call cannot be answered first.
        const record = await nodes.originate(body).catch((err: unknown) => {
          if (err instanceof AtCapacityError) throw new UnavailableError(err.message, 'at_capacity');
          if (!(err instanceof OriginateError)) throw err;
          throw err.kind === 'invalid' ? new InvalidRequestError(err.message) : new UnavailableError(err.message);
        });
        apiTools.set(record.id, toolPatch);
        return record;
      },
      hangup: (id) => nodes.hangup(id),
      subscribe: (id, fn) => {
        const listener = (record: CallRecord, change: Parameters<typeof fn>[1]) =>
          record.id === id && fn(record, change);
        book.on('change', listener);
        return () => book.off('change', listener);
      },
      subscribeAll: (fn) => {
        book.on('change', fn);
        return () => book.off('change', fn);
      },
      live: deps.live,
    },
    control: {
      transfer: (id, target, method) => nodes.transfer(id, target, { method }).catch(apiError),
      sendDtmf: (id, digits) => nodes.sendDtmf(id, digits).catch(apiError),
      say: (id, text) => sayResult(id, nodes.say(id, text)),
    },
  };
}

/**
 * Cluster mode: the calls API of this instance answers for every instance. Reads merge the shared live
 * records with this instance's calls; event streams add the other instances' changes; actions on a call
 * another instance carries are routed to it (calls/cluster-calls.ts).
 */
export function clusterApi(
  local: { calls: ApiCalls; control: ApiControl },
  cluster: ClusterCalls,
  nodes: CallNodes,
): { calls: ApiCalls; control: ApiControl } {
  const both = (mine: () => void, theirs: () => void) => () => {
    mine();
    theirs();
  };
  const { calls, control } = local;
  return {
    calls: {
      ...calls,
      list: (o) => cluster.list(o),
      get: (id) => cluster.get(id),
      hangup: (id) => cluster.route(id, 'hangup', undefined, () => calls.hangup(id)).catch(apiError),
      subscribe: (id, fn) =>
        both(
          calls.subscribe(id, fn),
          cluster.subscribe((record, change) => record.id === id && fn(record, change)),
        ),
      ...(calls.subscribeAll && { subscribeAll: (fn) => both(calls.subscribeAll!(fn), cluster.subscribe(fn)) }),
      ...(calls.live && { live: () => [...calls.live!(), ...cluster.remoteLive()] }),
    },
    control: {
      transfer: (id, target, method) =>
        cluster.route(id, 'transfer', { target, method }, () => control.transfer(id, target, method)).catch(apiError),
      sendDtmf: (id, digits) =>
        cluster.route(id, 'dtmf', { digits }, () => control.sendDtmf(id, digits)).catch(apiError),
      say: async (id, text) =>
        sayResult(
          id,
          await cluster.route(id, 'say', { text }, () => Promise.resolve(nodes.say(id, text))).catch(apiError),
        ),
    },
  };
}

/**
 * Where the cluster keeps its shared state in Redis (P = CLUSTER_PREFIX):
 * `P:claim:<callId>` the owner's instance id with a PX lease, `P:live` (callId → live record JSON),
 * `P:instances` (instance id → heartbeat JSON), and the pub/sub channels `P:changes`,
 * `P:actions:<instanceId>` (requests to an owner) and `P:replies:<instanceId>` (answers).
 */
export interface ClusterKeys {
  claim(callId: string): string;
  readonly live: string;
  readonly instances: string;
  readonly changes: string;
  actions(instanceId: string): string;
  replies(instanceId: string): string;
}

export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export function clusterKeys(prefix: string): ClusterKeys {
  if (!PREFIX_PATTERN.test(prefix)) throw new Error('cluster prefix must match [A-Za-z0-9_.:-]{1,64}');
  return {
    claim: (callId) => `${prefix}:claim:${callId}`,
    live: `${prefix}:live`,
    instances: `${prefix}:instances`,
    changes: `${prefix}:changes`,
    actions: (instanceId) => `${prefix}:actions:${instanceId}`,
    replies: (instanceId) => `${prefix}:replies:${instanceId}`,
  };
}

export function checkInstanceId(instanceId: string): string {
  if (!INSTANCE_ID_PATTERN.test(instanceId)) throw new Error('instance id must match [A-Za-z0-9_.-]{1,64}');
  return instanceId;
}

/** A lease below 300 ms leaves no room for a renewal round trip; above an hour is surely a unit mistake. */
export function checkLeaseMs(leaseMs: number): number {
  if (!Number.isInteger(leaseMs) || leaseMs < 300 || leaseMs > 3_600_000) {
    throw new Error('lease must be an integer from 300 to 3600000 ms');
  }
  return leaseMs;
}

import type { ToolDeclaration } from '../../agents/tools/types.ts';
import { signedHeaders } from '../signing.ts';
import { builtinDeclaration } from './built-ins.ts';
import { type BuiltinTool, TOOL_LIMITS, type ToolPatch, type WebhookTool, webhookTool } from './tool-config.ts';

/** What every webhook request says about the call (the same ids as the settings callback). */
export interface ToolCallContext {
  readonly call_id: string;
  readonly call_uuid: string;
  readonly direction: 'inbound' | 'outbound';
  readonly from: string;
  readonly to: string;
}

/**
 * The tools of one call, ready to run: what the runner needs besides the declarations the agent gets (URLs,
 * timeouts, the transfer allow-list). The signing secret stays inside `headers`, so a table that ends up in a
 * log or a JSON dump carries no secret.
 */
export interface CallToolTable {
  readonly webhooks: ReadonlyMap<string, WebhookTool>;
  readonly builtins: ReadonlySet<BuiltinTool>;
  /** Where transfer_call may send the caller; undefined: any valid target. */
  readonly transferTargets?: readonly string[];
  readonly context: ToolCallContext;
  headers(body: string): Record<string, string>;
}

export interface CallTools {
  /** For AgentSettings.tools: built-ins first, then webhooks. */
  declarations: ToolDeclaration[];
  table: CallToolTable;
  /** Webhooks left out because the call would have had more than TOOL_LIMITS.perCall tools. */
  dropped: string[];
}

/**
 * The call's tools from its merged tool settings, or undefined when it has none. Sources that each pass the
 * count check can still add up to more than a call may have (16 webhooks from a profile, 3 built-ins from the
 * file): the webhooks past the limit are dropped and named.
 */
export function callTools(
  patch: ToolPatch | undefined,
  context: ToolCallContext,
  secret?: string,
): CallTools | undefined {
  const builtins = [...new Set(patch?.builtin_tools ?? [])];
  const specs = patch?.tools ?? [];
  if (builtins.length === 0 && specs.length === 0) return undefined;
  const room = TOOL_LIMITS.perCall - builtins.length;
  const kept = specs.slice(0, room).map(webhookTool);
  const transferTargets = patch?.transfer_targets;
  const declarations: ToolDeclaration[] = [
    ...builtins.map((b) => builtinDeclaration(b, { transferTargets })),
    ...kept.map(({ name, description, parameters, behavior, scheduling }) => ({
      name,
      description,
      parameters,
      ...(behavior && { behavior }),
      ...(scheduling && { scheduling }),
    })),
  ];
  return {
    declarations,
    table: {
      webhooks: new Map(kept.map((t) => [t.name, t])),
      builtins: new Set(builtins),
      ...(transferTargets && { transferTargets }),
      context,
      headers: (body) => signedHeaders(secret, body),
    },
    dropped: specs.slice(room).map((t) => t.name),
  };
}

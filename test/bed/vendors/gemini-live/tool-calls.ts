/** Tool calls on a fake Live session: the model's calls and cancellations, the client's responses. */
import { ModelOutputSession } from './model-output.ts';

export abstract class ToolCallSession extends ModelOutputSession {
  readonly toolResponses: Record<string, any>[] = [];

  /** Calls still waiting for a response: handles are not resumable, and held turns wait, until it is empty. */
  protected readonly pendingTools = new Set<string>();
  private toolCallSeq = 0;

  /**
   * A toolCall with these function calls (two or more: parallel calls): handles are not resumable, and with
   * `holdTurnsForTools` no reply starts, until every call has a response or is cancelled.
   */
  toolCall(functionCalls: { id: string; name: string; args?: Record<string, unknown> }[]): void {
    for (const c of functionCalls) this.pendingTools.add(c.id);
    this.send({ toolCall: { functionCalls } });
    this.sendResumptionUpdate();
  }

  /** The model calls one tool; returns the call's id (`call-N` unless given). */
  callTool(name: string, args: Record<string, unknown> = {}, opts: { id?: string } = {}): string {
    const id = opts.id ?? `call-${++this.toolCallSeq}`;
    this.toolCall([{ id, name, args }]);
    return id;
  }

  /** `toolCallCancellation` (the service sends it when the caller interrupts a turn with calls pending). */
  cancelTool(ids: string[]): void {
    for (const id of ids) this.pendingTools.delete(id);
    this.send({ toolCallCancellation: { ids } });
    this.sendResumptionUpdate();
    this.releaseHeldTurn();
  }

  /** Ids of the calls still waiting for a response. */
  get pendingToolIds(): string[] {
    return [...this.pendingTools];
  }

  /** Resolves with the next functionResponse for `id` (recorded in `toolResponses` too). */
  async nextToolResponse(id: string, timeoutMs = 2000): Promise<Record<string, any>> {
    const seen = (): Record<string, any> | undefined =>
      this.toolResponses.flatMap((r) => (r.functionResponses ?? []) as Record<string, any>[]).find((r) => r.id === id);
    const end = performance.now() + timeoutMs;
    for (;;) {
      const r = seen();
      if (r !== undefined) return r;
      if (performance.now() > end) throw new Error(`fake gemini session ${this.id}: no response to tool call ${id}`);
      await this.nextMessage('toolResponse', Math.max(1, end - performance.now())).catch(() => undefined);
    }
  }

  /** Send a session resumption update if the setup asked for them (resumable or not, as things stand). */
  protected abstract sendResumptionUpdate(): void;

  /** Start the reply autoReply held back while calls were pending, if none is pending any more. */
  protected abstract releaseHeldTurn(): void;

  protected override onToolResponse(toolResponse: Record<string, any>): void {
    this.toolResponses.push(toolResponse);
    for (const r of (toolResponse.functionResponses ?? []) as { id?: string }[]) {
      if (r.id !== undefined) this.pendingTools.delete(r.id);
    }
    this.sendResumptionUpdate();
    this.releaseHeldTurn();
  }
}

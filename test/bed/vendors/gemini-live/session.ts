/**
 * The session class tests get: the setup handshake, on top of one layer per job (wire-session → caller-audio →
 * model-output → tool-calls → auto-reply → resumable-session; a layer calls up through abstract hooks).
 */
import type { WebSocket } from 'ws';
import type { HandleStore } from './handle-store.ts';
import type { GeminiLiveFakeOptions } from './options.ts';
import { BAD_KEY_REASON, DEFAULT_CLOSE_REASONS, NO_KEY_REASON } from './protocol.ts';
import { ResumableSession } from './resumable-session.ts';

/** One client connection (one Live session). */
export class FakeLiveSession extends ResumableSession {
  private readonly onSetupComplete: () => void;

  constructor(
    id: number,
    ws: WebSocket,
    path: string,
    query: URLSearchParams,
    opts: GeminiLiveFakeOptions,
    onSetupComplete: () => void,
    store: HandleStore,
  ) {
    super(id, ws, path, query, opts, store);
    this.onSetupComplete = onSetupComplete;
  }

  /** Like the service: refusals (scripted, key, model, 3.8 rules, handle) close the socket; else setupComplete. */
  protected override afterSetup(): void {
    const o = this.opts;
    if (o.refuse?.startsWith('close-')) {
      const code = Number(o.refuse.slice(6));
      this.close(code, o.refuseReason ?? DEFAULT_CLOSE_REASONS[code] ?? 'refused by fake');
      return;
    }
    if (!this.key) {
      this.close(1008, NO_KEY_REASON);
      return;
    }
    if (o.apiKey !== undefined && this.key !== o.apiKey) {
      this.close(1008, BAD_KEY_REASON);
      return;
    }
    const model = String(this.setup?.model ?? '');
    if (o.models && !o.models.includes(model)) {
      this.close(
        1008,
        `${model} is not found for API version ${this.apiVersion}, or is not supported for bidiGenerateContent. Call ListModels to see the list of available models and their supported methods.`,
      );
      return;
    }
    const refusal = this.setupRefusal(model);
    if (refusal !== undefined) {
      this.close(1007, refusal);
      return;
    }
    if (!this.resume()) return;
    if (o.neverCompleteSetup) return;
    const complete = () => {
      if (this.isClosed) return;
      this.setupCompleted = true;
      this.setupCompletedAt = performance.now();
      this.send({ setupComplete: {} });
      this.onSetupComplete();
      this.afterSetupComplete();
    };
    if (o.setupDelayMs && o.setupDelayMs > 0) {
      this.timer(o.setupDelayMs, complete);
    } else {
      complete();
    }
  }

  /** Why the service would refuse this setup for `model` (1007), if it would. */
  private setupRefusal(model: string): string | undefined {
    if (!/gemini-3\.8/.test(model)) return undefined;
    const s = this.setup!;
    if (s.generationConfig?.thinkingConfig?.thinkingLevel !== undefined) {
      return `thinking_level is not supported by ${model.replace(/^models\//, '')}.`;
    }
    if (s.proactivity?.proactiveAudio === false) {
      return `proactive_audio cannot be disabled for ${model.replace(/^models\//, '')}.`;
    }
    return undefined;
  }
}

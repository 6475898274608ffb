/**
 * Session resumption on a fake Live session: `sessionResumptionUpdate`s as the service sends them, each resumable
 * handle keeping a snapshot of the conversation, and a setup's handle continuing that conversation.
 */
import type { WebSocket } from 'ws';
import { AutoReplySession } from './auto-reply.ts';
import type { HandleStore } from './handle-store.ts';
import type { GeminiLiveFakeOptions } from './options.ts';
import { HANDLE_IN_USE_REASON, HANDLE_REFUSED_REASON } from './protocol.ts';

export abstract class ResumableSession extends AutoReplySession {
  /** The conversation this connection belongs to (kept across resumptions). */
  conversation = 0;
  /** The handle this connection resumed, if any. */
  resumedFrom: string | undefined;
  /** Handles sent on this connection, newest last. */
  readonly handles: string[] = [];

  private readonly store: HandleStore;
  /** A reply is being generated (audio not all sent yet): handles are not resumable. */
  private generating = false;
  private lastUpdateResumable: boolean | undefined;

  constructor(
    id: number,
    ws: WebSocket,
    path: string,
    query: URLSearchParams,
    opts: GeminiLiveFakeOptions,
    store: HandleStore,
  ) {
    super(id, ws, path, query, opts);
    this.store = store;
  }

  /** A hand-made update (the fake sends its own when the setup asks for resumption). */
  sessionResumptionUpdate(newHandle: string, resumable = true): void {
    this.send({ sessionResumptionUpdate: { newHandle, resumable } });
  }

  /** Issue a resumable handle now if nothing is being generated (the fake also does so by itself). */
  issueHandle(): string | undefined {
    this.sendResumptionUpdate();
    return this.lastUpdateResumable ? this.handles.at(-1) : undefined;
  }

  /** Continue the conversation of the setup's handle, or start a new one; false when the handle was refused. */
  protected resume(): boolean {
    const handle = this.setup?.sessionResumption?.handle as string | undefined;
    if (handle === undefined || handle === '') {
      this.conversation = this.store.newConversation();
      return true;
    }
    const r = this.opts.resumption ?? {};
    const snap = this.store.find(handle, r.handleTtlMs ?? 2 * 3600_000);
    if (snap === undefined) {
      this.close(1007, HANDLE_REFUSED_REASON);
      return false;
    }
    if ((r.refuseWhileOpen ?? true) && snap.session.isOpen) {
      this.close(1013, HANDLE_IN_USE_REASON);
      return false;
    }
    this.resumedFrom = handle;
    this.conversation = snap.conversation;
    this.autoTurns = snap.turns;
    this.conversationAudio = snap.audio.slice(0, snap.audioCount);
    this.conversationAudioBytes = snap.audioBytes;
    this.speechMs = snap.speechMs;
    this.silenceRunMs = snap.silenceRunMs;
    return true;
  }

  protected afterSetupComplete(): void {
    if (this.setup?.sessionResumption !== undefined) {
      this.sendResumptionUpdate();
      const every = this.opts.resumption?.updateEveryMs ?? 500;
      const tick = () => {
        if (!this.generating) this.sendResumptionUpdate();
        this.timer(every, tick);
      };
      this.timer(every, tick);
    }
    const after = this.opts.goAwayAfterMs;
    if (after !== undefined) this.timer(after, () => this.goAway(this.opts.goAwayTimeLeftMs ?? 2000));
  }

  protected override startGenerating(): void {
    this.generating = true;
    if (this.lastUpdateResumable !== false) this.sendResumptionUpdate();
  }

  protected override endGenerating(): void {
    if (!this.generating) return;
    this.generating = false;
    this.sendResumptionUpdate();
  }

  /** Like the service: a handle only when resuming would lose nothing, else `resumable: false` (once). */
  protected override sendResumptionUpdate(): void {
    const setup = this.setup;
    if (this.isClosed || !this.setupCompleted || setup?.sessionResumption === undefined) return;
    const resumable = !this.generating && this.pendingTools.size === 0;
    if (!resumable) {
      if (this.lastUpdateResumable !== false) this.send({ sessionResumptionUpdate: { resumable: false } });
      this.lastUpdateResumable = false;
      return;
    }
    this.lastUpdateResumable = true;
    const newHandle = this.store.issue({
      conversation: this.conversation,
      turns: this.autoTurns,
      audio: this.conversationAudio,
      audioCount: this.conversationAudio.length,
      audioBytes: this.conversationAudioBytes,
      speechMs: this.speechMs,
      silenceRunMs: this.silenceRunMs,
      issuedAt: performance.now(),
      session: this,
    });
    this.handles.push(newHandle);
    const update: Record<string, unknown> = { newHandle, resumable: true };
    if (setup.sessionResumption.transparent === true && this.consumedMessages > 0) {
      update.lastConsumedClientMessageIndex = String(this.consumedMessages - 1);
    }
    this.send({ sessionResumptionUpdate: update });
  }

  protected override onClosed(): void {
    super.onClosed();
    this.generating = false;
  }
}

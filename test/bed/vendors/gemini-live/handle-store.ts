/** Session resumption handles and the conversation snapshot each one resumes. */

/** What a handle resumes: the conversation as the model had it when the handle was issued. */
export interface Snapshot {
  conversation: number;
  turns: number;
  /** The conversation's caller audio, of which the first `audioCount` chunks were consumed (shared, append-only). */
  audio: Buffer[];
  audioCount: number;
  audioBytes: number;
  speechMs: number;
  silenceRunMs: number;
  issuedAt: number;
  /** The connection that issued it: a handle is refused while it is still open (`refuseWhileOpen`). */
  session: { readonly isOpen: boolean };
}

/** Handles the fake has issued, across connections (a conversation outlives each of them). */
export class HandleStore {
  readonly #snapshots = new Map<string, Snapshot>();
  #issued = 0;
  #conversations = 0;

  newConversation(): number {
    return ++this.#conversations;
  }

  issue(s: Snapshot): string {
    const handle = `fake-handle-${s.conversation}-${++this.#issued}`;
    this.#snapshots.set(handle, s);
    return handle;
  }

  /** The snapshot of a handle issued less than `ttlMs` ago. */
  find(handle: string, ttlMs: number): Snapshot | undefined {
    const s = this.#snapshots.get(handle);
    return s !== undefined && performance.now() - s.issuedAt <= ttlMs ? s : undefined;
  }

  /** Forget every handle (what `expireHandles()` on the fake does). */
  clear(): void {
    this.#snapshots.clear();
  }
}

import { EslCommandError } from '../freeswitch/esl.ts';
import type { OutgoingChunk } from './transport.ts';

/** First retry after the ESL link failed, doubling up to MAX_PROBE_MS (the ESL client reconnects from 250 ms). */
const FIRST_PROBE_MS = 100;
const MAX_PROBE_MS = 1000;

/** What the link needs from the ChunkLedger (chunk-ledger.ts). */
export interface LinkHost {
  /** Chunks in play order (the ledger's own array: read, and changed only through the callbacks below). */
  chunks(): readonly OutgoingChunk[];
  /** Send `path` as a playback command (the resync marker). */
  play(path: string, id: string): Promise<void>;
  /** FreeSWITCH has finished `chunk` (played it): forget it and delete its file. */
  done(chunk: OutgoingChunk): void;
  /** Commands may flow again (after a drop was resolved). */
  resumed(): void;
}

/** `play()` failed because FreeSWITCH refused the command (`-ERR`): it never plays. Anything else: the link failed. */
export function refused(err: unknown): boolean {
  return err instanceof EslCommandError;
}

/**
 * Keeps a reply whole across ESL reconnects.
 *
 * When the connection drops, FreeSWITCH keeps playing the files it has while callbridge cannot see its events,
 * and a command in flight may or may not have reached it. Nothing is dropped: chunks stay in the ledger, and
 * nothing new is commanded until it is known what FreeSWITCH has. After the reconnect (found by retrying; the
 * first command that gets through is the marker) the link sends a **marker**: a playback of a file that does
 * not exist. FreeSWITCH runs its application queue in order, so the marker's CHANNEL_EXECUTE_COMPLETE (FILE NOT
 * FOUND, no audio) says that every file commanded before it has been played. The rule for a command whose
 * reply never came (`unknown`):
 *
 * - a PLAYBACK_START or EXECUTE_COMPLETE after the drop naming it, or a later chunk: it reached FreeSWITCH;
 * - otherwise, once the marker completes: it did not, and it is sent again (with everything after it, in
 *   order). This is certain when the events named an earlier chunk after the reconnect (it would have played
 *   after that one, in view) or when FreeSWITCH still had audio queued then. The one case no event can tell: the
 *   outage outlasted everything FreeSWITCH had queued, and the command in flight was received and played unseen.
 *   Then that one chunk is heard twice rather than lost.
 *
 * Chunks whose +OK arrived but whose events fell into the outage are finished by the marker too (their files
 * deleted then), so the ledger does not wait for events that will never come.
 */
export class EslLink {
  readonly #host: LinkHost;
  #state: 'up' | 'down' | 'syncing' = 'up';
  /** The marker being waited for. */
  #marker: string | undefined;
  #markers = 0;
  /** The chunks commanded before the marker: the ones its completion speaks for. */
  #beforeMarker = new Set<OutgoingChunk>();
  /** The path of a chunk FreeSWITCH was commanded to play: markers are named after it (same directory). */
  #lastPath: string | undefined;
  #probeMs = FIRST_PROBE_MS;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(host: LinkHost) {
    this.#host = host;
  }

  /** Commands may be sent. */
  get up(): boolean {
    return this.#state === 'up';
  }

  commanded(path: string): void {
    this.#lastPath = path;
  }

  /** The connection dropped (the session says so) or a command failed without a reply. */
  failed(): void {
    if (this.#closed) return;
    this.#marker = undefined;
    this.#beforeMarker.clear();
    if (this.#state === 'down') return;
    this.#state = 'down';
    this.#probeMs = FIRST_PROBE_MS;
    this.#schedule();
  }

  /**
   * An event named `chunk` (PLAYBACK_START or EXECUTE_COMPLETE): it reached FreeSWITCH and so did every chunk
   * commanded before it. Resolves the drop early when no chunk's fate is unknown any more.
   */
  named(chunk: OutgoingChunk): void {
    for (const c of this.#host.chunks()) {
      if (c.state === 'unknown') c.state = 'accepted';
      if (c === chunk) break;
    }
    if (this.#state === 'syncing' && !this.#host.chunks().some((c) => c.state === 'unknown')) this.#resume();
  }

  /** EXECUTE_COMPLETE for a path that is not a chunk of ours: true if it was the marker (handled here). */
  markerDone(path: string): boolean {
    if (path !== this.#marker) return false;
    this.#marker = undefined;
    // Everything commanded before the marker has been played: chunks FreeSWITCH accepted are done, and an
    // unknown chunk no event named did not reach it (see the class comment).
    for (const c of [...this.#host.chunks()]) {
      if (!this.#beforeMarker.has(c)) continue;
      if (c.state === 'accepted') this.#host.done(c);
      else if (c.state === 'unknown') c.state = 'ready';
    }
    this.#beforeMarker.clear();
    if (this.#state === 'syncing') this.#resume();
    return true;
  }

  /** A barge-in dropped every chunk: nothing is uncertain any more (a marker still due is ignored). */
  cleared(): void {
    this.#marker = undefined;
    this.#beforeMarker.clear();
    if (this.#state === 'syncing') this.#resume();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#beforeMarker.clear();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#probe(), this.#probeMs);
    this.#probeMs = Math.min(MAX_PROBE_MS, this.#probeMs * 2);
  }

  /** Try the link: with chunks in an unknown state (or events lost), by sending the marker; else just resume. */
  #probe(): void {
    if (this.#closed || this.#state !== 'down') return;
    const chunks = this.#host.chunks();
    const uncertain = chunks.some((c) => c.state === 'unknown' || c.state === 'accepted' || c.state === 'commanded');
    if (!uncertain || !this.#lastPath) return this.#resume();
    const marker = this.#lastPath.replace(/(\.[^./]+)?$/, `-resync-${++this.#markers}$1`);
    this.#marker = marker;
    this.#beforeMarker = new Set(chunks.filter((c) => c.state !== 'writing' && c.state !== 'ready'));
    this.#state = 'syncing';
    this.#host.play(marker, `resync-${this.#markers}`).then(
      () => {
        // Through: FreeSWITCH has queued it. With no fate unknown, commands may flow at once (behind the marker).
        if (
          this.#marker === marker &&
          this.#state === 'syncing' &&
          !this.#host.chunks().some((c) => c.state === 'unknown')
        )
          this.#resume();
      },
      () => {
        if (this.#marker !== marker || this.#closed) return;
        this.#marker = undefined;
        this.#beforeMarker.clear();
        this.#state = 'down';
        this.#schedule();
      },
    );
  }

  #resume(): void {
    clearTimeout(this.#timer);
    this.#state = 'up';
    this.#probeMs = FIRST_PROBE_MS;
    this.#host.resumed();
  }
}

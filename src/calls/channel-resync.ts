import { listChannels, readChannel, type ChannelRow } from '../freeswitch/channel-list.ts';
import type { EslClient } from '../freeswitch/esl.ts';
import { channelInfo, type ChannelInfo, type RawEvent } from '../freeswitch/events.ts';
import type { Logger } from '../log.ts';
import { errorText } from '../errors.ts';
import { isMarked } from './marker.ts';

/** How often a failed channel listing after a (re)connect is retried before waiting for the next connect. */
const ATTEMPTS = 3;
const RETRY_MS = 1000;

/** A live call as the resync sees it: ended when its channel is gone. */
export interface ResyncedCall {
  readonly id: string;
  end(reason: string, opts: { hangup?: boolean }): Promise<void>;
}

export interface ResyncHost {
  esl: EslClient;
  logger: Logger;
  /** Live sessions by call uuid. */
  sessions: ReadonlyMap<string, ResyncedCall>;
  accepting(): boolean;
  /** Outbound calls whose originate result was lost with the connection. */
  unconfirmed(): string[];
  /** Its channel exists: its own events (or `take`) carry it on from here. */
  confirm(id: string): void;
  failUnconfirmed(id: string, why: string): void;
  /** Take a marked parked channel, as on CHANNEL_PARK (a second take of the same uuid is ignored). */
  take(channel: ChannelInfo): void;
}

/**
 * After every (re)connect, what FreeSWITCH holds decides: events sent while ESL was down are lost for good,
 * so calls are learned from the channel list, not only from CHANNEL_PARK. Calls whose channel vanished are
 * ended, outbound calls whose result was lost are confirmed or failed, and marked channels in CS_EXECUTE that
 * no session owns (parked while ESL was down, or left by a previous run) are taken.
 */
export class ChannelResync {
  readonly #h: ResyncHost;
  /** A newer connect supersedes a resync still running for an older one. */
  #generation = 0;
  #retry: NodeJS.Timeout | undefined;

  constructor(host: ResyncHost) {
    this.#h = host;
  }

  run(): void {
    void this.#run(1).catch((err) => this.#h.logger.error({ err: errorText(err) }, 'resync with FreeSWITCH failed'));
  }

  stop(): void {
    this.#generation++;
    clearTimeout(this.#retry);
  }

  async #run(attempt: number): Promise<void> {
    const { esl, logger, sessions } = this.#h;
    const generation = ++this.#generation;
    clearTimeout(this.#retry);
    // The listing can only judge calls that existed when it was asked for: a call picked up from its
    // CHANNEL_PARK while the listing is on its way is not in it, and is not gone.
    const known = new Set(sessions.keys());
    const unconfirmed = this.#h.unconfirmed();
    let rows: ChannelRow[];
    try {
      rows = await listChannels(esl);
    } catch (err) {
      if (generation !== this.#generation || !esl.connected) return;
      logger.warn({ err: errorText(err), attempt }, 'could not list FreeSWITCH channels after connecting');
      if (attempt < ATTEMPTS) this.#retry = setTimeout(() => void this.#run(attempt + 1).catch(() => {}), RETRY_MS);
      return;
    }
    if (generation !== this.#generation) return;
    const present = new Set(rows.map((r) => r.uuid));
    for (const s of [...sessions.values()]) {
      if (known.has(s.id) && !present.has(s.id))
        void s.end('channel gone while ESL was disconnected', { hangup: false });
    }
    const stillUnconfirmed = new Set(this.#h.unconfirmed());
    for (const id of unconfirmed) {
      if (!stillUnconfirmed.has(id)) continue;
      if (present.has(id)) this.#h.confirm(id);
      else this.#h.failUnconfirmed(id, 'the call is not in FreeSWITCH');
    }
    let taken = 0;
    for (const row of rows) {
      if (sessions.has(row.uuid) || row.state !== 'CS_EXECUTE' || row.callstate === 'HANGUP') continue;
      let dumped: RawEvent | undefined;
      try {
        dumped = await readChannel(esl, row.uuid);
      } catch (err) {
        logger.warn({ call: row.uuid, err: errorText(err) }, 'could not read a channel after connecting');
      }
      if (generation !== this.#generation || !this.#h.accepting()) return;
      if (!dumped || sessions.has(row.uuid)) continue;
      const channel = channelInfo(dumped);
      if (channel.uuid !== row.uuid || !isMarked(channel)) continue;
      logger.info({ call: row.uuid, direction: channel.direction }, 'taking a parked call found after connecting');
      this.#h.take(channel);
      taken++;
    }
    logger.info({ channels: rows.length, calls: sessions.size, taken }, 'resynchronised with FreeSWITCH');
  }
}

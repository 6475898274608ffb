import * as cmd from './commands.ts';
import { EslCommandError, type EslClient } from './esl.ts';

/** The commands a call session sends to its FreeSWITCH channel, each built and validated by commands.ts. */
export class ChannelControl {
  readonly uuid: string;
  readonly #esl: EslClient;

  constructor(esl: EslClient, uuid: string) {
    this.#esl = esl;
    this.uuid = cmd.uuid(uuid);
  }

  async answer(): Promise<void> {
    await this.#esl.apiOk(cmd.answer(this.uuid));
  }

  async setVariables(vars: Record<string, string>): Promise<void> {
    await this.#esl.apiOk(cmd.setVariables(this.uuid, vars));
  }

  async startStream(url: string, sampleRate: 8000 | 16000, metadata: Record<string, string | number>): Promise<void> {
    await this.#esl.apiOk(cmd.audioStreamStart(this.uuid, url, sampleRate, metadata));
  }

  async stopStream(): Promise<void> {
    await this.#esl.apiOk(cmd.audioStreamStop(this.uuid));
  }

  /** Queue a file: `sendmsg` execute playback with event-lock (default) or `uuid_broadcast`. */
  async play(path: string, chunkId: string, method: 'sendmsg' | 'broadcast'): Promise<void> {
    if (method === 'broadcast') {
      await this.#esl.apiOk(cmd.broadcast(this.uuid, path));
      return;
    }
    const reply = await this.#esl.sendmsg(cmd.playFile(this.uuid, path, chunkId));
    if (!reply.startsWith('+OK')) throw new EslCommandError('sendmsg playback', reply);
  }

  /** `uuid_break <uuid> all`; written to the socket before this returns. */
  breakAll(): Promise<string> {
    return this.#esl.api(cmd.breakPlayback(this.uuid, true));
  }

  async hangup(cause = 'NORMAL_CLEARING'): Promise<void> {
    await this.#esl.api(cmd.kill(this.uuid, cause));
  }

  /** Hang up once the files queued with `play` (sendmsg) have been played: `execute hangup` behind them. */
  async hangupAfterPlayback(cause = 'NORMAL_CLEARING'): Promise<void> {
    const reply = await this.#esl.sendmsg(cmd.hangupAfterQueue(this.uuid, cause));
    if (!reply.startsWith('+OK')) throw new EslCommandError('sendmsg hangup', reply);
  }

  /**
   * `bgapi originate` of a transfer's B leg (validated before anything is sent). Resolves with the
   * BACKGROUND_JOB body: `+OK <uuid>` once it answered, `-ERR <CAUSE>` (USER_BUSY, NO_ANSWER, ...) otherwise.
   */
  originateLeg(o: cmd.BridgeLegOptions, timeoutMs: number): Promise<string> {
    return this.#esl.bgapi(cmd.bridgeLeg(o), timeoutMs);
  }

  /** `uuid_bridge <this> <other>`: the caller is joined to the answered, parked B leg. */
  async bridgeTo(other: string): Promise<void> {
    await this.#esl.apiOk(cmd.bridge(this.uuid, other));
  }

  /** Hang up another leg (a transfer's B leg no longer wanted); errors are the caller's to ignore. */
  async hangupLeg(id: string, cause = 'ORIGINATOR_CANCEL'): Promise<void> {
    await this.#esl.api(cmd.kill(id, cause));
  }

  /**
   * `bgapi uuid_deflect <uuid> <uri>` (SIP REFER). Never `api`: FreeSWITCH holds the reply until the NOTIFY
   * or its 10 s wait, and an `api` would hold every later reply on the socket with it. Resolves with the
   * BACKGROUND_JOB body: `+OK:SIP/2.0 200 OK` (accepted) or `+OK:no reply` (refused or unanswered).
   */
  deflect(uri: string, timeoutMs: number): Promise<string> {
    return this.#esl.bgapi(cmd.deflect(this.uuid, uri), timeoutMs);
  }

  /** `uuid_send_dtmf`: resolves once FreeSWITCH accepted the digits (it plays them out ~0.5 s each). */
  async sendDtmf(digits: string): Promise<void> {
    await this.#esl.apiOk(cmd.sendDtmf(this.uuid, digits));
  }

  /** Stereo recording, both channels aligned (no pre-buffer), into `path` as FreeSWITCH sees it. */
  async startRecording(path: string): Promise<void> {
    const start = cmd.recordStart(this.uuid, path);
    await this.#esl.apiOk(cmd.setVariables(this.uuid, { RECORD_STEREO: 'true', RECORD_PRE_BUFFER_FRAMES: '0' }));
    await this.#esl.apiOk(start);
  }

  async exists(): Promise<boolean> {
    return (await this.#esl.api(cmd.exists(this.uuid))).trim() === 'true';
  }
}

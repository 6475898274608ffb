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

  async exists(): Promise<boolean> {
    return (await this.#esl.api(cmd.exists(this.uuid))).trim() === 'true';
  }
}

import * as JsSIP from 'jssip';
import type { RTCSession } from 'jssip/lib/RTCSession';
import { api } from './api.ts';
import { browserCallConfig, type BrowserCallTicketAnswer } from './browser-call-config.ts';

export type BrowserCallState =
  | { name: 'connecting' }
  | { name: 'ringing' }
  | { name: 'in call' }
  | { name: 'ended'; cause: string };

/**
 * One call from this browser to the agent: a short-lived ticket from callbridge, then SIP over WebSocket
 * straight to FreeSWITCH (nothing registers) with WebRTC audio. FreeSWITCH lets the call reach the agent
 * only; callbridge takes it only with a valid, unused ticket.
 */
export class BrowserCall {
  readonly #onState: (s: BrowserCallState) => void;
  readonly #audio: HTMLAudioElement;
  #ua: JsSIP.UA | undefined;
  #session: RTCSession | undefined;
  #ended = false;

  constructor(audio: HTMLAudioElement, onState: (s: BrowserCallState) => void) {
    this.#audio = audio;
    this.#onState = onState;
  }

  async start(): Promise<void> {
    this.#onState({ name: 'connecting' });
    let config: ReturnType<typeof browserCallConfig>;
    try {
      config = browserCallConfig(await api.post<BrowserCallTicketAnswer>('/console/browser-call'));
    } catch (e) {
      return this.#end(e instanceof Error ? e.message : String(e));
    }
    const ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(config.wsUrl)],
      uri: config.uaUri,
      register: false,
    });
    this.#ua = ua;
    ua.on('disconnected', () => {
      if (!this.#session) this.#end('cannot reach the SIP WebSocket');
    });
    ua.on('connected', () => {
      if (this.#session || this.#ended) return;
      const session = ua.call(config.target, config.callOptions);
      this.#session = session;
      session.on('progress', () => this.#onState({ name: 'ringing' }));
      session.on('confirmed', () => this.#onState({ name: 'in call' }));
      session.on('ended', (e) => this.#end(e.cause));
      session.on('failed', (e) => this.#end(e.cause));
      // The remote track appears once the answer's SDP is applied.
      session.connection?.addEventListener('track', (e) => {
        this.#audio.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      });
    });
    ua.start();
  }

  hangup(): void {
    if (this.#session && !this.#session.isEnded()) this.#session.terminate();
    else this.#end('Canceled');
  }

  #end(cause: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#onState({ name: 'ended', cause });
    this.#audio.srcObject = null;
    this.#ua?.stop();
  }
}

/** The fake's server: the Live endpoint's path and HTTP errors, one FakeLiveSession per connection, the handle store. */
import type { WebSocket } from 'ws';
import { WsFake, type HttpRefusal, type Listening, type Upgrade } from '../ws-fake.ts';
import { HandleStore } from './handle-store.ts';
import type { GeminiLiveFakeOptions } from './options.ts';
import { PATH_RE } from './protocol.ts';
import { FakeLiveSession } from './session.ts';

export class GeminiLiveFake extends WsFake<FakeLiveSession, GeminiLiveFakeOptions> {
  /** `http://127.0.0.1:PORT`, for `httpOptions.baseUrl`. */
  readonly baseUrl: string;
  private readonly handles = new HandleStore();

  private constructor(listening: Listening, options: GeminiLiveFakeOptions) {
    super(listening, options, 'fake gemini: no session', 2000);
    this.baseUrl = `http://127.0.0.1:${this.port}`;
  }

  static async start(options: GeminiLiveFakeOptions = {}): Promise<GeminiLiveFake> {
    const listening = await WsFake.listen(
      '{"error":{"code":404,"message":"Not found (fake Gemini Live serves WebSocket only)","status":"NOT_FOUND"}}',
      options.perMessageDeflate ?? false,
    );
    return new GeminiLiveFake(listening, options);
  }

  protected override checkPath(u: Upgrade): HttpRefusal | undefined {
    return PATH_RE.test(u.path)
      ? undefined
      : { status: 404, body: '{"error":{"code":404,"message":"Not found","status":"NOT_FOUND"}}' };
  }

  protected override httpRefusal(status: number): HttpRefusal {
    return { status, body: `{"error":{"code":${status},"message":"refused by fake","status":"PERMISSION_DENIED"}}` };
  }

  protected override statusText(status: number): string {
    return status === 404 ? 'Not Found' : status === 403 ? 'Forbidden' : 'Error';
  }

  // The key and the model are checked after the setup frame (the real service closes with 1008), not here.
  protected override createSession(id: number, ws: WebSocket, { path, query }: Upgrade): FakeLiveSession {
    const session: FakeLiveSession = new FakeLiveSession(
      id,
      ws,
      path,
      query,
      this.options,
      () => this.emit('setupComplete', session),
      this.handles,
    );
    return session;
  }

  /** Every handle issued so far stops being valid (as after the service's retention period). */
  expireHandles(): void {
    this.handles.clear();
  }

  /** The connections of one conversation, in order (the first, then each resumption). */
  conversationSessions(conversation: number): FakeLiveSession[] {
    return this.sessions.filter((s) => s.conversation === conversation);
  }
}

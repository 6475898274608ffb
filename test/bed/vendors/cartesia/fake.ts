/**
 * The fake's server: the TTS endpoint's path, key and version checks with Cartesia's HTTP errors, one
 * FakeCartesiaSession per connection.
 */
import type { WebSocket } from 'ws';
import { WsFake, type HttpRefusal, type Listening, type Upgrade } from '../ws-fake.ts';
import type { CartesiaFakeOptions, FakeTtsContext } from './options.ts';
import { PATH, error } from './protocol.ts';
import { FakeCartesiaSession } from './session.ts';

export class CartesiaFake extends WsFake<FakeCartesiaSession, CartesiaFakeOptions> {
  /** `http://127.0.0.1:PORT`, for the client's `baseURL`. */
  readonly baseUrl: string;
  /** Generation requests received over all sessions. */
  generationRequests = 0;

  private constructor(listening: Listening, options: CartesiaFakeOptions) {
    super(listening, options, 'fake cartesia: no session');
    this.baseUrl = `http://127.0.0.1:${this.port}`;
  }

  static async start(options: CartesiaFakeOptions = {}): Promise<CartesiaFake> {
    return new CartesiaFake(
      await WsFake.listen('{"error":"not found (fake cartesia serves /tts/websocket only)"}'),
      options,
    );
  }

  /** Every context over all sessions, in creation order. */
  allContexts(): FakeTtsContext[] {
    return this.sessions.flatMap((s) => [...s.contexts.values()]);
  }

  /** Every cancel over all sessions. */
  allCancels(): { contextId: string; at: number }[] {
    return this.sessions.flatMap((s) => s.cancels);
  }

  protected override checkPath(u: Upgrade): HttpRefusal | undefined {
    return u.path.replace(/\/+$/, '') === PATH ? undefined : error(404, `not found: ${u.path}`);
  }

  protected override httpRefusal(status: number): HttpRefusal {
    return error(status, 'refused by fake');
  }

  protected override checkRequest({ req, query }: Upgrade): HttpRefusal | undefined {
    const auth = String(req.headers.authorization ?? '');
    const key = /^Bearer\s+(.+)$/i.exec(auth)?.[1] ?? String(req.headers['x-api-key'] ?? query.get('api_key') ?? '');
    if (!key || (this.options.apiKey !== undefined && key !== this.options.apiKey))
      return error(401, 'Invalid API key');
    if (!req.headers['cartesia-version'] && !query.get('cartesia_version'))
      return error(400, 'cartesia-version header is required');
    return undefined;
  }

  protected override statusText(status: number): string {
    return status === 401 ? 'Unauthorized' : 'Error';
  }

  protected override createSession(id: number, ws: WebSocket, { req, query }: Upgrade): FakeCartesiaSession {
    return new FakeCartesiaSession(id, ws, req, query, this);
  }
}

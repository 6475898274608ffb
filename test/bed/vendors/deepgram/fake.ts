/** The fake's server: the listen endpoint's path, key and query checks with Deepgram's HTTP errors, one FakeDeepgramSession per connection. */
import type { WebSocket } from 'ws';
import { WsFake, type HttpRefusal, type Listening, type Upgrade } from '../ws-fake.ts';
import type { DeepgramFakeOptions } from './options.ts';
import { ENCODINGS, PATH, dgError } from './protocol.ts';
import { FakeDeepgramSession } from './session.ts';

export class DeepgramFake extends WsFake<FakeDeepgramSession, DeepgramFakeOptions> {
  /** `ws://127.0.0.1:PORT`, for the SDK's `baseUrl`. */
  readonly url: string;

  private constructor(listening: Listening, options: DeepgramFakeOptions) {
    super(listening, options, 'fake deepgram: no session');
    this.url = `ws://127.0.0.1:${this.port}`;
  }

  static async start(options: DeepgramFakeOptions = {}): Promise<DeepgramFake> {
    return new DeepgramFake(
      await WsFake.listen('{"err_code":"NOT_FOUND","err_msg":"fake deepgram serves /v1/listen over WebSocket only"}'),
      options,
    );
  }

  protected override checkPath(u: Upgrade): HttpRefusal | undefined {
    return u.path.replace(/\/+$/, '') === PATH ? undefined : dgError(404, 'NOT_FOUND', `no such endpoint: ${u.path}`);
  }

  protected override httpRefusal(status: number): HttpRefusal {
    return status === 401
      ? dgError(401, 'INVALID_AUTH', 'Invalid credentials.')
      : dgError(status, 'SERVICE_ERROR', 'refused by fake');
  }

  protected override checkRequest({ req, query }: Upgrade): HttpRefusal | undefined {
    const o = this.options;
    const m = /^(?:Token|Bearer)\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
    if (!m || (o.apiKey !== undefined && m[1] !== o.apiKey))
      return dgError(401, 'INVALID_AUTH', 'Invalid credentials.');
    const model = query.get('model') ?? '';
    if (o.models && !o.models.includes(model))
      return dgError(400, 'Bad Request', `No such model/language/tier combination found: model=${model}`);
    const enc = query.get('encoding');
    if (enc !== null && !ENCODINGS.includes(enc)) return dgError(400, 'Bad Request', `Invalid encoding: ${enc}`);
    if (enc !== null && !query.get('sample_rate'))
      return dgError(400, 'Bad Request', 'sample_rate is required when encoding is set');
    return undefined;
  }

  protected override statusText(status: number): string {
    return status === 401 ? 'Unauthorized' : status === 400 ? 'Bad Request' : status === 404 ? 'Not Found' : 'Error';
  }

  protected override createSession(id: number, ws: WebSocket, { req, query }: Upgrade): FakeDeepgramSession {
    return new FakeDeepgramSession(id, ws, query, req.headers, this.options);
  }
}

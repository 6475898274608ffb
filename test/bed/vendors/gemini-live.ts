/**
 * A local fake of Google's Gemini Live API (BidiGenerateContent) speaking the real wire protocol.
 *
 * The official SDK reaches it with
 *   new GoogleGenAI({ apiKey, httpOptions: { baseUrl: fake.baseUrl, apiVersion: 'v1beta' } })
 * and then connects to `ws://127.0.0.1:PORT//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=KEY`
 * (note the double slash the SDK produces when a baseUrl is given).
 *
 * Like the real service it sends every server message as a *binary* WebSocket frame holding JSON
 * (the SDK's Node transport hands `JSON.parse` a Buffer, which works), answers the first client frame
 * `{"setup":{...}}` with `{"setupComplete":{}}`, and rejects a wrong API key the way the real service is
 * reported to: it accepts the upgrade, then closes with 1008 "API key not valid. Please pass a valid API key."
 * (the SDK surfaces "Live connection closed before setup completed (code 1008): ...").
 *
 * Tests script each session (`sendAudio`, `interrupt`, `turnComplete`, `goAway`, `close`, ...) or let the
 * fake answer by itself (`autoReply`): it watches the caller audio it receives (energy per 20 ms window),
 * answers after speech followed by silence, and sends `interrupted: true` when the caller talks over it.
 *
 * Long sessions, like the service: a setup carrying `sessionResumption` gets `sessionResumptionUpdate`s (a
 * resumable handle after setup, after each generation and every `resumption.updateEveryMs` while idle; `resumable:
 * false` with no handle while a reply is being generated or a tool call is pending; `lastConsumedClientMessageIndex`
 * only when the setup asked for `transparent`). Each handle keeps a snapshot of the conversation (turn count, the
 * caller audio the model has consumed, the turn-taking state), so a connection opened with it continues the
 * conversation; an unknown or expired handle is refused with a 1007 close. `goAway(ms)` (or `goAwayAfterMs`) is
 * followed by a 1011 close once `ms` has passed; `terminate()` drops a connection abruptly. With a `gemini-3.8`
 * model a setup the service refuses (a thinking level, proactive audio switched off) is closed with 1007 and the
 * reason.
 *
 * Tools: `callTool` / `toolCall` (parallel calls) send a toolCall, `cancelTool` a toolCallCancellation; the
 * client's toolResponses are recorded (`toolResponses`, `nextToolResponse(id)`), and with `holdTurnsForTools`
 * autoReply waits for every answer before it replies.
 *
 * Hot path (hundreds of sessions in a benchmark): audio frames are recognised by prefix and their base64
 * payload is decoded straight from the received Buffer, without JSON.parse and without logging.
 */
// The implementation lives in gemini-live/, one job per file; this file is the public entry (names unchanged).
export type { CloseInfo } from './ws-fake.ts';
export type {
  AutoReplyOptions,
  GeminiLiveFakeOptions,
  Refusal,
  ResumptionOptions,
  SendAudioOptions,
} from './gemini-live/options.ts';
export { FakeLiveSession } from './gemini-live/session.ts';
export { GeminiLiveFake } from './gemini-live/fake.ts';

/**
 * A local fake of Deepgram's live transcription API (`/v1/listen`, listen v1) speaking the real wire protocol.
 *
 * The official SDK (@deepgram/sdk 5) reaches it with
 *   new DeepgramClient({ apiKey, baseUrl: fake.url })   // ws://127.0.0.1:PORT
 *   await dg.listen.v1.connect({ model, encoding: 'linear16', sample_rate: 8000, ..., reconnectAttempts: 0 })
 * which opens `ws://127.0.0.1:PORT/v1/listen?model=...` with `Authorization: Token KEY`.
 *
 * Like the real service: a bad key or a bad query is refused at the upgrade with an HTTP error whose JSON body
 * and `dg-error` header name the problem; caller audio arrives as binary frames of raw PCM; control messages are
 * text frames `{"type":"KeepAlive"|"Finalize"|"CloseStream"}`; the server sends `Results` (interim, final,
 * speech_final), `SpeechStarted` (vad_events=true), `UtteranceEnd` (utterance_end_ms) and, on CloseStream,
 * a `Metadata` message before closing with 1000. A connection that gets neither audio nor a text frame for
 * `idleTimeoutMs` (real service: ~10 s) is closed with 1011 and Deepgram's NET-0001 reason.
 *
 * Two ways to drive it:
 * - scripted: tests call `session.sendInterim()/sendFinal()/sendUtteranceEnd()/...` themselves (usually after
 *   `await session.waitForAudioMs(n)`);
 * - automatic (`auto`): energy per 20 ms window of the received audio (in audio time, not wall time) finds speech;
 *   while speech goes on it sends SpeechStarted and interim results that reveal the scripted transcript word by
 *   word; `endpointing` ms of silence after enough speech → a final with speech_final; `utterance_end_ms` of
 *   silence after the last word → UtteranceEnd. Finalize flushes the pending words as a `from_finalize` final.
 *   Usable by a load benchmark (no per-frame logging, no per-frame JSON; `recordAudio: false` keeps counters only).
 */
// The implementation lives in deepgram/, one job per file; this file is the public entry (names unchanged).
export type { CloseInfo } from './ws-fake.ts';
export type {
  ControlMessage,
  DeepgramAutoOptions,
  DeepgramFakeOptions,
  ResultSpec,
  WordSpec,
} from './deepgram/options.ts';
export { spreadWords } from './deepgram/messages.ts';
export { FakeDeepgramSession } from './deepgram/session.ts';
export { DeepgramFake } from './deepgram/fake.ts';

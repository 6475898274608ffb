/**
 * A local fake of Cartesia's TTS WebSocket (`/tts/websocket`) speaking the real wire protocol.
 *
 * The official SDK (@cartesia/cartesia-js 4, CJS build) reaches it with
 *   const client = new Cartesia({ apiKey, baseURL: fake.baseUrl });             // http://127.0.0.1:PORT
 *   const ws = await client.tts.websocket({ createConnection: (o) => net.connect({ host: o.host, port: o.port }) });
 * (the SDK forces `wss://`; `createConnection` makes it speak plain ws to the fake).
 *
 * Client → server (text frames): generation requests
 *   {model_id, voice, output_format:{container:'raw', encoding, sample_rate}, transcript, context_id, continue,
 *    add_timestamps?, language?, flush?}
 * and `{"cancel":true,"context_id"}`. Server → client: per context, `chunk` messages with base64 audio at the
 * requested rate/encoding, `timestamps` (word_timestamps) when asked for, then `done` once the context got
 * `continue:false` and all its text was spoken; `error` messages (with status_code/title/message, `done:true`)
 * for bad requests. A cancelled context gets nothing more.
 *
 * The audio is a tone whose length is proportional to the text (`msPerChar`), paced faster than real time.
 * Scripting: `failRequest` (an error for chosen requests, optionally followed at once by a close), per-session `sendError`, `close`, `terminate`;
 * fake-wide `refuse` for the upgrade. Everything received is recorded (`requests`, `cancels`, contexts).
 */
// The implementation lives in cartesia/, one job per file; this file is the public entry (names unchanged).
export type { CartesiaErrorSpec, CartesiaFakeOptions, FakeTtsContext } from './cartesia/options.ts';
export { FakeCartesiaSession } from './cartesia/session.ts';
export { CartesiaFake } from './cartesia/fake.ts';

/**
 * The test bed: everything that stands in for the outside world so callbridge can run whole calls on one
 * machine with nothing else installed. The tests, the benchmark (bench/) and `npm run try` import it from here.
 *
 * - `FreeSwitchEmulator` (freeswitch/): a real TCP ESL server and mod_audio_stream WebSocket clients that
 *   behave like a captured FreeSWITCH 1.10.12.
 * - Vendor fakes (vendors/): Gemini Live, Gemini text, Deepgram and Cartesia on their real wire protocols,
 *   reached through the official SDKs' base-URL options.
 * - In-memory cascade stages (stages.ts): STT/LLM/TTS with no sockets, for agent logic.
 * - Audio, WAV and port helpers.
 *
 * Nothing here may import test-only code (node:test, assert, test/support): `npm run try` runs it as a
 * program, and the bench in a child process.
 */
export * from './freeswitch/index.ts';
export { RawEslClient, type JsonEvent, type RawPacket } from './freeswitch/raw-esl-client.ts';
export * from './vendors/gemini-live.ts';
export * from './vendors/gemini-text.ts';
export * from './vendors/deepgram.ts';
export * from './vendors/cartesia.ts';
export * from './audio.ts';
export { freePort } from './net.ts';
export { encodeWav, readWav, type WavAudio } from './wav.ts';
export * from './stages.ts';

/** The client message carrying caller audio, built by hand (the SDK's transform + JSON.stringify cost 10× more). */
const AUDIO_MSG_HEAD = '{"realtimeInput":{"audio":{"data":"';
const AUDIO_MSG_TAIL = '","mimeType":"audio/pcm;rate=16000"}}}';

/** The `realtimeInput` message of one caller frame (16 kHz L16). */
export function audioMessage(frame: Buffer): string {
  return AUDIO_MSG_HEAD + frame.toString('base64') + AUDIO_MSG_TAIL;
}

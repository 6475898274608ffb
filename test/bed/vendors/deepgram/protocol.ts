/** Deepgram's listen endpoint as the fake serves it: the path, the encodings it accepts, its HTTP errors and close reasons. */
import type { HttpRefusal } from '../ws-fake.ts';

export const PATH = '/v1/listen';
export const ENCODINGS = ['linear16', 'mulaw', 'alaw', 'opus', 'flac', 'amr-nb', 'amr-wb', 'speex', 'g729', 'linear32'];
export const NET_0001 =
  'Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001';

export function requestId(): string {
  return crypto.randomUUID();
}

/** An upgrade refusal as Deepgram sends it: the error in the JSON body and in the `dg-error` header. */
export function dgError(status: number, errCode: string, errMsg: string): HttpRefusal {
  return {
    status,
    body: JSON.stringify({ err_code: errCode, err_msg: errMsg, request_id: requestId() }),
    headers: { 'dg-error': errMsg },
  };
}

/**
 * The mod_event_socket framing: `Name: value` header lines, a blank line, then `Content-Length` bytes of
 * body. This parser replaces modesl's, which re-concatenated and re-scanned its whole buffer on every chunk
 * (quadratic), buffered any Content-Length whole (a peer could make it hold 50 MB or more), and ran
 * `decodeURIComponent` on every header (a stray `%` threw URIError out of the socket's data handler and
 * killed the process). Here every byte is looked at once, the header block and the body are capped, nothing
 * is percent-decoded (mod_event_socket does not encode these outer headers), and anything malformed is an
 * `EslProtocolError`, which the connection treats as a broken socket.
 */

export class EslProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EslProtocolError';
  }
}

export interface EslFrame {
  /** Header names in lower case. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** The largest body accepted by default: `show channels as json` with a few thousand calls fits; events are ~6 KB. */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;
/** Outer header blocks are a few lines (Content-Type, Content-Length, Reply-Text, Job-UUID). */
const MAX_HEAD_BYTES = 16 * 1024;
const LF = 0x0a;
const CONTENT_LENGTH = /^\d{1,10}$/;

export class EslFrameParser {
  readonly #maxBody: number;
  #head: Buffer[] = [];
  #headLen = 0;
  /** The last byte seen of the header block so far was a LF (a blank line may straddle two chunks). */
  #lastLf = false;
  #headers: Map<string, string> | undefined;
  #body: Buffer[] = [];
  #bodyLen = 0;
  #need = 0;

  constructor(maxBodyBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.#maxBody = maxBodyBytes;
  }

  /** Feed the next chunk from the socket; returns the frames it completed. Throws EslProtocolError. */
  push(chunk: Buffer): EslFrame[] {
    const frames: EslFrame[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.#headers) {
        const take = Math.min(this.#need - this.#bodyLen, chunk.length - off);
        this.#body.push(chunk.subarray(off, off + take));
        this.#bodyLen += take;
        off += take;
        if (this.#bodyLen === this.#need) frames.push(this.#finish());
        continue;
      }
      if (this.#headLen === 0) {
        // Tolerate blank lines between frames.
        while (off < chunk.length && chunk[off] === LF) off++;
        if (off === chunk.length) break;
      }
      const end = this.#headEnd(chunk, off);
      if (end < 0) {
        this.#addHead(chunk.subarray(off));
        this.#lastLf = chunk[chunk.length - 1] === LF;
        break;
      }
      this.#addHead(chunk.subarray(off, end + 1));
      off = end + 1;
      this.#startBody();
      if (this.#need === 0) frames.push(this.#finish());
    }
    return frames;
  }

  /** Index of the second LF of the blank line ending the header block, or -1. Scans from `off` once. */
  #headEnd(chunk: Buffer, off: number): number {
    if (this.#lastLf && chunk[off] === LF) return off;
    let i = chunk.indexOf(LF, off);
    while (i >= 0 && i + 1 < chunk.length) {
      if (chunk[i + 1] === LF) return i + 1;
      i = chunk.indexOf(LF, i + 1);
    }
    return -1;
  }

  #addHead(part: Buffer): void {
    this.#head.push(part);
    this.#headLen += part.length;
    if (this.#headLen > MAX_HEAD_BYTES) throw new EslProtocolError(`ESL header block over ${MAX_HEAD_BYTES} bytes`);
  }

  #startBody(): void {
    const text = (this.#head.length === 1 ? this.#head[0]! : Buffer.concat(this.#head, this.#headLen)).toString('utf8');
    this.#head = [];
    this.#headLen = 0;
    this.#lastLf = false;
    const headers = new Map<string, string>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new EslProtocolError(`malformed ESL header line ${JSON.stringify(line.slice(0, 40))}`);
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    if (!headers.has('content-type')) throw new EslProtocolError('ESL frame without Content-Type');
    const length = headers.get('content-length');
    let need = 0;
    if (length !== undefined) {
      if (!CONTENT_LENGTH.test(length))
        throw new EslProtocolError(`bad ESL Content-Length ${JSON.stringify(length.slice(0, 20))}`);
      need = Number(length);
      if (need > this.#maxBody)
        throw new EslProtocolError(`ESL frame of ${need} bytes is over the ${this.#maxBody}-byte limit`);
    }
    this.#headers = headers;
    this.#need = need;
  }

  #finish(): EslFrame {
    const body =
      this.#bodyLen === 0
        ? ''
        : (this.#body.length === 1 ? this.#body[0]! : Buffer.concat(this.#body, this.#bodyLen)).toString('utf8');
    const frame: EslFrame = { headers: this.#headers!, body };
    this.#headers = undefined;
    this.#body = [];
    this.#bodyLen = 0;
    this.#need = 0;
    return frame;
  }
}

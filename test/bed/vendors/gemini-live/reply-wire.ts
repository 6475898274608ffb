/** Model audio messages built once and shared: a benchmark's hundreds of sessions all stream the same reply. */

const audioRecords = new Map<string, Record<string, any>>();
/**
 * What `sent` remembers of an audio message when audio is not recorded: one frozen record per mime type and size
 * shared by every such message (hundreds a second in a benchmark, all kept: one object each grew the old heap).
 */
export function audioRecord(mimeType: string, bytes: number): Record<string, any> {
  const key = `${mimeType} ${bytes}`;
  let record = audioRecords.get(key);
  if (!record) {
    const inlineData = Object.freeze({ mimeType, data: `<${bytes} bytes>` });
    record = Object.freeze({
      serverContent: Object.freeze({
        modelTurn: Object.freeze({ parts: Object.freeze([Object.freeze({ inlineData })]) }),
      }),
    });
    audioRecords.set(key, record);
  }
  return record;
}

/**
 * The wire form of reply audio messages (`{"serverContent":{"modelTurn":...}}` without transcription), per
 * reply audio and chunking: a benchmark's sessions all stream the same reply. The audio is compared with the
 * copy the messages were made from, so changed audio gets new messages.
 */
class ReplyWireCache {
  #byAudio = new WeakMap<ArrayBufferLike, Map<string, { copy: Buffer; messages: (string | Buffer)[] }>>();

  message(pcm: Buffer, rate: number, chunkBytes: number, index: number, text: boolean): string | Buffer {
    let forBuffer = this.#byAudio.get(pcm.buffer);
    if (!forBuffer) {
      forBuffer = new Map();
      this.#byAudio.set(pcm.buffer, forBuffer);
    }
    const key = `${pcm.byteOffset}:${pcm.length}:${rate}:${chunkBytes}:${text}`;
    let entry = forBuffer.get(key);
    if (entry && index === 0 && !entry.copy.equals(pcm)) entry = undefined;
    if (!entry) {
      entry = { copy: Buffer.from(pcm), messages: [] };
      forBuffer.set(key, entry);
    }
    let wire = entry.messages[index];
    if (wire === undefined) {
      const chunk = pcm.subarray(index * chunkBytes, Math.min((index + 1) * chunkBytes, pcm.length));
      const mimeType = `audio/pcm;rate=${rate}`;
      const json = JSON.stringify({
        serverContent: { modelTurn: { parts: [{ inlineData: { mimeType, data: chunk.toString('base64') } }] } },
      });
      wire = text ? json : Buffer.from(json);
      entry.messages[index] = wire;
    }
    return wire;
  }
}
export const replyWire = new ReplyWireCache();

/** Audio samples as a Buffer over the same memory (no copy). */
export function toBuffer(pcm: Int16Array | Buffer): Buffer {
  if (Buffer.isBuffer(pcm)) return pcm;
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

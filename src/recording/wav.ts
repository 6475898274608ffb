/** The format and sample data of a PCM WAV file (chunks walked, so LIST or other chunks before data are fine). */
export function parseWav(buf: Buffer): { sampleRate: number; channels: number; bits: number; data: Buffer } {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE')
    throw new Error('not a RIFF/WAVE file');
  let off = 12;
  let fmt: { sampleRate: number; channels: number; bits: number; format: number } | undefined;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    let size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('WAV data before its fmt chunk');
      if (fmt.format !== 1 && fmt.format !== 0xfffe) throw new Error(`WAV format ${fmt.format} is not PCM`);
      // A writer that died before fixing the header leaves 0 or 0xFFFFFFFF: take what is there.
      if (size === 0 || body + size > buf.length) size = buf.length - body;
      return { ...fmt, data: buf.subarray(body, body + size - (size % 2)) };
    }
    off = body + size + (size % 2);
  }
  throw new Error('WAV has no data chunk');
}

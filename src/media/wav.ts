/** RIFF/WAVE header for 16-bit mono PCM: FreeSWITCH plays .wav at any rate and resamples it itself. */

export const WAV_HEADER_BYTES = 44;

export function writeWavHeader(target: Buffer, sampleRate: number, dataBytes: number): void {
  target.write('RIFF', 0, 'ascii');
  target.writeUInt32LE(36 + dataBytes, 4);
  target.write('WAVE', 8, 'ascii');
  target.write('fmt ', 12, 'ascii');
  target.writeUInt32LE(16, 16); // fmt chunk size
  target.writeUInt16LE(1, 20); // PCM
  target.writeUInt16LE(1, 22); // mono
  target.writeUInt32LE(sampleRate, 24);
  target.writeUInt32LE(sampleRate * 2, 28); // byte rate
  target.writeUInt16LE(2, 32); // block align
  target.writeUInt16LE(16, 34); // bits per sample
  target.write('data', 36, 'ascii');
  target.writeUInt32LE(dataBytes, 40);
}

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

/**
 * Every WebSocket frame from a client is masked (XOR with 4 key bytes) and unmasked by the server: callbridge
 * unmasks each mod_audio_stream frame and masks each message to the model. Without `bufferutil` ws does it one
 * byte at a time in JavaScript (~3.4 µs for 60 ms of caller audio as Gemini JSON; ~0.16 µs natively). This
 * fails if the dependency is dropped or its prebuilt binary stops loading, which ws would hide by falling back.
 */
const require = createRequire(import.meta.url);

test('bufferutil loads its native binary and ws masks through it', () => {
  const bufferUtil = require('bufferutil') as { unmask: (b: Buffer, m: Buffer) => void };
  // ws's own module (not in its exports map): the one its sender and receiver call.
  const wsBuffers = require(join(dirname(require.resolve('ws')), 'lib/buffer-util.js')) as {
    unmask: (b: Buffer, m: Buffer) => void;
  };
  assert.match(String(bufferUtil.unmask), /\[native code\]/, 'bufferutil fell back to its JavaScript version');
  assert.match(String(wsBuffers.unmask), /bufferUtil\.unmask/, 'ws does not use bufferutil');

  // And it is right: masking twice with the same key gives the bytes back; once, each byte XOR its key byte.
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const original = Buffer.from(Array.from({ length: 2700 }, (_, i) => (i * 7) & 0xff));
  const frame = Buffer.from(original);
  wsBuffers.unmask(frame, mask);
  for (const i of [0, 1, 2, 3, 1001, 2699]) assert.equal(frame[i], original[i]! ^ mask[i & 3]!);
  wsBuffers.unmask(frame, mask);
  assert.deepEqual(frame, original);
});

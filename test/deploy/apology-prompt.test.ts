import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_APOLOGY_FILE } from '../../src/config.ts';
import { FS_DIR, copySources, freeswitchLayout, readDockerfile, readEnvExample, stages } from './support.ts';

const dockerfile = readDockerfile(join(FS_DIR, 'Dockerfile'));
const finalStage = stages(dockerfile).at(-1)!;
const PROMPT = join(FS_DIR, 'sounds', 'callbridge', 'apology.wav');

/** The directories of the layout the image's FreeSWITCH was configured with. */
function layout() {
  const configure = dockerfile.find(
    (i) => i.keyword === 'RUN' && i.args.includes('./configure --prefix=/usr/local/freeswitch'),
  );
  assert.ok(configure, "FreeSWITCH's configure");
  const args = /\.\/configure ([^&]*)/
    .exec(configure.args)![1]!
    .split(/\s+/)
    .filter((a) => a.startsWith('--'));
  return freeswitchLayout(args);
}

test('the FreeSWITCH image ships the apology prompt where the default APOLOGY_FILE looks for it', () => {
  const { sounds } = layout();
  const copy = finalStage.find((i) => i.keyword === 'COPY' && copySources(i).includes('sounds/callbridge/'));
  assert.ok(copy, 'COPY sounds/callbridge/ in the runtime stage');
  const dest = copy.args.split(/\s+/).at(-1)!.replace(/\/$/, '');
  assert.equal(dest, `${sounds}/callbridge`, "the prompts land in the sounds directory of FreeSWITCH's layout");
  assert.doesNotMatch(copy.args, /--chmod=0?[0-7][0-7][0-3]\b/, 'readable by the freeswitch user');
  assert.equal(DEFAULT_APOLOGY_FILE, `${dest}/apology.wav`, 'the default names the copied file');
  const example = readEnvExample().find((e) => e.name === 'APOLOGY_FILE');
  assert.equal(example?.value, DEFAULT_APOLOGY_FILE, '.env.example shows the same path');
});

test('the apology prompt is a short 8 kHz mono 16-bit PCM WAV (FreeSWITCH plays it on any call without transcoding tricks)', () => {
  const wav = readFileSync(PROMPT);
  assert.ok(statSync(PROMPT).size < 120_000, 'a few tens of KB');
  assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
  assert.equal(wav.toString('ascii', 8, 12), 'WAVE');
  assert.equal(wav.toString('ascii', 12, 16), 'fmt ');
  assert.equal(wav.readUInt16LE(20), 1, 'PCM');
  assert.equal(wav.readUInt16LE(22), 1, 'mono');
  assert.equal(wav.readUInt32LE(24), 8000, '8 kHz');
  assert.equal(wav.readUInt16LE(34), 16, '16-bit');
  assert.equal(wav.toString('ascii', 36, 40), 'data');
  const seconds = wav.readUInt32LE(40) / 16000;
  assert.ok(
    seconds > 2 && seconds < 8,
    `${seconds.toFixed(1)} s: long enough to say it, short enough to end the call soon`,
  );
  let loud = 0;
  for (let i = 44; i + 1 < wav.length; i += 2) if (Math.abs(wav.readInt16LE(i)) > 3000) loud++;
  assert.ok(loud > 1000, 'not silence');
});

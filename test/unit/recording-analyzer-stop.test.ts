import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeWav } from '../bed/wav.ts';

const dir = mkdtempSync(join(tmpdir(), 'analyzer-stop-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** 8 kHz 16-bit stereo noise: every caller window goes through Silero. */
function longWav(seconds: number): Buffer {
  const noise = () => Int16Array.from({ length: seconds * 8000 }, () => Math.round((Math.random() - 0.5) * 16000));
  return encodeWav([noise(), noise()], 8000);
}

// Ending the analysis worker while onnxruntime runs aborted the whole process ("terminate called after throwing
// an instance of 'Napi::Error'", SIGABRT): seen when a stack stopped during an analysis. A child process closes
// analyzers at several moments of a long analysis (loading the model, mid-run) and of a timed-out one, and must
// exit normally.
test('closing the analyzer or giving up a job while Silero runs never takes the process down', async () => {
  const wav = join(dir, 'long.wav');
  writeFileSync(wav, longWav(480));
  const analyzer = fileURLToPath(new URL('../../src/recording/analyzer.ts', import.meta.url));
  const script = `
    import { RecordingAnalyzer } from ${JSON.stringify(analyzer)};
    const sink = { heard: async () => true };
    const logger = { warn(o) { console.error('warn', JSON.stringify(o)); }, info() {}, error(o) { console.error('error', JSON.stringify(o)); }, debug() {}, child() { return logger; } };
    const pause = (ms) => new Promise((r) => setTimeout(r, ms));
    for (const ms of [0, 30, 150, 400, 900, 1500]) {
      const a = new RecordingAnalyzer({ sink, logger });
      a.enqueue('c-' + ms, ${JSON.stringify(wav)});
      await pause(ms);
      await a.close();
    }
    const t = new RecordingAnalyzer({ sink, logger, timeoutMs: 600 });
    t.enqueue('timed-out', ${JSON.stringify(wav)});
    await t.idle();
    await pause(300);
    await t.close();
    console.log('survived', t.stats.timedOut, JSON.stringify(t.stats));
  `;
  // A file, not -e: the worker thread inherits the process's execArgv, and --input-type breaks it.
  const file = join(dir, 'close-during-analysis.mjs');
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.once('exit', (c, s) => resolve([c, s]));
    });
    assert.equal(signal, null, `the process was killed by ${signal}: ${err.slice(-500)}`);
    assert.equal(code, 0, err.slice(-500));
    assert.match(out, /survived 1/, err);
    assert.doesNotMatch(err, /Napi::Error/);
  } finally {
    child.kill('SIGKILL');
  }
});

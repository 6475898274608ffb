import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { warmUpPipeline } from '../../src/agents/pipelines.ts';
import { loadSileroModel } from '../../src/media/silero-model.ts';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

test('the cascade loads its Silero model at start-up, so the first call does not wait for it; Gemini Live loads nothing', async () => {
  const cascade = capture();
  await warmUpPipeline('cascade', cascade.logger);
  const warmed = cascade.lines.find((l) => l.msg === 'pipeline warmed up');
  assert.equal(warmed?.pipeline, 'cascade');
  // The model is now the process's: a call asking for it gets it without loading again (same session object).
  const a = await loadSileroModel();
  const b = await loadSileroModel();
  assert.equal(a.session, b.session);

  const live = capture();
  await warmUpPipeline('gemini-live', live.logger);
  assert.deepEqual(live.lines, []);
});

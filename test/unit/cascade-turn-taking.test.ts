import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SttResult } from '../../src/agents/cascade/stages.ts';
import { SentenceChunker } from '../../src/agents/cascade/sentence-chunker.ts';
import { TurnAssembler } from '../../src/agents/cascade/turn-taking.ts';

/** A result with words spread over [start, end]. */
function res(text: string, start: number, end: number, o: Partial<SttResult> = {}): SttResult {
  const toks = text.split(/\s+/).filter(Boolean);
  const step = toks.length ? (end - start) / toks.length : 0;
  return {
    text,
    isFinal: true,
    speechFinal: false,
    fromFinalize: false,
    start,
    duration: end - start,
    confidence: 0.95,
    words: toks.map((w, i) => ({
      word: w,
      start: start + i * step,
      end: start + (i + 1) * step,
      confidence: o.confidence ?? 0.95,
    })),
    ...o,
  };
}

describe('turn taking', () => {
  test('interims give partials; finals accumulate; speech_final ends the turn with the merged text', () => {
    const t = new TurnAssembler({ endOn: 'speech_final' });
    assert.deepEqual(t.onResult(res('I would', 0.1, 0.5, { isFinal: false })), { kind: 'partial', text: 'I would' });
    assert.deepEqual(t.onResult(res('I would like', 0.1, 0.8)), { kind: 'partial', text: 'I would like' });
    assert.deepEqual(t.onResult(res('a table', 0.9, 1.3, { isFinal: false })), {
      kind: 'partial',
      text: 'I would like a table',
    });
    const d = t.onResult(res('a table.', 0.9, 1.4, { speechFinal: true }));
    assert.equal(d.kind, 'end');
    assert.equal(d.kind === 'end' && d.text, 'I would like a table.');
    assert.ok(d.kind === 'end' && Math.abs(d.lastWordEnd - 1.4) < 1e-9);
    assert.equal(t.hasWords, false, 'reset for the next turn');
  });

  test('utterance_end mode: speech_final does not end the turn; UtteranceEnd does', () => {
    const t = new TurnAssembler({ endOn: 'utterance_end' });
    assert.equal(t.onResult(res('hello there', 0, 0.6, { speechFinal: true })).kind, 'partial');
    const d = t.onUtteranceEnd();
    assert.equal(d.kind, 'end');
    assert.equal(d.kind === 'end' && d.text, 'hello there');
  });

  test('UtteranceEnd with words still interim → finalize; the from_finalize final ends the turn', () => {
    const t = new TurnAssembler({ endOn: 'speech_final' });
    t.onResult(res('book a', 0, 0.5));
    t.onResult(res('table for two', 0.6, 1.2, { isFinal: false }));
    assert.deepEqual(t.onUtteranceEnd(), { kind: 'finalize' });
    assert.equal(t.finalizing, true);
    assert.deepEqual(t.onUtteranceEnd(), { kind: 'none' }, 'a second UtteranceEnd while waiting changes nothing');
    const d = t.onResult(res('table for two', 0.6, 1.25, { fromFinalize: true }));
    assert.equal(d.kind === 'end' && d.text, 'book a table for two');
  });

  test('forceEnd (finalize timed out) uses the interim words', () => {
    const t = new TurnAssembler({ endOn: 'speech_final' });
    t.onResult(res('yes', 0, 0.3));
    t.onResult(res('please', 0.4, 0.7, { isFinal: false }));
    const d = t.forceEnd();
    assert.equal(d.kind === 'end' && d.text, 'yes please');
    assert.deepEqual(new TurnAssembler({ endOn: 'speech_final' }).forceEnd(), { kind: 'none' });
  });

  test('overlapping finals are merged: repeated words (same times) are dropped', () => {
    const t = new TurnAssembler({ endOn: 'speech_final' });
    t.onResult(res('a table for', 0, 0.9));
    // A from_finalize final that repeats "for" and goes on.
    const overlap: SttResult = {
      ...res('for two please', 0.6, 1.5),
      words: [
        { word: 'for', start: 0.6, end: 0.9, confidence: 0.9 },
        { word: 'two', start: 0.9, end: 1.2, confidence: 0.9 },
        { word: 'please', start: 1.2, end: 1.5, confidence: 0.9 },
      ],
    };
    t.onResult(overlap);
    const d = t.onResult(res('', 1.5, 1.8, { speechFinal: true }));
    assert.equal(d.kind === 'end' && d.text, 'a table for two please');
  });

  test('finals without word timings: a repeat of a covered span is dropped, a new span kept', () => {
    const t = new TurnAssembler({ endOn: 'utterance_end' });
    t.onResult({ ...res('hello', 0, 0.5), words: [] });
    t.onResult({ ...res('hello', 0.1, 0.4), words: [] });
    t.onResult({ ...res('again', 0.6, 1.0), words: [] });
    const d = t.onUtteranceEnd();
    assert.equal(d.kind === 'end' && d.text, 'hello again');
  });

  test('empty, filler-only and low-confidence turns are ignored; speech_final on silence is nothing', () => {
    const t = new TurnAssembler({ endOn: 'speech_final' });
    assert.deepEqual(t.onResult(res('', 0, 1, { speechFinal: true })), { kind: 'none' });
    assert.deepEqual(t.onResult(res('Uh. Hmm…', 0, 0.4, { speechFinal: true })), {
      kind: 'ignored',
      text: 'Uh. Hmm…',
      reason: 'fillers',
    });
    assert.deepEqual(t.onResult(res('cough', 0, 0.3, { speechFinal: true, confidence: 0.2 })), {
      kind: 'ignored',
      text: 'cough',
      reason: 'low-confidence',
    });
    assert.deepEqual(t.onResult(res('...', 0, 0.3, { speechFinal: true })), {
      kind: 'ignored',
      text: '...',
      reason: 'empty',
    });
    assert.equal(
      t.onResult(res('uh yes', 0, 0.5, { speechFinal: true })).kind,
      'end',
      'a filler with a word is a turn',
    );
    assert.deepEqual(t.onUtteranceEnd(), { kind: 'none' }, 'UtteranceEnd with nothing heard');
  });
});

describe('sentence chunker', () => {
  function run(deltas: string[], c = new SentenceChunker()): string[] {
    const out: string[] = [];
    for (const d of deltas) out.push(...c.push(d));
    const rest = c.flush();
    if (rest) out.push(rest);
    return out;
  }

  test('the first sentence goes out as soon as it is complete, then sentence by sentence', () => {
    const c = new SentenceChunker();
    assert.deepEqual(c.push('Sure'), []);
    assert.deepEqual(c.push(', I can help. What '), ['Sure, I can help. ']);
    assert.deepEqual(c.push('time works? Seven '), ['What time works? ']);
    assert.equal(c.flush(), 'Seven ');
  });

  test('a long first clause is cut at its comma; later commas are not', () => {
    assert.deepEqual(run(['Thank you very much for calling, ', 'this is the front desk, how can I help?']), [
      'Thank you very much for calling, ',
      'this is the front desk, how can I help?',
    ]);
    assert.deepEqual(run(['Yes, sure.']), ['Yes, sure.'], 'a short clause is not cut');
  });

  test('abbreviations, initials and decimals do not end a sentence', () => {
    assert.deepEqual(run(['Dr. Smith will see you at 3.30 today. Mr. J. Doe too.']), [
      'Dr. Smith will see you at 3.30 today. ',
      'Mr. J. Doe too.',
    ]);
  });

  test('newlines end a piece; whitespace-only pieces are skipped', () => {
    assert.deepEqual(run(['One\n', '\n', 'Two']), ['One\n', '\nTwo']);
  });
});

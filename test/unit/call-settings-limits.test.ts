import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CALL_VARIABLES, encodeText, resolveCallSettings, type CallFacts } from '../../src/calls/call-settings.ts';
import { captureLogger } from '../support/stack.ts';

function facts(vars: Record<string, string>): CallFacts {
  return {
    callId: '11111111-2222-3333-4444-555555555555',
    direction: 'outbound',
    from: '1000',
    to: '+15551234567',
    variable: (n) => vars[n],
  };
}
const defaults = { pipeline: 'echo' as const, systemInstructions: 'Be nice.', voice: 'Puck', language: 'en-US' };

test('opening_reason / objective channel variables are limited like the other free text: oversized ones are ignored with a warning', async () => {
  const { logger, lines } = captureLogger();
  const huge = 'x'.repeat(6 * 1024 * 1024);
  const s = await resolveCallSettings(
    facts({
      [CALL_VARIABLES.openingReason]: encodeText(huge),
      [CALL_VARIABLES.objective]: encodeText('y'.repeat(1001)),
    }),
    { defaults, profiles: {}, logger },
  );
  assert.equal(s.openingReason, undefined);
  assert.equal(s.objective, undefined);
  assert.ok(s.systemInstructions.length < 2000, `instructions stay small (${s.systemInstructions.length} chars)`);
  const warn = lines.find((l) => l.msg === 'ignoring invalid callbridge_* channel variables');
  assert.ok(warn, 'the oversized values are reported');
  assert.match(JSON.stringify(warn.problems), /callbridge_opening_reason_b64.*500/);
  assert.match(JSON.stringify(warn.problems), /callbridge_objective_b64.*1000/);

  // Within the limits they still shape the instructions.
  const ok = await resolveCallSettings(
    facts({
      [CALL_VARIABLES.openingReason]: encodeText('r'.repeat(500)),
      [CALL_VARIABLES.objective]: encodeText('o'.repeat(1000)),
    }),
    { defaults, profiles: {}, logger },
  );
  assert.equal(ok.openingReason, 'r'.repeat(500));
  assert.equal(ok.objective, 'o'.repeat(1000));
});

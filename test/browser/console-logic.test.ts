import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserCallConfig } from '../../src/console/browser-call-config.ts';
import { turnLatencies } from '../../src/console/latency.ts';
import { Timeline } from '../../src/console/timeline.ts';

/** The console's logic without a browser: SIP client configuration, transcript merging, latency rows. */

const answer = {
  wsUrl: 'wss://pbx.example.com:7443',
  target: 'sip:agent@pbx.example.com',
  ticket: '1765000000000.abcDEF_123-x',
  header: 'X-Callbridge-Ticket',
  expiresAt: 1765000000000,
  iceServers: ['stun:stun.example.com:3478', 'turn:turn.example.com:3478', 'https://not-ice.example.com'],
};

test('the browser call configuration: our address on the target host, audio only, ICE servers, the ticket header', () => {
  assert.deepEqual(browserCallConfig(answer), {
    wsUrl: 'wss://pbx.example.com:7443',
    uaUri: 'sip:browser@pbx.example.com',
    target: 'sip:agent@pbx.example.com',
    callOptions: {
      mediaConstraints: { audio: true, video: false },
      pcConfig: { iceServers: [{ urls: 'stun:stun.example.com:3478' }, { urls: 'turn:turn.example.com:3478' }] },
      extraHeaders: ['X-Callbridge-Ticket: 1765000000000.abcDEF_123-x'],
    },
  });
});

test('the browser call configuration refuses what could not be a SIP WebSocket, target or header line', () => {
  assert.throws(() => browserCallConfig({ ...answer, wsUrl: 'https://pbx.example.com' }), /not a WebSocket URL/);
  assert.throws(() => browserCallConfig({ ...answer, target: 'agent@pbx' }), /not a SIP address/);
  assert.throws(() => browserCallConfig({ ...answer, ticket: 'abc\r\nVia: evil' }), /unexpected ticket format/);
  assert.throws(() => browserCallConfig({ ...answer, header: 'X-Ticket: x\r\nY' }), /unexpected ticket header/);
  // The error names neither the ticket nor anything else secret.
  try {
    browserCallConfig({ ...answer, ticket: 'secret value' });
  } catch (e) {
    assert.ok(!(e as Error).message.includes('secret'));
  }
});

test('the timeline replaces an interim line by its longer text and by the final one; tools and digits are new lines, digits once', () => {
  const t = new Timeline();
  t.reset([{ speaker: 'agent', text: 'Hello', at: 1, final: true }]);
  t.transcript({ speaker: 'caller', text: 'I would', at: 2, final: false });
  t.transcript({ speaker: 'caller', text: 'I would like a taxi', at: 2, final: false });
  t.transcript({ speaker: 'caller', text: 'DTMF: 12#', at: 3, final: true });
  t.dtmf('12#', 3);
  t.dtmf('9', 3);
  t.transcript({ speaker: 'tool', text: 'book_taxi {} → ok', at: 4, final: true });
  t.transcript({ speaker: 'tool', text: 'book_taxi {} → ok', at: 4, final: true });
  t.transcript({ speaker: 'caller', text: 'I would like a taxi.', at: 2, final: true });
  t.transcript({ speaker: 'agent', text: 'Sure', at: 5, final: false });
  assert.deepEqual(
    t.items.map((x) => (x.kind === 'dtmf' ? `dtmf ${x.digits}` : `${x.speaker}${x.final ? '' : '…'} ${x.text}`)),
    [
      'agent Hello',
      'caller I would like a taxi.',
      'dtmf 12#',
      'dtmf 9',
      'tool book_taxi {} → ok',
      'tool book_taxi {} → ok',
      'agent… Sure',
    ],
  );
});

test('latency rows: playback start (or the last mark) per reply, heard latency beside it where the recording measured it', () => {
  assert.deepEqual(
    turnLatencies(
      [
        { firstCommandMs: 40, playbackStartMs: 65, agentAudioMs: 900 },
        { sttFinalMs: 100, llmFirstTokenMs: 400 },
      ],
      [{ heardLatencyMs: 700 }, {}, { heardLatencyMs: 900 }],
    ).map(({ turn, pipelineMs, heardMs }) => ({ turn, pipelineMs, heardMs })),
    [
      { turn: 1, pipelineMs: 65, heardMs: 700 },
      { turn: 2, pipelineMs: 400, heardMs: undefined },
      { turn: 3, pipelineMs: undefined, heardMs: 900 },
    ],
  );
});

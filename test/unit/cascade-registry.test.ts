/** Cascade settings in the config, and the registry building a working cascade agent from them. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CascadeAgent } from '../../src/agents/cascade/cascade-agent.ts';
import { EchoAgent } from '../../src/agents/echo/echo-agent.ts';
import { GeminiLiveAgent } from '../../src/agents/gemini-live/gemini-live-agent.ts';
import { createAgent } from '../../src/agents/pipelines.ts';
import type { CallSettings } from '../../src/calls/call-settings.ts';
import type { Config } from '../../src/config.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { silentLogger } from '../../src/log.ts';
import { CallerLine, KEY, SHORT, SimSink, startFakes } from './cascade-harness.ts';

const KEYS = { DEEPGRAM_API_KEY: 'd', CARTESIA_API_KEY: 'c', GOOGLE_API_KEY: 'g' };

const settingsOf = (c: Config, patch: Partial<CallSettings> = {}): CallSettings => ({
  pipeline: c.AGENT_PIPELINE,
  systemInstructions: c.SYSTEM_INSTRUCTIONS,
  voice: c.GEMINI_VOICE,
  language: c.AGENT_LANGUAGE,
  ...patch,
});

describe('cascade config', () => {
  test('defaults: auto = Gemini Live with a Google key, the echo agent without; cascade settings have sensible defaults', () => {
    const c = loadConfig({});
    assert.equal(c.AGENT_PIPELINE, 'echo');
    assert.match(c.AGENT_PIPELINE_SOURCE, /no GOOGLE_API_KEY/);
    assert.equal(loadConfig({ GOOGLE_API_KEY: 'g' }).AGENT_PIPELINE, 'gemini-live');
    assert.equal(loadConfig({ GEMINI_API_KEY: 'g' }).AGENT_PIPELINE, 'gemini-live');
    assert.equal(c.DEEPGRAM_MODEL, 'nova-3');
    assert.equal(c.DEEPGRAM_ENDPOINTING_MS, 300);
    assert.equal(c.DEEPGRAM_UTTERANCE_END_MS, 1000);
    assert.equal(c.TURN_END, 'speech_final');
    assert.equal(c.GEMINI_TEXT_MODEL, 'gemini-flash-latest');
    assert.equal(c.GEMINI_TEXT_THINKING, 'minimal');
    assert.equal(c.CARTESIA_MODEL, 'sonic-3');
    assert.equal(c.CARTESIA_SAMPLE_RATE, 8000);
    assert.equal(c.VAD_THRESHOLD, 0.5);
    assert.equal(c.BARGE_IN_MIN_MS, 200);
    assert.match(c.CASCADE_APOLOGY, /sorry/i);
  });

  test('AGENT_PIPELINE=cascade picks the cascade and requires its three keys (one error naming all missing)', () => {
    assert.equal(loadConfig({ AGENT_PIPELINE: 'cascade', ...KEYS }).AGENT_PIPELINE, 'cascade');
    let err: unknown;
    try {
      loadConfig({ AGENT_PIPELINE: 'cascade', GEMINI_API_KEY: 'g' });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.problems.map((p) => p.split(':')[0]),
      ['DEEPGRAM_API_KEY', 'CARTESIA_API_KEY'],
    );
    assert.throws(
      () => loadConfig({ AGENT_PIPELINE: 'gemini-live' }),
      /GOOGLE_API_KEY: required when AGENT_PIPELINE=gemini-live/,
    );
    assert.equal(loadConfig({ AGENT_PIPELINE: 'echo' }).AGENT_PIPELINE, 'echo');
  });

  test('a call asking for a pipeline whose keys are missing gets the echo agent; per-call model overrides are used', () => {
    const none = loadConfig({});
    assert.ok(createAgent('cascade', settingsOf(none), none, silentLogger()) instanceof EchoAgent);
    assert.ok(createAgent('gemini-live', settingsOf(none), none, silentLogger()) instanceof EchoAgent);
    const g = loadConfig({ GOOGLE_API_KEY: 'g' });
    assert.ok(createAgent('gemini-live', settingsOf(g), g, silentLogger()) instanceof GeminiLiveAgent);
    assert.ok(createAgent('echo', settingsOf(g), g, silentLogger()) instanceof EchoAgent);
  });

  test('values are validated: rates, thresholds, enums, URLs (ws:// accepted for Deepgram)', () => {
    const c = loadConfig({
      CARTESIA_SAMPLE_RATE: '16000',
      VAD_THRESHOLD: '0.7',
      BARGE_IN_MIN_MS: '300',
      TURN_END: 'utterance_end',
      DEEPGRAM_BASE_URL: 'ws://127.0.0.1:1234',
    });
    assert.equal(c.CARTESIA_SAMPLE_RATE, 16000);
    assert.equal(c.VAD_THRESHOLD, 0.7);
    assert.equal(c.DEEPGRAM_BASE_URL, 'ws://127.0.0.1:1234');
    let err: unknown;
    try {
      loadConfig({
        CARTESIA_SAMPLE_RATE: '24000',
        VAD_THRESHOLD: '2',
        TURN_END: 'silence',
        AGENT_PIPELINE: 'parrot',
        DEEPGRAM_UTTERANCE_END_MS: '500',
      });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems.map((p) => p.split(':')[0]).sort(), [
      'AGENT_PIPELINE',
      'CARTESIA_SAMPLE_RATE',
      'DEEPGRAM_UTTERANCE_END_MS',
      'TURN_END',
      'VAD_THRESHOLD',
    ]);
  });
});

describe('cascade from the registry', () => {
  test('createAgent("cascade") wired to the configured endpoints answers a turn', async () => {
    const f = await startFakes({
      dg: { auto: { transcript: 'Is the bar open?' } },
      gem: { autoReply: 'Yes, until midnight.' },
    });
    try {
      const config = loadConfig({
        AGENT_PIPELINE: 'cascade',
        DEEPGRAM_API_KEY: KEY.dg,
        DEEPGRAM_BASE_URL: f.dg.url,
        GOOGLE_API_KEY: KEY.gem,
        GEMINI_BASE_URL: f.gem.baseUrl,
        CARTESIA_API_KEY: KEY.cart,
        CARTESIA_BASE_URL: f.cart.baseUrl,
        CARTESIA_VOICE_ID: 'env-voice',
        DEEPGRAM_MODEL: 'nova-3',
        GEMINI_TEXT_MODEL: 'gemini-env-flash',
      });
      // Per-call overrides (callback answer / profile) beat the environment.
      const settings = settingsOf(config, {
        deepgramModel: 'nova-2-phonecall',
        llmModel: 'gemini-test-flash',
        cartesiaVoiceId: 'my-voice',
      });
      const agent = createAgent('cascade', settings, config, silentLogger());
      assert.ok(agent instanceof CascadeAgent);
      assert.equal(agent.kind, 'cascade');
      assert.equal(agent.inputSampleRate, 8000);
      const sink = new SimSink(8);
      sink.agent = agent;
      await agent.start(sink);
      const line = new CallerLine(agent, 10).start();
      try {
        await line.say(SHORT);
        await sink.waitFor((e) => e.t === 'replyDone', 4000, 'reply');
        const dg = f.dg.sessions[0]!;
        assert.equal(dg.query.get('model'), 'nova-2-phonecall');
        assert.equal(dg.query.get('sample_rate'), '8000');
        assert.equal(f.gem.requests[0]!.model, 'gemini-test-flash');
        assert.equal(f.gem.requests[0]!.systemText, config.SYSTEM_INSTRUCTIONS);
        const ctx = f.cart.allContexts()[0]!;
        assert.deepEqual(ctx.voice, { mode: 'id', id: 'my-voice' });
        assert.equal(ctx.outputFormat.sample_rate, 8000);
        assert.deepEqual(sink.finals('agent'), ['Yes, until midnight.']);
      } finally {
        line.stop();
        await agent.close();
        sink.dispose();
      }
    } finally {
      await f.stop();
    }
  });
});

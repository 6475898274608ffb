import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent, AgentSink } from '../../src/agents/agent.ts';
import { tone } from '../bed/index.ts';
import { startStack, until } from '../support/stack.ts';
import { sse } from '../support/sse.ts';

const SHIPPED_PROMPT = new URL('../../freeswitch/sounds/callbridge/apology.wav', import.meta.url);

/** An agent the test speaks through: whatever it says reaches the session's sink. */
class ScriptedAgent implements Agent {
  readonly kind = 'scripted';
  readonly inputSampleRate = 8000;
  sink: AgentSink | undefined;
  async start(sink: AgentSink): Promise<void> {
    this.sink = sink;
  }
  pushAudio(): void {}
  async close(): Promise<void> {}
}

test('an agent that resumes is counted; one that fails for good gets the apology prompt played in full, then the hang-up', async (t) => {
  // The emulator plays files it can read, as FreeSWITCH does on its host: give it the prompt the image ships.
  const promptDir = await mkdtemp(join(tmpdir(), 'callbridge-prompt-'));
  const prompt = join(promptDir, 'apology.wav');
  await copyFile(SHIPPED_PROMPT, prompt);
  const agent = new ScriptedAgent();
  const stack = await startStack({ env: { APOLOGY_FILE: prompt }, start: { createAgent: () => agent } });
  t.after(async () => {
    await stack.stop();
    await rm(promptDir, { recursive: true, force: true });
  });
  const { fs, bridge } = stack;
  const base = `http://127.0.0.1:${bridge.http.port}`;

  const call = fs.placeInboundCall({ variables: { callbridge: '1' }, codec: 'PCMU' });
  await until(() => bridge.calls.active.get(call.uuid)?.state === 'active', 5000, 'call active');
  const events = sse(`${base}/calls/${call.uuid}/events`);
  t.after(() => events.close());
  await until(() => events.events.some((e) => e.event === 'snapshot'), 3000, 'event stream open');

  // A vendor connection replaced mid-call: on the record, the event stream and /metrics.
  agent.sink!.resumed({ reason: 'goAway', durationMs: 240 });
  const streamed = await until(() => events.events.find((e) => e.event === 'resumption'), 3000, 'resumption event');
  assert.deepEqual(
    { ...streamed.data, at: 0 },
    { type: 'resumption', count: 1, reason: 'goAway', durationMs: 240, at: 0 },
  );
  const live = (await (await fetch(`${base}/calls/${call.uuid}`)).json()) as any;
  assert.deepEqual(
    { ...live.resumptions, last: live.resumptions.last.map((r: any) => r.reason) },
    { count: 1, totalMs: 240, maxMs: 240, last: ['goAway'] },
  );
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^callbridge_agent_resumptions_total\{reason="goAway"\} 1$/m);
  assert.match(metrics, /^callbridge_agent_resumption_seconds_count 1$/m);

  // Mid-reply, the agent gives up.
  const reply = tone(440, 3000, 8000);
  agent.sink!.audio(Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength), 8000);
  await until(() => call.playing, 5000, 'the reply playing');
  agent.sink!.failed('vendor gone');
  await call.waitDestroyed(20_000);

  const heard = call.heard.map((s) => ({
    path: s.path,
    status: s.status,
    playedMs: s.playedMs,
    plannedMs: s.plannedMs,
  }));
  const apology = heard.filter((s) => s.path === prompt);
  assert.equal(apology.length, 1, `the prompt played once (heard: ${JSON.stringify(heard)})`);
  assert.equal(apology[0]!.status, 'done', 'played to its end: the hang-up came after it, not during it');
  assert.equal(apology[0]!.playedMs, apology[0]!.plannedMs);
  assert.ok(
    heard.indexOf(apology[0]!) > 0 && heard.slice(0, -1).some((s) => s.status === 'break'),
    'the rest of the reply was cut for it',
  );
  const kill = fs.commands.find((c) => c.line.startsWith(`api uuid_kill ${call.uuid}`));
  assert.ok(kill, 'callbridge hung up');

  // The call is recorded as failed with the cause, in history too, and the stream said so.
  await events.done;
  const statuses = events.events.filter((e) => e.event === 'status').map((e) => e.data.status);
  assert.equal(statuses.at(-1), 'failed');
  const stored = await until(
    async () => {
      const r = (await (await fetch(`${base}/calls/${call.uuid}`)).json()) as any;
      return r.status === 'failed' ? r : undefined;
    },
    3000,
    'call stored as failed',
  );
  assert.equal(stored.endReason, 'agent failed: vendor gone');
  assert.equal(stored.resumptions.count, 1);
  assert.equal((await bridge.store.get(call.uuid))?.resumptions.last[0]?.reason, 'goAway', 'kept in SQLite history');
});

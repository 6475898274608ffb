/**
 * What the Gemini Live agent's unit tests share: polling helpers, and a register of the agents and fakes a
 * test file starts, closed after each test, with a check at the end of the file that no socket or timer
 * was left behind.
 */
import assert from 'node:assert/strict';
import { after, afterEach } from 'node:test';
import type { GeminiLiveAgent } from '../../src/agents/gemini-live/gemini-live-agent.ts';
import type { GeminiLiveFake } from '../bed/index.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms; rejects naming what did not happen within `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} (${ms} ms)`);
    await sleep(5);
  }
}

/** Registers the hooks once per test file; push what a test starts into the returned lists. */
export function liveAgentCleanup(): { fakes: GeminiLiveFake[]; agents: GeminiLiveAgent[] } {
  const fakes: GeminiLiveFake[] = [];
  const agents: GeminiLiveAgent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.close()));
    await Promise.all(fakes.splice(0).map((f) => f.stop()));
  });
  after(async () => {
    await sleep(0);
    const left = process.getActiveResourcesInfo().filter((r) => /TCP|Timeout|Immediate/.test(r));
    assert.deepEqual(left, [], 'every socket and timer released');
  });
  return { fakes, agents };
}

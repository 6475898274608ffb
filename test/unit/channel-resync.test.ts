import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelResync, type ResyncedCall, type ResyncHost } from '../../src/calls/channel-resync.ts';
import type { EslClient } from '../../src/freeswitch/esl.ts';
import { silentLogger } from '../../src/log.ts';

const OLD = '11111111-1111-4111-8111-111111111111';
const GONE = '22222222-2222-4222-8222-222222222222';
const NEW = '33333333-3333-4333-8333-333333333333';

/**
 * The race seen in CI: after a reconnect the resync asks for the channel list; a new call's CHANNEL_PARK
 * arrives and is picked up before the answer, which (asked for earlier) does not list it. Only calls known when
 * the listing was asked for may be ended by it.
 */
test('a call picked up while the channel listing is on its way is not ended by that listing', async () => {
  let answer!: (reply: string) => void;
  const esl = {
    connected: true,
    apiOk: () => new Promise<string>((r) => (answer = r)),
    api: async () => '-ERR no such channel',
  } as unknown as EslClient;
  const ended: string[] = [];
  const sessions = new Map<string, ResyncedCall>();
  const session = (id: string): ResyncedCall => ({
    id,
    end: async () => {
      ended.push(id);
    },
  });
  sessions.set(OLD, session(OLD));
  sessions.set(GONE, session(GONE));
  const host: ResyncHost = {
    esl,
    logger: silentLogger(),
    sessions,
    accepting: () => true,
    unconfirmed: () => [],
    confirm: () => {},
    failUnconfirmed: () => {},
    take: () => {},
  };
  new ChannelResync(host).run();
  await new Promise((r) => setImmediate(r));
  sessions.set(NEW, session(NEW)); // picked up from its CHANNEL_PARK meanwhile
  answer(
    JSON.stringify({
      row_count: 1,
      rows: [{ uuid: OLD, direction: 'inbound', state: 'CS_EXECUTE', callstate: 'ACTIVE' }],
    }),
  );
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(ended, [GONE], 'only the call that existed before the listing and is missing from it ends');
});

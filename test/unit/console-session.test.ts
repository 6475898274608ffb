import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleSessions, SignInLimiter } from '../../src/http/console-session.ts';

test('a console cookie is valid until it expires, and only under the API token that signed it', () => {
  let now = 1_800_000_000_000;
  const sessions = new ConsoleSessions({ apiToken: 'token-0123456789abcdef', hours: 2, now: () => now });
  const value = sessions.issue();
  assert.match(value, /^1800007200000\.[A-Za-z0-9_-]{43}$/);
  assert.equal(sessions.valid(value), true);
  const other = new ConsoleSessions({ apiToken: 'token-0123456789abcdeX', hours: 2, now: () => now });
  assert.equal(other.valid(value), false, 'a changed token ends every sign-in');
  const [expires, mac] = value.split('.') as [string, string];
  assert.equal(sessions.valid(`${Number(expires) + 1}.${mac}`), false, 'the expiry cannot be moved');
  assert.equal(sessions.valid(undefined), false);
  now += 2 * 3_600_000 - 1;
  assert.equal(sessions.valid(value), true);
  now += 1;
  assert.equal(sessions.valid(value), false, 'expired');
});

test('wrong sign-ins: the 11th within a minute is refused, and attempts are taken again once the minute has passed', () => {
  let now = 0;
  const limiter = new SignInLimiter({ now: () => now });
  for (let i = 0; i < 10; i++) {
    assert.equal(limiter.blockedForSeconds(), 0);
    limiter.failed();
    now += 1000;
  }
  assert.equal(limiter.blockedForSeconds(), 50, 'until the oldest failure is a minute old');
  now = 60_000;
  assert.equal(limiter.blockedForSeconds(), 0);
  limiter.failed();
  assert.equal(limiter.blockedForSeconds(), 1, 'the second failure (at 1 s) keeps it full until 61 s');
});

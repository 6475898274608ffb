import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrowserGate } from '../../src/calls/browser-admission.ts';
import { BROWSER_TICKET_VARIABLE, BrowserTickets } from '../../src/calls/browser-tickets.ts';
import type { ChannelInfo } from '../../src/freeswitch/events.ts';
import { Metrics } from '../../src/metrics.ts';
import { captureLogger } from '../support/stack.ts';

const TTL = 60_000;

function clock(start = 1_800_000_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

test('a ticket redeems once: ok, then used', () => {
  const c = clock();
  const tickets = new BrowserTickets({ secret: 's3cret', ttlMs: TTL, now: c.now });
  const { ticket, expiresAt } = tickets.issue();
  assert.equal(expiresAt, c.t + TTL);
  assert.match(ticket, /^[A-Za-z0-9._-]+$/);
  assert.ok(ticket.length <= 200);
  assert.equal(tickets.redeem(ticket), 'ok');
  assert.equal(tickets.redeem(ticket), 'used');
  // Another ticket is its own: redeeming one does not spend the other.
  assert.equal(tickets.redeem(tickets.issue().ticket), 'ok');
  assert.equal(BROWSER_TICKET_VARIABLE, 'sip_h_X-Callbridge-Ticket');
});

test('a ticket past its expiry is expired, even if never redeemed', () => {
  const c = clock();
  const tickets = new BrowserTickets({ secret: 's3cret', ttlMs: TTL, now: c.now });
  const { ticket } = tickets.issue();
  c.t += TTL;
  assert.equal(tickets.redeem(ticket), 'expired');
  const fresh = tickets.issue().ticket;
  c.t += TTL - 1;
  assert.equal(tickets.redeem(fresh), 'ok', 'still valid 1 ms before its expiry');
});

test('a used ticket stays refused after the memory of it is pruned (it has expired by then)', () => {
  const c = clock();
  const tickets = new BrowserTickets({ secret: 's3cret', ttlMs: TTL, now: c.now });
  const { ticket } = tickets.issue();
  assert.equal(tickets.redeem(ticket), 'ok');
  c.t += TTL + 1;
  assert.equal(tickets.redeem(ticket), 'expired');
  assert.equal(tickets.remembered, 0, 'the expired nonce was forgotten');
});

test('forged, foreign, truncated, tampered, odd or oversize tickets are invalid; absent ones missing', () => {
  const c = clock();
  const tickets = new BrowserTickets({ secret: 'one', ttlMs: TTL, now: c.now });
  const other = new BrowserTickets({ secret: 'two', ttlMs: TTL, now: c.now });
  const random = new BrowserTickets({ ttlMs: TTL, now: c.now });
  const good = tickets.issue().ticket;
  const [expiry, nonce, signature] = good.split('.') as [string, string, string];

  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  const later = (Number.parseInt(expiry, 36) + 3_600_000).toString(36);
  const cases: Record<string, string> = {
    'signed with another secret': other.issue().ticket,
    'signed with a random per-process secret': random.issue().ticket,
    'signature changed': `${expiry}.${nonce}.${flip(signature, 5)}`,
    'expiry moved later': `${later}.${nonce}.${signature}`,
    'nonce changed': `${expiry}.${flip(nonce, 0)}.${signature}`,
    truncated: good.slice(0, -1),
    'signature missing': `${expiry}.${nonce}`,
    'extra part': `${good}.x`,
    'bad characters': `${expiry}.${nonce.slice(0, -1)}+.${signature}`,
    'space inside': `${expiry}.${nonce} .${signature}`,
    oversize: `${good}${'a'.repeat(200)}`,
    huge: 'a'.repeat(1_000_000),
    'an array variable': `ARRAY::${good}|:${good}`,
  };
  for (const [what, ticket] of Object.entries(cases)) assert.equal(tickets.redeem(ticket), 'invalid', what);
  assert.equal(tickets.redeem(undefined), 'missing');
  assert.equal(tickets.redeem(''), 'missing');
  // None of that spent the real ticket.
  assert.equal(tickets.redeem(good), 'ok');
});

test('tickets issued by one instance redeem on another with the same secret', () => {
  const c = clock();
  const a = new BrowserTickets({ secret: 'shared', ttlMs: TTL, now: c.now });
  const b = new BrowserTickets({ secret: 'shared', ttlMs: TTL, now: c.now });
  assert.equal(b.redeem(a.issue().ticket), 'ok');
});

test('the memory of redeemed tickets stays bounded under 20k redemptions', () => {
  const c = clock();
  const max = 1000;
  const tickets = new BrowserTickets({ secret: 's3cret', ttlMs: TTL, now: c.now, maxOutstanding: max });
  const early = tickets.issue().ticket;
  assert.equal(tickets.redeem(early), 'ok');
  for (let i = 0; i < 20_000; i++) {
    assert.equal(tickets.redeem(tickets.issue().ticket), 'ok');
    assert.ok(tickets.remembered <= max);
    c.t += 1; // 20 s in all: nothing expires during the flood
  }
  assert.equal(tickets.remembered, max);
  // Once the flood's tickets expire, their memory goes with them.
  c.t += TTL;
  assert.equal(tickets.redeem(undefined), 'missing');
  assert.equal(tickets.remembered, 0);

  // A burst within the bound is remembered whole: every reuse is refused.
  const burst = Array.from({ length: max }, () => tickets.issue().ticket);
  for (const t of burst) assert.equal(tickets.redeem(t), 'ok');
  for (const t of burst) assert.equal(tickets.redeem(t), 'used');
});

test('at the bound, expired entries are forgotten before live ones', () => {
  const c = clock();
  const max = 100;
  const tickets = new BrowserTickets({ secret: 's3cret', ttlMs: TTL, now: c.now, maxOutstanding: max });
  const issued: string[] = [];
  for (let i = 0; i < max; i++) {
    issued.push(tickets.issue().ticket);
    assert.equal(tickets.redeem(issued.at(-1)), 'ok');
    c.t += 1_000;
  }
  // The first 40 have expired by now; the 60 others are live and must stay spent.
  c.t = 1_800_000_000_000 + 39_000 + TTL;
  assert.equal(tickets.redeem(tickets.issue().ticket), 'ok');
  assert.equal(tickets.remembered, 61);
  for (const t of issued.slice(40)) assert.equal(tickets.redeem(t), 'used');
  for (const t of issued.slice(0, 40)) assert.equal(tickets.redeem(t), 'expired');
});

test('the default bound is 10 000 remembered tickets', () => {
  const c = clock();
  const tickets = new BrowserTickets({ ttlMs: TTL, now: c.now });
  for (let i = 0; i < 10_500; i++) tickets.redeem(tickets.issue().ticket);
  assert.equal(tickets.remembered, 10_000);
});

function parked(variables: Record<string, string>, uuid = '6a0b1c2d-0000-4000-8000-000000000001'): ChannelInfo {
  return {
    uuid,
    direction: 'inbound',
    answered: false,
    callerNumber: 'browser',
    callerName: '',
    destination: 'agent',
    writeCodec: undefined,
    writeRate: undefined,
    sipCallId: undefined,
    variable: (name) => variables[name],
  };
}

function admission(tickets?: BrowserTickets) {
  const hangups: Array<string | undefined> = [];
  const { logger, lines } = captureLogger();
  const metrics = new Metrics();
  const gate = new BrowserGate();
  const channel = { hangup: async (cause?: string) => void hangups.push(cause) };
  const admit = (variables: Record<string, string>, uuid?: string) =>
    gate.admit(parked(variables, uuid), channel, logger, { browserTickets: tickets, metrics });
  return { admit, hangups, lines, metrics };
}

test('admission: only channels marked browser need a ticket; without tickets configured they are refused', async () => {
  const off = admission();
  assert.equal(off.admit({ callbridge: '1' }), true, 'an ordinary marked call passes');
  assert.equal(off.admit({ callbridge: 'ARRAY::browser|:1' }), true, 'the latest marker value counts');
  assert.deepEqual(off.hangups, []);
  assert.equal(off.admit({ callbridge: ' Browser ' }), false, 'browser calls are off without tickets');
  assert.deepEqual(off.hangups, ['CALL_REJECTED']);
  // Received on the browser profile but routed elsewhere (an INVITE naming a gateway): still a browser call.
  assert.equal(off.admit({ callbridge: '1', sofia_profile_name: 'browser' }), false, 'the profile counts');
  assert.equal(off.admit({ callbridge: '1', sofia_profile_name: 'callbridge' }), true);
  assert.deepEqual(off.hangups, ['CALL_REJECTED', 'CALL_REJECTED']);
  assert.equal(off.lines.at(-1)?.reason, 'disabled');
  assert.match(await off.metrics.text(), /^callbridge_browser_calls_refused_total\{reason="disabled"\} 2$/m);

  const tickets = new BrowserTickets({ ttlMs: TTL });
  const on = admission(tickets);
  const { ticket } = tickets.issue();
  assert.equal(on.admit({ callbridge: 'browser', [BROWSER_TICKET_VARIABLE]: ticket }), true);
  const other = '6a0b1c2d-0000-4000-8000-000000000002';
  assert.equal(on.admit({ callbridge: 'ARRAY::1|:browser', [BROWSER_TICKET_VARIABLE]: ticket }, other), false);
  assert.deepEqual(on.hangups, ['CALL_REJECTED']);
  assert.equal(on.lines.at(-1)?.reason, 'used');
  // The channel that redeemed it is the same call when taken again (a resync, a call left parked and retaken).
  assert.equal(on.admit({ callbridge: 'browser', [BROWSER_TICKET_VARIABLE]: ticket }), true);
  assert.deepEqual(on.hangups, ['CALL_REJECTED']);
  assert.ok(!JSON.stringify(on.lines).includes(ticket), 'the ticket is never logged');
});

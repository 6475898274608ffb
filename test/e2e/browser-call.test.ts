/**
 * Calls from the browser profile (the console's "Call the agent"): FreeSWITCH's browser dialplan marks them
 * `callbridge=browser` and parks them with the INVITE's X-Callbridge-Ticket header as `sip_h_X-Callbridge-Ticket`.
 * callbridge takes one only if its ticket redeems (issued, unexpired, first use); anything else is hung up with
 * CALL_REJECTED before it is answered, counted by reason, and the ticket never reaches a log line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BROWSER_TICKET_VARIABLE, BrowserTickets } from '../../src/calls/browser-tickets.ts';
import { asInt16, tone, type EmulatedChannel } from '../bed/index.ts';
import { startStack, until, type Stack } from '../support/stack.ts';

const TTL_MS = 60_000;

/** Tickets on a clock the test can move forward (to expire them). */
function ticketsWithClock() {
  const clock = { offsetMs: 0 };
  const tickets = new BrowserTickets({ secret: 'e2e-secret', ttlMs: TTL_MS, now: () => Date.now() + clock.offsetMs });
  return { tickets, clock };
}

function browserCall(stack: Stack, ticket?: string): EmulatedChannel {
  const variables: Record<string, string> = { callbridge: 'browser' };
  if (ticket !== undefined) variables[BROWSER_TICKET_VARIABLE] = ticket;
  return stack.fs.placeInboundCall({
    variables,
    answer: false,
    context: 'browser',
    destination: 'agent',
    callerNumber: 'browser',
  });
}

/** Every command sent about this channel, reads (uuid_dump by a resync) left out. */
const commandsFor = (stack: Stack, call: EmulatedChannel) =>
  stack.fs.commands
    .filter((c) => c.line.includes(call.uuid) && !c.line.startsWith('api uuid_dump '))
    .map((c) => c.line);

async function assertRefused(stack: Stack, call: EmulatedChannel, reason: string): Promise<void> {
  await until(() => call.hungUp, 5000, `refused call ${reason} hung up`);
  assert.equal(call.hangupCause, 'CALL_REJECTED', reason);
  assert.deepEqual(commandsFor(stack, call), [`api uuid_kill ${call.uuid} CALL_REJECTED`], `${reason}: only hung up`);
  assert.notEqual(call.answerState, 'answered', `${reason}: never answered`);
  assert.equal(call.streams.length, 0, `${reason}: never streamed`);
  assert.ok(!stack.bridge.calls.active.has(call.uuid), `${reason}: no session`);
  const warned = stack.logs.find((l) => l.call === call.uuid && l.msg === 'refusing a browser call: no valid ticket');
  assert.equal(warned?.reason, reason);
}

async function refusedCounts(stack: Stack): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${stack.bridge.http.port}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^callbridge_browser_calls_refused_total\{reason="([a-z]+)"\} (\d+)$/gm)) {
    counts[m[1]!] = Number(m[2]);
  }
  return counts;
}

function assertTicketsNeverLogged(stack: Stack, tickets: string[]): void {
  const logged = JSON.stringify(stack.logs);
  for (const t of tickets) {
    assert.ok(!logged.includes(t), 'a ticket reached the log');
    // Nor any recognisable part of it (its nonce or its signature).
    for (const part of t.split('.').slice(1)) assert.ok(!logged.includes(part), 'part of a ticket reached the log');
  }
}

test('a browser call with a valid ticket is answered and streamed; missing, forged, reused and expired ones are refused', async (t) => {
  const { tickets, clock } = ticketsWithClock();
  const stack = await startStack({ start: { browserTickets: tickets } });
  t.after(() => stack.stop());
  const { fs, gemini, bridge } = stack;

  const valid = tickets.issue().ticket;
  const call = browserCall(stack, valid);
  const session = await gemini.nextSession(5000);
  await until(() => call.stream?.connected, 5000, 'browser call streaming');
  const lines = commandsFor(stack, call);
  const answerAt = lines.indexOf(`api uuid_answer ${call.uuid}`);
  const streamAt = lines.findIndex((l) => l.startsWith(`api uuid_audio_stream ${call.uuid} start `));
  assert.ok(answerAt >= 0 && streamAt > answerAt, 'answered, then streamed, like an inbound call');
  call.say(tone(440, 400, 8000), 8000);
  await session.waitForAudioMs(400, 5000);
  assert.ok(
    asInt16(session.audioIn).some((s) => Math.abs(s) > 2000),
    'the agent hears the browser caller',
  );
  const record = (await bridge.callBook.get(call.uuid))!;
  assert.equal(record.direction, 'inbound');
  assert.equal(record.from, 'browser');
  assert.equal(record.to, 'agent');

  const [expiredTicket, forgedBase] = [tickets.issue().ticket, tickets.issue().ticket];
  const forged = `${forgedBase.slice(0, -2)}${forgedBase.endsWith('AA') ? 'BB' : 'AA'}`;
  const missing = browserCall(stack);
  await assertRefused(stack, missing, 'missing');
  const reused = browserCall(stack, valid);
  await assertRefused(stack, reused, 'used');
  const bad = browserCall(stack, forged);
  await assertRefused(stack, bad, 'invalid');
  clock.offsetMs = TTL_MS + 1;
  const late = browserCall(stack, expiredTicket);
  await assertRefused(stack, late, 'expired');

  assert.deepEqual(await refusedCounts(stack), { missing: 1, used: 1, invalid: 1, expired: 1 });
  assert.equal(gemini.sessions.length, 1, 'no agent was started for a refused call');
  assert.ok(call.stream?.connected && bridge.calls.active.has(call.uuid), 'the admitted call carries on');

  // A call received on the browser profile needs a ticket wherever it was routed: an INVITE naming a gateway
  // (`sip:agent@fs;gw=NAME`) reaches that gateway's context, whose dialplan marks it like any inbound call.
  const detour = fs.placeInboundCall({
    variables: { callbridge: '1', sofia_profile_name: 'browser' },
    answer: false,
    destination: 'agent',
  });
  await assertRefused(stack, detour, 'missing');
  assert.deepEqual(await refusedCounts(stack), { missing: 2, used: 1, invalid: 1, expired: 1 });

  // An ordinary marked call still needs no ticket.
  const plain = fs.placeInboundCall({ variables: { callbridge: '1' }, answer: false });
  await until(() => plain.stream?.connected, 5000, 'an ordinary inbound call streams');

  assertTicketsNeverLogged(stack, [valid, expiredTicket, forged]);
});

test('a reconnect does not skip the check: browser calls parked while ESL was down are judged on resync', async (t) => {
  const { tickets } = ticketsWithClock();
  const stack = await startStack({ start: { browserTickets: tickets } });
  t.after(() => stack.stop());
  const { fs, bridge } = stack;

  const first = tickets.issue().ticket;
  const admitted = browserCall(stack, first);
  await until(() => admitted.stream?.connected, 5000, 'admitted browser call streaming');

  await fs.eslDown();
  await until(() => !bridge.esl.connected, 3000, 'ESL down');
  const fresh = tickets.issue().ticket;
  const parkedValid = browserCall(stack, fresh);
  const parkedReused = browserCall(stack, first);
  const parkedMissing = browserCall(stack);
  await Promise.all([parkedValid, parkedReused, parkedMissing].map((c) => c.waitForEvent('CHANNEL_PARK')));
  await fs.eslUp();
  await bridge.esl.waitConnected(5000);

  await until(() => parkedValid.stream?.connected, 5000, 'the browser call with a fresh ticket is taken on resync');
  await assertRefused(stack, parkedReused, 'used');
  await assertRefused(stack, parkedMissing, 'missing');
  // The call admitted before the drop is a session already: neither judged again nor set up twice.
  assert.ok(bridge.calls.active.has(admitted.uuid) && !admitted.hungUp, 'the admitted call survives the reconnect');
  const starts = commandsFor(stack, admitted).filter((l) => l.includes(' start '));
  assert.equal(starts.length, 1, 'the admitted call was not set up twice');
  assert.deepEqual(await refusedCounts(stack), { used: 1, missing: 1 });
  assertTicketsNeverLogged(stack, [first, fresh]);
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build-console.ts';
import { tone } from '../bed/index.ts';
import { startStack, until, type Stack } from '../support/stack.ts';
import { SipWebSocketFake } from './sip-ws-fake.ts';

/**
 * The web console in Debian's Chromium (headless, driven by playwright-core) against callbridge with the
 * FreeSWITCH emulator and the Gemini Live fake: what an operator sees, and what reaches FreeSWITCH.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts/console';
const TOKEN = 'console-test-token-0123456789';
const WAIT = 10_000;

let browser: Browser;
/** The browser contexts the running test opened. */
const openContexts: BrowserContext[] = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/test-services.sh (it installs Chromium)`);
  await buildConsole({ quiet: true });
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
    ],
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
});

const base = (stack: Stack) => `http://127.0.0.1:${stack.bridge.http.port}`;

/** A fresh browser context (no cookies) on the console; closed with the test. */
async function openConsole(stack: Stack, hash = '', viewport = { width: 1280, height: 800 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  openContexts.push(context);
  await context.grantPermissions(['microphone'], { origin: base(stack) });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  await page.goto(`${base(stack)}/${hash}`);
  return page;
}

const row = (id: string) => `[data-testid="call-row"][data-call-id="${id}"]`;

/** The rows as the operator reads them, top to bottom. */
async function rows(page: Page): Promise<Array<{ id: string; status: string; cause: string }>> {
  return page.$$eval('[data-testid="call-row"]', (trs) =>
    trs.map((tr) => ({
      id: (tr as any).dataset.callId ?? '',
      status: tr.querySelector('[data-testid="call-status"]')?.textContent ?? '',
      cause: tr.querySelector('[data-testid="call-cause"]')?.textContent ?? '',
    })),
  );
}

/** callbridge for one test; when the test ends, its pages close first (their event streams), then the stack. */
async function stackFor(t: { after: (fn: () => Promise<void>) => void }, env: Record<string, string> = {}) {
  const stack = await startStack({ env });
  t.after(async () => {
    for (const context of openContexts.splice(0)) await context.close();
    await stack.stop();
  });
  return stack;
}

test('with API_TOKEN set the console asks for the token first; a wrong one is refused, the right one opens the calls', async (t) => {
  const stack = await stackFor(t, { API_TOKEN: TOKEN });
  const page = await openConsole(stack);

  await page.waitForSelector('[data-testid="login-form"]');
  assert.equal(await page.locator('[data-testid="calls-view"]').count(), 0, 'no calls before signing in');
  assert.equal(await page.locator('[data-testid="call-agent"]').isVisible(), false, 'nor the call button');
  assert.equal(await page.getAttribute('[data-testid="login-token"]', 'type'), 'password');

  await page.fill('[data-testid="login-token"]', 'not-the-token');
  await page.click('[data-testid="login-submit"]');
  await page.waitForSelector('[data-testid="login-error"]:has-text("Wrong token")');
  assert.equal(await page.locator('[data-testid="calls-view"]').count(), 0);
  await page.screenshot({ path: `${ARTIFACTS}/login.png` });

  await page.fill('[data-testid="login-token"]', TOKEN);
  await page.click('[data-testid="login-submit"]');
  await page.waitForSelector('[data-testid="calls-view"]');
  await page.waitForSelector('[data-testid="calls-empty"]:visible');

  // A session that ends while the page is open (here: the cookie is gone) brings the login back at the next 401.
  await page.context().clearCookies();
  await page.click('[data-testid="nav-new"]');
  await page.fill('[data-testid="new-to"]', '+15551234567');
  await page.click('[data-testid="new-submit"]');
  await page.waitForSelector('[data-testid="login-form"]');
  assert.equal(stack.fs.commands.filter((c) => c.line.includes('originate')).length, 0, 'nothing dialled');
  await page.fill('[data-testid="login-token"]', TOKEN);
  await page.click('[data-testid="login-submit"]');
  await page.waitForSelector('[data-testid="new-call-form"]');

  // The session survives a reload (the cookie), and signing out asks again.
  await page.click('[data-testid="nav-calls"]');
  await page.reload();
  await page.waitForSelector('[data-testid="calls-view"]');
  await page.click('[data-testid="sign-out"]');
  await page.waitForSelector('[data-testid="login-form"]');
  await page.reload();
  await page.waitForSelector('[data-testid="login-form"]');
});

test('the calls list shows inbound calls as they come and end, without a reload', async (t) => {
  const stack = await stackFor(t);
  const page = await openConsole(stack);
  await page.waitForSelector('[data-testid="calls-empty"]:visible');
  await page.evaluate('window.sameDocument = true');

  const first = stack.fs.placeInboundCall({ variables: { callbridge: '1' }, callerNumber: '+15550000001' });
  await page.waitForSelector(`${row(first.uuid)}[data-status="answered"]`);
  const second = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  await page.waitForSelector(`${row(second.uuid)}[data-status="answered"]`);
  assert.deepEqual(
    (await rows(page)).map((r) => r.id),
    [second.uuid, first.uuid],
    'newest on top',
  );
  assert.equal(await page.textContent(`${row(first.uuid)} [data-testid="call-direction"]`), 'inbound');
  assert.equal(await page.textContent(`${row(first.uuid)} [data-testid="call-from"]`), '+15550000001');
  // Inbound calls take the default pipeline; its name may come after the first update.
  assert.match(
    (await page.textContent(`${row(first.uuid)} [data-testid="call-pipeline"]`)) ?? '',
    /^(default|gemini-live)$/,
  );
  // The duration of a live call ticks.
  const duration = `${row(first.uuid)} [data-testid="call-duration"]`;
  await page.waitForFunction(`/^0:0[1-9]$/.test(document.querySelector('${duration}')?.textContent)`, undefined, {
    timeout: WAIT,
  });
  await page.screenshot({ path: `${ARTIFACTS}/calls-list.png` });

  await first.hangup();
  await page.waitForSelector(`${row(first.uuid)}[data-status="completed"]`);
  assert.equal(await page.textContent(`${row(first.uuid)} [data-testid="call-cause"]`), 'NORMAL_CLEARING');
  assert.equal((await rows(page)).find((r) => r.id === second.uuid)?.status, 'answered', 'the other call is still on');
  assert.equal(await page.evaluate('window.sameDocument'), true, 'no reload');

  // Filters: by state (asked of the API) and by direction (on the page).
  await page.selectOption('[data-testid="filter-status"]', 'completed');
  await page.waitForFunction(`document.querySelectorAll('[data-testid="call-row"]').length === 1`);
  assert.deepEqual(
    (await rows(page)).map((r) => r.id),
    [first.uuid],
  );
  await page.selectOption('[data-testid="filter-status"]', '');
  await page.selectOption('[data-testid="filter-direction"]', 'outbound');
  await page.waitForSelector('[data-testid="calls-empty"]:visible');
  await page.selectOption('[data-testid="filter-direction"]', '');
  await page.waitForFunction(`document.querySelectorAll('[data-testid="call-row"]').length === 2`);

  // On a phone: one column, every row still readable.
  const phone = await openConsole(stack, '', { width: 390, height: 844 });
  await phone.waitForSelector(row(second.uuid));
  const width = (await phone.evaluate('document.documentElement.scrollWidth')) as number;
  assert.ok(width <= 390, `no sideways scrolling on a phone (page is ${width} px wide)`);
  await phone.screenshot({ path: `${ARTIFACTS}/calls-list-phone.png`, fullPage: true });
  await second.hangup();
  await page.waitForSelector(`${row(second.uuid)}[data-status="completed"]`);
});

test('a call page shows what caller and agent say as the fake transcribes it, in order, interim lines replaced; then the recording', async (t) => {
  const recordings = await mkdtemp(join(tmpdir(), 'console-rec-'));
  const stack = await stackFor(t, { RECORDING: 'true', RECORDING_DIR: recordings });
  t.after(() => rm(recordings, { recursive: true, force: true })); // after the stack stopped (hooks run in order)
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const session = await stack.gemini.nextSession(WAIT);
  await until(() => call.stream?.connected, WAIT, 'stream');
  const page = await openConsole(stack, `#/calls/${call.uuid}`);
  await page.waitForSelector('[data-testid="fact-status"]:has-text("answered")');

  const lines = () =>
    page.$$eval('[data-testid="transcript-line"]', (lis) =>
      lis.map(
        (li) =>
          `${(li as any).dataset.speaker}${(li as any).dataset.final === 'true' ? '' : '…'}: ${li.querySelector('.text')?.textContent}`,
      ),
    );
  const reply = async (words: string) => {
    await session.sendAudio(tone(600, 200, 24000), { chunkMs: 40, paceMs: 2, transcript: words });
    session.generationComplete();
    session.turnComplete();
    await until(() => call.playbackIdle && call.heard.length > 0, WAIT, 'reply played');
  };

  session.sendInputTranscription('I would like');
  await page.waitForSelector('[data-testid="transcript-line"][data-final="false"]:has-text("I would like")');
  session.sendInputTranscription(' a taxi, please');
  await reply('Sure, where to?');
  session.sendInputTranscription('To the airport');
  await reply('On my way');
  const expected = [
    'caller: I would like a taxi, please',
    'agent: Sure, where to?',
    'caller: To the airport',
    'agent: On my way',
  ];
  await until(
    async () => JSON.stringify(await lines()) === JSON.stringify(expected),
    WAIT,
    'the four final lines',
  ).catch(async (e) => {
    throw new Error(`${(e as Error).message}: the page shows ${JSON.stringify(await lines())}`);
  });
  // One bar per reply in the latency chart.
  await page.waitForFunction(`document.querySelectorAll('[data-testid="latency-pipeline"]').length === 2`);
  // Pressed digits appear once in the timeline, after what was said.
  call.dtmf('42#');
  await page.waitForSelector('[data-testid="timeline-dtmf"]:has-text("42#")');
  assert.equal(await page.locator('[data-testid="timeline-dtmf"]').count(), 1);
  assert.equal(await page.locator('#main li').last().getAttribute('data-testid'), 'timeline-dtmf');
  await page.screenshot({ path: `${ARTIFACTS}/call.png`, fullPage: true });
  const phone = await openConsole(stack, `#/calls/${call.uuid}`, { width: 390, height: 844 });
  await phone.waitForSelector('[data-testid="transcript-line"]:has-text("On my way")');
  const width = (await phone.evaluate('document.documentElement.scrollWidth')) as number;
  assert.ok(width <= 390, `the call page fits a phone (page is ${width} px wide)`);
  await phone.screenshot({ path: `${ARTIFACTS}/call-phone.png`, fullPage: true });
  await call.hangup();
  await page.waitForSelector('[data-testid="fact-status"]:has-text("completed")');
  assert.equal(await page.isDisabled('[data-testid="hangup"]'), true, 'no hang-up button on an ended call');
  // Once the recording is complete the page offers a player; the browser can fetch the WAV with its session.
  await page.waitForSelector('[data-testid="recording-audio"]', { timeout: 20_000 });
  assert.equal(await page.getAttribute('[data-testid="recording-audio"]', 'src'), `/calls/${call.uuid}/recording`);
  assert.equal(
    await page.evaluate(
      `fetch('/calls/${call.uuid}/recording').then((r) => r.status + ' ' + r.headers.get('content-type'))`,
    ),
    '200 audio/wav',
  );
});

test('Say and Transfer on the call page reach the agent or show the API error; Hang up ends the call in FreeSWITCH', async (t) => {
  const stack = await stackFor(t);
  const call = stack.fs.placeInboundCall({ variables: { callbridge: '1' } });
  const session = await stack.gemini.nextSession(WAIT);
  await until(() => call.stream?.connected, WAIT, 'stream');
  const page = await openConsole(stack, `#/calls/${call.uuid}`);
  await page.waitForSelector('[data-testid="fact-status"]:has-text("answered")');
  assert.equal(await page.isEnabled('[data-testid="hangup"]'), true);

  await page.fill('[data-testid="say-text"]', 'One moment please.');
  await page.click('[data-testid="say"]');
  await page.waitForSelector('[data-testid="call-info"]:has-text("Sent to the agent.")');
  await until(() => session.texts.some((x) => x.includes('One moment please.')), WAIT, 'the text reached the model');

  await page.fill('[data-testid="transfer-target"]', 'sip:a b@host');
  await page.click('[data-testid="transfer"]');
  await page.waitForSelector('[data-testid="call-error"]:has-text("the request is not valid")');
  assert.match(
    (await page.textContent('[data-testid="call-error"]')) ?? '',
    /target: a phone number \(\+ and digits\) or sip:user@host/,
    "the API's details under its message",
  );
  assert.equal(call.hungUp, false, 'a refused transfer leaves the call alone');

  await page.click('[data-testid="hangup"]');
  await until(() => call.hungUp, WAIT, 'the channel hung up');
  assert.ok(
    stack.fs.commands.some(
      (c) => c.line.startsWith(`api uuid_kill ${call.uuid}`) || c.line.startsWith(`bgapi uuid_kill ${call.uuid}`),
    ),
    'callbridge told FreeSWITCH to hang up',
  );
  await page.waitForSelector('[data-testid="fact-status"]:has-text("completed")');
  for (const id of ['hangup', 'transfer', 'say'])
    assert.equal(await page.isDisabled(`[data-testid="${id}"]`), true, id);
});

test('the place-call form shows the API validation errors, then places the call and opens its page', async (t) => {
  const stack = await stackFor(t, { DEFAULT_GATEWAY: 'trunk' });
  const page = await openConsole(stack, '#/new');
  await page.waitForSelector('[data-testid="new-call-form"]');

  await page.fill('[data-testid="new-to"]', 'call me maybe');
  await page.click('[data-testid="new-submit"]');
  await page.waitForSelector('[data-testid="new-error-detail"]');
  const details = await page.$$eval('[data-testid="new-error-detail"]', (lis) => lis.map((li) => li.textContent));
  assert.ok(
    details.some((d) => /to.*must be a phone number/.test(d ?? '')),
    `the API's message for the number: ${JSON.stringify(details)}`,
  );
  assert.equal(
    await page.textContent('[data-testid="new-error-to"]'),
    'must be a phone number: digits with an optional leading +',
    'the message sits next to the number',
  );
  await page.screenshot({ path: `${ARTIFACTS}/place-call.png`, fullPage: true });
  assert.equal(stack.fs.commands.filter((c) => c.line.includes('originate')).length, 0, 'nothing dialled');

  await page.fill('[data-testid="new-to"]', '+15551234567');
  await page.fill('[data-testid="new-objective"]', 'book a demo');
  await page.click('[data-testid="new-submit"]');
  await page.waitForURL(/#\/calls\/[0-9a-f-]{36}$/);
  const id = /#\/calls\/([0-9a-f-]{36})$/.exec(page.url())![1]!;
  const originate = await stack.fs.waitForCommand((c) => c.line.includes('originate'), WAIT);
  assert.match(originate.line, new RegExp(`origination_uuid=${id}.*sofia/gateway/trunk/\\+15551234567`));
  await page.waitForSelector('[data-testid="fact-status"]:has-text("answered")');
  assert.equal(await page.textContent('[data-testid="fact-objective"]'), 'book a demo');
  const channel = stack.fs.channels.get(id)!;
  await page.click('[data-testid="hangup"]');
  await until(() => channel.hungUp, WAIT, 'hung up');
});

test('Call the agent: the page gets a ticket and dials the target over SIP on WebSocket with WebRTC; the ticket lets one call in', async (t) => {
  const sip = await SipWebSocketFake.start({ answer: 486 });
  t.after(() => sip.stop());
  const stack = await stackFor(t, {
    BROWSER_SIP_WS_URL: sip.url,
    BROWSER_SIP_TARGET: 'sip:agent@127.0.0.1',
  });
  const page = await openConsole(stack);
  await page.waitForSelector('[data-testid="calls-view"]');

  await page.click('[data-testid="call-agent"]');
  const invite = await sip.nextInvite(WAIT);
  assert.equal(sip.protocols[0], 'sip', 'the WebSocket speaks the sip subprotocol');
  assert.match(invite.text, /^INVITE sip:agent@127\.0\.0\.1 SIP\/2\.0\r\n/);
  const ticket = /^X-Callbridge-Ticket: ([A-Za-z0-9._-]+)\r$/m.exec(invite.text)?.[1];
  assert.ok(ticket, 'the INVITE carries the ticket header');
  assert.match(invite.text, /^Content-Type: application\/sdp\r$/m);
  assert.match(invite.text, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF /m, 'WebRTC media: DTLS-SRTP');
  assert.match(invite.text, /^a=fingerprint:sha-256 [0-9A-F:]+\r$/m, 'with a DTLS fingerprint');
  assert.match(invite.text, /^a=rtpmap:\d+ PCMU\/8000\r$/m, 'G.711 offered');

  // FreeSWITCH (here: the fake) says busy; the page shows the call ended and why.
  await page.waitForSelector('[data-testid="browser-call-state"][data-state="ended"]');
  assert.match((await page.textContent('[data-testid="browser-call-state"]')) ?? '', /Ended: Busy/);
  assert.equal(await page.isEnabled('[data-testid="call-agent"]'), true, 'ready to call again');

  // The same ticket as FreeSWITCH would pass it on: callbridge takes the call, and it shows in the list.
  const taken = stack.fs.placeInboundCall({
    variables: { callbridge: 'browser', 'sip_h_X-Callbridge-Ticket': ticket },
  });
  await page.waitForSelector(`${row(taken.uuid)}[data-status="answered"]`);
  // A second call with the same ticket is refused: hung up, never answered, never in the list as taken.
  const replay = stack.fs.placeInboundCall({
    variables: { callbridge: 'browser', 'sip_h_X-Callbridge-Ticket': ticket },
  });
  await until(() => replay.hungUp, WAIT, 'the replayed ticket is refused');
  assert.equal(replay.hangupCause, 'CALL_REJECTED');
  assert.ok(
    !(await rows(page)).some((r) => r.id === replay.uuid && r.status === 'answered'),
    'the refused call is not shown as taken',
  );
  await taken.hangup();
  await page.waitForSelector(`${row(taken.uuid)}[data-status="completed"]`);
});

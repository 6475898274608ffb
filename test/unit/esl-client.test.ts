import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { EslClient, EslCommandError, EslNotConnectedError, EslTimeoutError } from '../../src/freeswitch/esl.ts';
import * as cmd from '../../src/freeswitch/commands.ts';
import { silentLogger } from '../../src/log.ts';

const U = '25200e2e-1434-42bd-85d3-75d185d3a79e';

/**
 * A scripted ESL server: replies to each command with whatever `reply(line)` returns (or nothing, to
 * simulate a stuck FreeSWITCH), so the client's timeout and FIFO handling can be checked exactly.
 */
class ScriptedEsl {
  server = net.createServer();
  sockets = new Set<net.Socket>();
  lines: string[] = [];
  connections = 0;
  /** False: accept the TCP connection and never say a word (a wedged or wrong peer). */
  greets = true;
  reply: (line: string, headers: Record<string, string>) => string | undefined | Promise<string | undefined> = () =>
    undefined;
  port = 0;

  async start(): Promise<void> {
    this.server.on('connection', (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.setNoDelay(true); // as mod_event_socket does; otherwise Nagle delays back-to-back replies ~40 ms
      if (this.greets) s.write('Content-Type: auth/request\n\n');
      // FreeSWITCH answers one socket's commands in order: chain them.
      let chain = Promise.resolve();
      s.on('data', (d) => {
        chain = chain.then(() => this.#handle(s, d));
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  #buf = new Map<net.Socket, string>();

  async #handle(s: net.Socket, d: Buffer): Promise<void> {
    let buf = (this.#buf.get(s) ?? '') + d.toString();
    let i: number;
    // biome-ignore lint/suspicious/noAssignInExpressions: the usual read-every-frame loop
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const [line = '', ...rest] = block.split('\n');
      const headers = Object.fromEntries(rest.map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 2)]));
      this.lines.push(line);
      if (line.startsWith('auth ')) s.write('Content-Type: command/reply\nReply-Text: +OK accepted\n\n');
      else if (line.startsWith('event '))
        s.write('Content-Type: command/reply\nReply-Text: +OK event listener enabled json\n\n');
      else {
        const r = await this.reply(line, headers);
        if (r !== undefined && !s.destroyed) s.write(r);
      }
    }
    this.#buf.set(s, buf);
  }

  api(body: string): string {
    return `Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`;
  }

  event(obj: Record<string, string>): string {
    const json = JSON.stringify(obj);
    return `Content-Length: ${Buffer.byteLength(json)}\nContent-Type: text/event-json\n\n${json}`;
  }

  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function setup(timeoutMs = 150, t?: { after(fn: () => Promise<void>): void }) {
  const srv = new ScriptedEsl();
  await srv.start();
  const esl = new EslClient({
    host: '127.0.0.1',
    port: srv.port,
    password: 'ClueCon',
    commandTimeoutMs: timeoutMs,
    reconnectMaxMs: 400,
    reconnectInitialMs: 50,
    logger: silentLogger(),
  });
  t?.after(async () => {
    await esl.stop();
    await srv.stop();
  });
  esl.start();
  await esl.waitConnected(2000);
  return { srv, esl };
}

test('connects, authenticates and subscribes only to the events callbridge uses', async (t) => {
  const { srv } = await setup(150, t);
  assert.ok(srv.lines.includes('auth ClueCon'));
  const sub = srv.lines.find((l) => l.startsWith('event json ') && l.includes('CHANNEL_PARK'))!;
  assert.ok(sub, 'subscription sent');
  const [names, subclasses] = sub.slice('event json '.length).split(' CUSTOM ');
  assert.ok(!names!.includes('ALL'));
  assert.deepEqual(subclasses!.split(' ').sort(), cmd.SUBSCRIBED_SUBCLASSES.slice().sort());
});

test('api resolves with the body; apiOk turns -ERR into EslCommandError', async (t) => {
  const { srv, esl } = await setup(150, t);
  srv.reply = (line) => (line.startsWith('api uuid_answer') ? srv.api('-ERR No such channel!\n') : srv.api('+OK\n'));
  assert.equal(await esl.api(cmd.breakPlayback(U)), '+OK\n');
  await assert.rejects(
    esl.apiOk(cmd.answer(U)),
    (e: Error) => e instanceof EslCommandError && /No such channel/.test(e.message),
  );
});

test('a timed-out command keeps its reply slot, so the next command gets its own reply', async (t) => {
  const { srv, esl } = await setup(100, t);
  let n = 0;
  srv.reply = async (line) => {
    n++;
    if (n === 1) {
      await sleep(160); // answers after the client's timeout
      return srv.api('first\n');
    }
    return srv.api(`reply to ${line.split(' ')[1]}\n`);
  };
  const first = esl.api(cmd.answer(U));
  await assert.rejects(first, EslTimeoutError);
  const second = await esl.api(cmd.breakPlayback(U));
  assert.equal(second, 'reply to uuid_break\n', 'the late "first" reply did not leak into the second command');
});

test('pending commands fail at once when the socket drops, and the client reconnects and resubscribes', async (t) => {
  const { srv, esl } = await setup(2000, t);
  srv.reply = () => undefined; // never answer
  const pending = esl.api(cmd.answer(U));
  const disconnected = new Promise((r) => esl.once('disconnected', r));
  await sleep(20);
  srv.dropAll();
  await assert.rejects(pending, EslNotConnectedError);
  await disconnected;
  await assert.rejects(esl.api(cmd.answer(U)), EslNotConnectedError, 'commands while down fail fast');
  await esl.waitConnected(2000);
  assert.equal(srv.connections, 2);
  assert.equal(
    srv.lines.filter((l) => l.startsWith('event json ') && l.includes('CHANNEL_PARK')).length,
    2,
    'resubscribed',
  );
});

test('a connection whose replies stop coming is replaced', async (t) => {
  const { srv, esl } = await setup(80, t);
  srv.reply = () => undefined;
  await assert.rejects(esl.api(cmd.answer(U)), EslTimeoutError);
  await esl.waitConnected(50).catch(() => {}); // still "connected" until the second timeout passes
  await sleep(200);
  await esl.waitConnected(2000);
  assert.ok(srv.connections >= 2, 'reconnected after the stuck reply');
});

test('a peer that accepts the connection but never asks for auth is given up on and retried', async (t) => {
  const srv = new ScriptedEsl();
  srv.greets = false;
  await srv.start();
  const esl = new EslClient({
    host: '127.0.0.1',
    port: srv.port,
    password: 'ClueCon',
    commandTimeoutMs: 500,
    connectTimeoutMs: 150,
    reconnectMaxMs: 100,
    reconnectInitialMs: 20,
    logger: silentLogger(),
  });
  t.after(async () => {
    await esl.stop();
    await srv.stop();
  });
  esl.start();
  await sleep(600);
  assert.ok(srv.connections >= 2, `retried: ${srv.connections} connections`);
  srv.greets = true;
  await esl.waitConnected(2000);
});

test('bgapi sends a Job-UUID and resolves with the BACKGROUND_JOB body', async (t) => {
  const { srv, esl } = await setup(150, t);
  srv.reply = (line, headers) => {
    if (!line.startsWith('bgapi ')) return undefined;
    const job = headers['Job-UUID']!;
    setTimeout(() => {
      for (const s of srv.sockets) {
        s.write(
          srv.event({
            'Event-Name': 'BACKGROUND_JOB',
            'Job-UUID': job,
            'Content-Length': '14',
            _body: '-ERR USER_BUSY\n',
          }),
        );
      }
    }, 20);
    return `Content-Type: command/reply\nReply-Text: +OK Job-UUID: ${job}\nJob-UUID: ${job}\n\n`;
  };
  assert.equal(await esl.bgapi(cmd.status(), 1000), '-ERR USER_BUSY\n');
});

test('events are delivered typed; other content types are not', async (t) => {
  const { srv, esl } = await setup(150, t);
  const got: string[] = [];
  esl.on('event', (e) => got.push(`${e.name}/${e.subclass ?? ''}/${e.header('Unique-ID')}/${e.body}`));
  for (const s of srv.sockets) {
    s.write(srv.event({ 'Event-Name': 'CHANNEL_PARK', 'Unique-ID': U }));
    s.write(
      srv.event({
        'Event-Name': 'CUSTOM',
        'Event-Subclass': 'mod_audio_stream::connect',
        'Unique-ID': U,
        'Content-Length': '22',
        _body: '{"status":"connected"}',
      }),
    );
    s.write('Content-Type: log/data\nContent-Length: 3\n\nabc');
  }
  await sleep(50);
  assert.deepEqual(got, [`CHANNEL_PARK//${U}/`, `CUSTOM/mod_audio_stream::connect/${U}/{"status":"connected"}`]);
});

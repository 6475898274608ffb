/**
 * FreeSWITCH's side of browser calls, checked the way FreeSWITCH will read it (the preprocessor emulation and the
 * XML parser of ./support.ts): the SIP-over-WebSocket profile, the dialplan context that can only reach the agent,
 * mod_opus in the image, the entrypoint's self-signed certificate, and the settings that reach all of it.
 * Whether a real browser gets two-way audio is for a real FreeSWITCH (freeswitch/README.md, "Browser calls").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BROWSER_MARKER, BROWSER_TICKET_HEADER } from '../../src/calls/browser-tickets.ts';
import { MARKER_VARIABLE } from '../../src/calls/marker.ts';
import {
  FS_DIR,
  attr,
  children,
  cidrListContains,
  configuration,
  envExampleMap,
  freeswitchModuleDirs,
  loadDocument,
  params,
  read,
  readDockerfile,
  readEnvExample,
  readModuleList,
  section,
  stages,
  type XmlNode,
} from './support.ts';

const DEFAULT_ENV = envExampleMap();
const BROWSER_VARIABLES = [
  'BROWSER_SIP_IP',
  'BROWSER_SIP_PORT',
  'BROWSER_SIP_WS_PORT',
  'BROWSER_SIP_WSS_PORT',
  'BROWSER_SIP_ALLOW_CIDR',
  'BROWSER_SIP_CANDIDATE_CIDR',
];
const ENTRYPOINT = join(FS_DIR, 'docker-entrypoint.sh');
const dockerfile = readDockerfile(join(FS_DIR, 'Dockerfile'));
const [buildStage, runtimeStage] = [stages(dockerfile)[0]!, stages(dockerfile).at(-1)!];

function profile(doc: XmlNode, name: string): Map<string, string> {
  const p = children(children(configuration(doc, 'sofia.conf'), 'profiles')[0], 'profile').find(
    (x) => attr(x, 'name') === name,
  );
  assert.ok(p, `SIP profile ${name}`);
  return params(children(p, 'settings')[0]);
}

function browserProfile(env = DEFAULT_ENV): { p: Map<string, string>; doc: XmlNode } {
  const { doc } = loadDocument(env);
  return { p: profile(doc, 'browser'), doc };
}

/** FreeSWITCH's evaluation of a network list for allow/deny nodes with (comma-separated) cidr: most specific wins. */
function aclAdmits(doc: XmlNode, name: string, addr: string): boolean {
  const list = children(children(configuration(doc, 'acl.conf'), 'network-lists')[0], 'list').find(
    (l) => attr(l, 'name') === name,
  );
  assert.ok(list, `acl.conf has a list ${name}`);
  let verdict = attr(list, 'default') === 'allow';
  let best = -1;
  for (const node of children(list, 'node'))
    for (const cidr of (attr(node, 'cidr') ?? '').split(',')) {
      const bits = Number(cidr.split('/')[1] ?? 32);
      if (cidrListContains(cidr, addr) && bits > best) {
        best = bits;
        verdict = attr(node, 'type') === 'allow';
      }
    }
  return verdict;
}

function context(doc: XmlNode, name: string): XmlNode {
  const ctx = children(section(doc, 'dialplan'), 'context').find((c) => attr(c, 'name') === name);
  assert.ok(ctx, `dialplan context ${name}`);
  return ctx;
}

/** Every action and anti-action of an extension, in order. */
function actions(ext: XmlNode): { app: string; data: string }[] {
  return children(ext, 'condition').flatMap((c) =>
    [...children(c, 'action'), ...children(c, 'anti-action')].map((a) => ({
      app: attr(a, 'application') ?? '',
      data: attr(a, 'data') ?? '',
    })),
  );
}

/** The extension the XML dialplan runs for a destination: the first whose conditions all match. */
function route(ctx: XmlNode, destination: string): XmlNode | undefined {
  return children(ctx, 'extension').find((ext) =>
    children(ext, 'condition').every((cond) => {
      assert.equal(attr(cond, 'field'), 'destination_number', 'conditions test the destination only');
      return new RegExp(attr(cond, 'expression') ?? '').test(destination);
    }),
  );
}

function aptPackages(stage: typeof buildStage): string[] {
  return stage
    .filter((i) => i.keyword === 'RUN' && i.args.includes('apt-get install'))
    .flatMap((i) => i.args.split(/\s+/));
}

function envExampleValue(name: string): string {
  const e = readEnvExample().find((x) => x.name === name);
  assert.ok(e, `${name} is in .env.example`);
  return e.value;
}

test('the browser profile: ws and wss on the configured address and ports, context browser, no plain SIP beyond loopback', () => {
  const { p } = browserProfile();
  assert.equal(DEFAULT_ENV.get('SIP_IP'), undefined);
  assert.equal(p.get('ws-binding'), `0.0.0.0:${envExampleValue('BROWSER_SIP_WS_PORT')}`, 'every address by default');
  assert.equal(p.get('wss-binding'), `0.0.0.0:${envExampleValue('BROWSER_SIP_WSS_PORT')}`);
  assert.deepEqual(
    [envExampleValue('BROWSER_SIP_WS_PORT'), envExampleValue('BROWSER_SIP_WSS_PORT')],
    ['5066', '7443'],
    "FreeSWITCH's usual ports",
  );
  assert.equal(p.get('context'), 'browser');
  assert.equal(p.get('dialplan'), 'XML');
  assert.equal(p.get('sip-ip'), '127.0.0.1', 'the profile’s plain SIP socket stays on loopback');
  const ports = [p.get('sip-port'), envExampleValue('SIP_PORT'), envExampleValue('BROWSER_SIP_WS_PORT')];
  assert.equal(new Set(ports).size, ports.length, `ports ${ports.join(', ')} do not collide`);

  const set = browserProfile(
    envExampleMap({ BROWSER_SIP_IP: '10.0.0.7', BROWSER_SIP_WS_PORT: '15066', BROWSER_SIP_WSS_PORT: '17443' }),
  ).p;
  assert.equal(set.get('ws-binding'), '10.0.0.7:15066');
  assert.equal(set.get('wss-binding'), '10.0.0.7:17443');
  const followsSipIp = browserProfile(envExampleMap({ SIP_IP: '10.0.0.5' })).p;
  assert.equal(followsSipIp.get('ws-binding'), '10.0.0.5:5066', 'a set SIP_IP means that address only');
  const everyAddress = browserProfile(envExampleMap({ SIP_IP: '10.0.0.5', BROWSER_SIP_IP: '0.0.0.0' })).p;
  assert.equal(everyAddress.get('wss-binding'), '0.0.0.0:7443', 'BROWSER_SIP_IP wins over SIP_IP');
  assert.equal(browserProfile(envExampleMap({ BROWSER_SIP_PORT: '5099' })).p.get('sip-port'), '5099');
});

test("callbridge's defaults dial this profile: the WebSocket URL's port and the target's user", () => {
  const { p, doc } = browserProfile();
  const ws = new URL(envExampleValue('BROWSER_SIP_WS_URL'));
  assert.equal(ws.protocol, 'ws:');
  assert.equal(ws.port, p.get('ws-binding')!.split(':').at(-1), 'BROWSER_SIP_WS_URL names the ws port');
  assert.ok(['127.0.0.1', 'localhost'].includes(ws.hostname), 'the default reaches 0.0.0.0 from this machine');
  const target = /^sip:([^@]+)@/.exec(envExampleValue('BROWSER_SIP_TARGET'))?.[1];
  assert.ok(target, 'BROWSER_SIP_TARGET is sip:user@host');
  const ext = route(context(doc, p.get('context')!), target);
  assert.ok(ext && actions(ext).some((a) => a.app === 'park'), `${target} is parked for callbridge`);
});

test('the certificate: the profile reads wss.pem where the entrypoint writes it, a directory FreeSWITCH may write', () => {
  const { p } = browserProfile();
  const entry = read(ENTRYPOINT);
  const certDir = /^cert_dir=(\S+)$/m.exec(entry)?.[1];
  assert.ok(certDir, 'the entrypoint names its certificate directory');
  assert.equal(p.get('tls-cert-dir'), certDir, 'tls-cert-dir is where the entrypoint writes');
  assert.match(entry, /"\$cert_dir\/wss\.pem"/, 'as wss.pem, the file name mod_sofia reads for wss');
  const owned = runtimeStage.find((i) => i.keyword === 'RUN' && i.args.includes('install -d -o freeswitch'));
  assert.ok(owned, 'the image creates FreeSWITCH-owned directories');
  const prefix = /cd (\S+)/.exec(owned.args)?.[1];
  const ownedDirs = /install -d -o freeswitch -g freeswitch ([^&]*)/.exec(owned.args)![1]!.split(/\s+/);
  assert.ok(
    ownedDirs.some((d) => `${prefix}/${d}` === certDir),
    `${certDir} is writable by FreeSWITCH (the entrypoint's wss.pem, FreeSWITCH's dtls-srtp.pem)`,
  );
});

test('who may call and where media may go: inbound and ICE candidate ACLs, no SIP authentication, no registration', () => {
  const { p, doc } = browserProfile();
  assert.equal(p.get('auth-calls'), 'false', `callbridge checks ${BROWSER_TICKET_HEADER} instead`);
  assert.equal(p.get('accept-blind-reg'), 'false');
  assert.equal(p.get('disable-register'), 'true', 'the page registers nothing');
  assert.equal(p.get('disable-transfer'), 'true', 'a REFER cannot move the call');

  const inbound = p.get('apply-inbound-acl')!;
  assert.ok(inbound, 'an inbound ACL');
  for (const ok of ['127.0.0.1', '192.168.1.20', '10.1.2.3']) assert.ok(aclAdmits(doc, inbound, ok), `${ok} may call`);
  assert.ok(!aclAdmits(doc, inbound, '203.0.113.7'), 'the internet may not, by default');
  const opened = browserProfile(envExampleMap({ BROWSER_SIP_ALLOW_CIDR: '203.0.113.0/24' }));
  assert.ok(aclAdmits(opened.doc, opened.p.get('apply-inbound-acl')!, '203.0.113.7'), 'BROWSER_SIP_ALLOW_CIDR');
  assert.ok(!aclAdmits(opened.doc, opened.p.get('apply-inbound-acl')!, '192.168.1.20'));

  // Without apply-candidate-acl FreeSWITCH keeps public candidates only (wan.auto): a LAN browser gets 488.
  const cand = p.get('apply-candidate-acl')!;
  assert.ok(cand, 'a candidate ACL');
  assert.ok(aclAdmits(doc, cand, '192.168.1.20'), "a LAN browser's host candidate");
  assert.ok(!aclAdmits(doc, cand, '203.0.113.7'), 'not any address by default: media goes where calls may come from');
  const turn = browserProfile(envExampleMap({ BROWSER_SIP_CANDIDATE_CIDR: '198.51.100.9/32' }));
  assert.ok(aclAdmits(turn.doc, turn.p.get('apply-candidate-acl')!, '198.51.100.9'), 'BROWSER_SIP_CANDIDATE_CIDR');
  assert.ok(!aclAdmits(turn.doc, turn.p.get('apply-candidate-acl')!, '192.168.1.20'));

  assert.deepEqual(p.get('inbound-codec-prefs')?.split(','), ['OPUS', 'PCMU', 'PCMA']);
  assert.equal(p.get('tls'), 'false', 'no SIP over TLS (wss is the browsers’ TLS)');
  // Media like the main profile: the host address, the public one behind NAT.
  const nat = loadDocument(envExampleMap({ SIP_IP: '10.0.0.5', SIP_EXTERNAL_IP: '198.51.100.20' })).doc;
  const [main, browser] = [profile(nat, 'callbridge'), profile(nat, 'browser')];
  for (const key of ['rtp-ip', 'ext-rtp-ip', 'ext-sip-ip']) assert.equal(browser.get(key), main.get(key), key);
  assert.equal(browser.get('ext-rtp-ip'), '198.51.100.20');
  // Which browsers get the local address: one on this host (ws://127.0.0.1) or the LAN, not the internet.
  const local = browser.get('local-network-acl')!;
  assert.ok(aclAdmits(nat, local, '127.0.0.1') && aclAdmits(nat, local, '192.168.1.20'), 'loopback and LAN are local');
  assert.ok(!aclAdmits(nat, local, '203.0.113.7'), 'a browser on the internet gets SIP_EXTERNAL_IP');
});

test('the browser context parks only the agent, marked for callbridge; everything else is refused', () => {
  const { p, doc } = browserProfile();
  const ctx = context(doc, p.get('context')!);

  const agent = route(ctx, 'agent');
  assert.ok(agent, 'the agent extension');
  assert.deepEqual(actions(agent), [
    { app: 'set', data: `${MARKER_VARIABLE}=${BROWSER_MARKER}` },
    { app: 'park', data: '' },
  ]);

  for (const dest of ['+15551234567', '1000', '9196', 'agent2', 'xagent', 'Agent', 'trunk', '']) {
    const ext = route(ctx, dest);
    assert.ok(ext, `a call to "${dest}" is handled`);
    const acts = actions(ext);
    assert.ok(!acts.some((a) => a.app === 'park' || a.app === 'answer'), `"${dest}" is not parked or answered`);
    assert.ok(
      acts.some((a) => a.app === 'respond' && a.data.startsWith('403')),
      `"${dest}" gets 403`,
    );
    assert.ok(
      acts.some((a) => a.app === 'hangup' && a.data === 'CALL_REJECTED'),
      `"${dest}" is hung up`,
    );
  }

  // Nothing in the context can send a call anywhere: no open relay to the trunk.
  for (const ext of children(ctx, 'extension')) {
    for (const a of actions(ext)) {
      assert.ok(
        ['set', 'park', 'respond', 'hangup'].includes(a.app),
        `${attr(ext, 'name')}: ${a.app} is not allowed here`,
      );
      assert.doesNotMatch(
        a.data,
        /gateway|sofia\/|loopback\/|user\/|\bbridge\b|transfer/i,
        `${attr(ext, 'name')}: ${a.data}`,
      );
    }
    if (ext !== agent)
      assert.ok(
        actions(ext).every((a) => ['respond', 'hangup'].includes(a.app)),
        `${attr(ext, 'name')}: only the agent extension does anything but refuse`,
      );
  }
});

test('mod_opus: a module of the pinned tree, built, loaded with its settings, its library in both image stages', () => {
  const list = readModuleList(read(join(FS_DIR, 'build-modules.conf')));
  assert.ok(
    list.enabled.some((e) => e.text === 'codecs/mod_opus'),
    'build-modules.conf builds codecs/mod_opus',
  );
  assert.ok(freeswitchModuleDirs().has('codecs/mod_opus'), 'src/mod/codecs/mod_opus exists in FreeSWITCH 1.10');
  const { doc } = loadDocument(DEFAULT_ENV);
  const loaded = children(children(configuration(doc, 'modules.conf'), 'modules')[0], 'load').map((l) =>
    attr(l, 'module'),
  );
  assert.ok(loaded.includes('mod_opus'), 'modules.conf.xml loads mod_opus');
  assert.doesNotThrow(() => configuration(doc, 'opus.conf'), 'mod_opus finds opus.conf');

  assert.ok(aptPackages(buildStage).includes('libopus-dev'), 'the build stage has libopus-dev');
  assert.ok(aptPackages(runtimeStage).includes('libopus0'), 'the runtime stage has libopus0');
  const runs = buildStage.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  assert.ok(
    runs.some((r) => /ldd \S+\/mod\/mod_opus\.so \| grep 'libopus\\\.so'/.test(r)),
    'the build fails when mod_opus did not link libopus',
  );
  assert.ok(
    runs.some((r) => r.includes('sofia-sip') && /ldd \S+libsofia-sip-ua\.so \| grep 'libssl\\\.so'/.test(r)),
    'the build fails when sofia-sip has no TLS (no wss)',
  );
  assert.ok(aptPackages(buildStage).includes('libssl-dev'), 'OpenSSL for wss and DTLS-SRTP');
});

test('the entrypoint creates a self-signed wss.pem with openssl when none is mounted, and keeps a mounted one', () => {
  assert.ok(aptPackages(runtimeStage).includes('openssl'), 'the runtime stage installs the openssl command');
  const root = mkdtempSync(join(tmpdir(), 'fs-entrypoint-'));
  try {
    mkdirSync(join(root, 'run'));
    mkdirSync(join(root, 'certs'));
    const script = join(root, 'entrypoint.sh');
    writeFileSync(script, read(ENTRYPOINT).replaceAll('/usr/local/freeswitch', root));
    const run = () =>
      spawnSync('sh', [script, 'true'], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH } });

    const first = run();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /self-signed/, 'it says so in the log');
    const pem = readFileSync(join(root, 'certs', 'wss.pem'), 'utf8');
    const cert = pem.indexOf('-----BEGIN CERTIFICATE-----');
    const key = pem.indexOf('-----BEGIN PRIVATE KEY-----');
    assert.ok(cert === 0 && key > cert, 'certificate first, then its private key (the order mod_sofia reads)');
    const check = spawnSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], { input: pem, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /DNS:localhost/);

    const mounted = '-----BEGIN CERTIFICATE-----\nmounted\n-----END CERTIFICATE-----\n';
    writeFileSync(join(root, 'certs', 'wss.pem'), mounted);
    const second = run();
    assert.equal(second.status, 0, second.stderr);
    assert.equal(readFileSync(join(root, 'certs', 'wss.pem'), 'utf8'), mounted, 'a mounted wss.pem is left alone');
    assert.doesNotMatch(second.stderr, /self-signed/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('every browser setting reaches FreeSWITCH through compose and is documented in .env.example', () => {
  const { pre } = loadDocument(DEFAULT_ENV);
  const envNames = [...pre.envRead].filter((n) => n.startsWith('BROWSER_')).sort();
  assert.deepEqual(envNames, [...BROWSER_VARIABLES].sort(), 'the variables vars.xml reads');

  const compose = parse(read('docker-compose.yml')) as {
    services: Record<string, { environment?: Record<string, string> }>;
  };
  const fsEnv = compose.services.freeswitch?.environment ?? {};
  const entries = readEnvExample();
  const sectionStart = entries.findIndex((e) => e.name === BROWSER_VARIABLES[0]);
  for (const name of BROWSER_VARIABLES) {
    assert.equal(fsEnv[name], `\${${name}:-}`, `compose passes ${name} to freeswitch`);
    const e = entries.find((x) => x.name === name);
    assert.ok(e?.comment, `${name} is documented in .env.example`);
    assert.doesNotMatch(e.value, /["<>&]|\$\{/, `${name}: the entrypoint would refuse it`);
  }
  const names = entries.slice(sectionStart, sectionStart + BROWSER_VARIABLES.length).map((e) => e.name);
  assert.deepEqual(names, BROWSER_VARIABLES, 'together, in their own section');
  const header = read('.env.example')
    .split('\n')
    .slice(0, entries[sectionStart]!.line - 1)
    .reverse()
    .find((l) => l.startsWith('# ---- '));
  assert.match(header ?? '', /FreeSWITCH: browser calls/);
  // Blank means default: the entrypoint unsets empty BROWSER_SIP_* variables before FreeSWITCH's env-set sees them.
  assert.match(read(ENTRYPOINT), /\\\|BROWSER_SIP\\\)_/);
});

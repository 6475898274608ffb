import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MARKER_VARIABLE } from '../../src/calls/marker.ts';
import {
  BUILTIN_VARS,
  CONF_DIR,
  FS_DIR,
  attr,
  children,
  cidrListContains,
  configuration,
  envExampleMap,
  isIpv4,
  loadDocument,
  params,
  read,
  readEnvExample,
  readModuleList,
  section,
  type XmlNode,
} from './support.ts';

const DEFAULT_ENV = envExampleMap();
const TRUNK_ENV = envExampleMap({
  SIP_GATEWAY_PROXY: 'example.pstn.twilio.com',
  SIP_GATEWAY_USERNAME: 'callbridge-user',
  SIP_GATEWAY_PASSWORD: 'not-a-real-password',
  SIP_GATEWAY_REGISTER: 'true',
});

function confFiles(dir = CONF_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? confFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

function aclList(doc: XmlNode, name: string): XmlNode {
  const list = children(children(configuration(doc, 'acl.conf'), 'network-lists')[0], 'list').find(
    (l) => attr(l, 'name') === name,
  );
  assert.ok(list, `acl.conf has no list ${name}`);
  return list;
}

/** FreeSWITCH's evaluation of a network list, for the node kinds used here (allow/deny with cidr). */
function aclAdmits(list: XmlNode, addr: string): boolean {
  let verdict = attr(list, 'default') === 'allow';
  let bestBits = -1;
  for (const node of children(list, 'node')) {
    const cidr = attr(node, 'cidr');
    assert.ok(cidr, 'ACL nodes here use cidr=');
    for (const one of cidr.split(',')) {
      const bits = Number(one.split('/')[1] ?? 32);
      // The most specific matching node wins (switch_network_list_validate_ip).
      if (cidrListContains(one, addr) && bits > bestBits) {
        bestBits = bits;
        verdict = attr(node, 'type') === 'allow';
      }
    }
  }
  return verdict;
}

function sofiaProfiles(doc: XmlNode): XmlNode[] {
  return children(children(configuration(doc, 'sofia.conf'), 'profiles')[0], 'profile');
}

/** The main SIP profile (trunks, phones); with SIP_IP empty a loopback-only one runs beside it. */
function sofiaProfile(doc: XmlNode, name = 'callbridge'): XmlNode {
  const profile = sofiaProfiles(doc).find((p) => attr(p, 'name') === name);
  assert.ok(profile, `SIP profile ${name}`);
  return profile;
}

/** The extension the XML dialplan runs for a destination: the first whose conditions all match. */
/** The first extension of `context` whose conditions hold; `variables` are channel variables (`${name}` fields). */
function routeInbound(
  doc: XmlNode,
  context: string,
  destination: string,
  variables: Record<string, string> = { sofia_profile_name: 'callbridge' },
): XmlNode | undefined {
  const ctx = children(section(doc, 'dialplan'), 'context').find((c) => attr(c, 'name') === context);
  assert.ok(ctx, `no dialplan context ${context}`);
  return children(ctx, 'extension').find((ext) =>
    children(ext, 'condition').every((cond) => {
      const field = attr(cond, 'field');
      const expression = attr(cond, 'expression');
      if (field === undefined) return true;
      const variable = /^\$\{(\w+)\}$/.exec(field)?.[1];
      if (variable) return new RegExp(expression ?? '').test(variables[variable] ?? '');
      assert.equal(field, 'destination_number', 'conditions here test the destination or a channel variable');
      return new RegExp(expression ?? '').test(destination);
    }),
  );
}

test('a browser-profile call detoured into public (an INVITE naming a gateway) is refused, never marked', () => {
  const { doc } = loadDocument(TRUNK_ENV);
  for (const dest of ['agent', '+15551234567', '9196']) {
    const ext = routeInbound(doc, 'public', dest, { sofia_profile_name: 'browser' });
    assert.ok(ext, dest);
    const acts = actions(ext);
    assert.ok(!acts.some((a) => a.app === 'park' || a.data.startsWith('callbridge=')), `${dest}: not parked or marked`);
    assert.ok(
      acts.some((a) => a.app === 'respond' && a.data.startsWith('403')),
      `${dest}: 403`,
    );
  }
  // Calls from the trunk profile still reach callbridge.
  const trunk = routeInbound(doc, 'public', '+15551234567');
  assert.ok(trunk && actions(trunk).some((a) => a.app === 'park'));
});

function actions(ext: XmlNode): { app: string; data: string }[] {
  return children(ext, 'condition').flatMap((c) =>
    children(c, 'action').map((a) => ({ app: attr(a, 'application') ?? '', data: attr(a, 'data') ?? '' })),
  );
}

test('the assembled configuration is well-formed XML and every include resolves', () => {
  for (const env of [DEFAULT_ENV, TRUNK_ENV]) {
    const { pre } = loadDocument(env);
    assert.deepEqual(pre.missingIncludes, [], 'include patterns without a file');
    assert.deepEqual(pre.undefinedRefs, [], '$${name} references to undefined variables expand to nothing');
    assert.doesNotMatch(pre.text, /\$\$\{/, 'no unexpanded $${...} left');
  }
});

test('every file under conf/ is part of the configuration', () => {
  const fixedIp = envExampleMap({ SIP_IP: '10.0.0.5' });
  const used = new Set([
    ...loadDocument(DEFAULT_ENV).pre.files,
    ...loadDocument(TRUNK_ENV).pre.files,
    ...loadDocument(fixedIp).pre.files,
  ]);
  const unused = confFiles()
    .filter((f) => !used.has(f))
    .map((f) => relative(FS_DIR, f));
  assert.deepEqual(unused, [], 'files no include reaches');
});

test('comments do not trip the line-based preprocessor', () => {
  for (const file of confFiles()) {
    read(file)
      .split('\n')
      .forEach((line, i) => {
        const where = `${relative(FS_DIR, file)}:${i + 1}`;
        if (/x-pre-process/i.test(line)) {
          assert.match(
            line,
            /^\s*<X-PRE-PROCESS cmd="[a-z-]+" data="[^"]*"\/>\s*$/,
            `${where}: the tag is acted on (or the line dropped) wherever it appears`,
          );
        }
        if (/<\/?include>|<\?/.test(line)) {
          assert.match(
            line,
            /^\s*(<include>|<\/include>|<\?xml version="1\.0"\?>)\s*$/,
            `${where}: such lines are dropped whole`,
          );
        }
      });
  }
});

test('modules.conf loads what callbridge needs, and only modules the image builds', () => {
  const { doc } = loadDocument(DEFAULT_ENV);
  const loaded = children(children(configuration(doc, 'modules.conf'), 'modules')[0], 'load').map(
    (l) => attr(l, 'module') ?? '',
  );
  for (const m of [
    'mod_event_socket',
    'mod_sofia',
    'mod_audio_stream',
    'mod_native_file',
    'mod_sndfile',
    'mod_commands',
    'mod_dptools',
    'mod_dialplan_xml',
    'mod_console',
  ]) {
    assert.ok(loaded.includes(m), `${m} is loaded`);
  }
  assert.equal(new Set(loaded).size, loaded.length, 'no module loaded twice');
  const built = readModuleList(read(join(FS_DIR, 'build-modules.conf'))).enabled.map((e) => e.name);
  assert.deepEqual(
    [...loaded].filter((m) => m !== 'mod_audio_stream').sort(),
    [...built].sort(),
    'loaded = built (+ mod_audio_stream)',
  );
  for (const m of ['mod_verto', 'mod_signalwire']) assert.ok(!built.includes(m), `${m} needs libks and a token`);
});

test('every environment variable the XML reads is documented in .env.example, with the same default', () => {
  const documented = new Map(readEnvExample().map((e) => [e.name, e.value]));
  const { pre } = loadDocument(DEFAULT_ENV);
  assert.ok(pre.envRead.size >= 10, 'env-set is how values arrive');
  for (const name of pre.envRead)
    assert.ok(documented.has(name), `${name} (read by the FreeSWITCH XML) is in .env.example`);

  // The default of `set` before an `env-set` must be what .env.example shows (when it shows one).
  const defaults = new Map<string, string>();
  for (const d of pre.directives) {
    const [name, ...rest] = d.data.split('=');
    if (d.cmd === 'set') defaults.set(name!, rest.join('='));
    if (d.cmd === 'env-set') {
      const envName = rest.join('=').slice(1);
      const dflt = defaults.get(name!);
      const shown = documented.get(envName);
      if (shown && dflt !== undefined && !dflt.includes('$${'))
        assert.equal(shown, dflt, `${envName}: .env.example shows ${shown}, vars.xml defaults to ${dflt}`);
    }
  }
});

test('blank or absent variables fall back to the defaults in vars.xml', () => {
  const { pre } = loadDocument(new Map());
  assert.equal(pre.vars.get('esl_listen_ip'), '127.0.0.1');
  assert.equal(pre.vars.get('esl_port'), '8021');
  assert.equal(pre.vars.get('esl_password'), 'ClueCon');
  assert.equal(pre.vars.get('sip_ip'), BUILTIN_VARS.local_ip_v4, 'SIP binds the host address by default');
  assert.equal(pre.vars.get('external_ip'), BUILTIN_VARS.local_ip_v4);
  assert.equal(pre.vars.get('sip_gateway_file'), 'none');
});

test('the event socket takes address, port and password from the environment and admits callbridge', () => {
  const { doc } = loadDocument(DEFAULT_ENV);
  const es = params(children(configuration(doc, 'event_socket.conf'), 'settings')[0]);
  assert.equal(es.get('listen-ip'), DEFAULT_ENV.get('FREESWITCH_ESL_LISTEN_IP'));
  assert.equal(es.get('listen-port'), DEFAULT_ENV.get('FREESWITCH_ESL_PORT'));
  assert.equal(es.get('password'), DEFAULT_ENV.get('FREESWITCH_ESL_PASSWORD'));
  assert.equal(DEFAULT_ENV.get('FREESWITCH_ESL_PORT'), '8021');

  const aclName = es.get('apply-inbound-acl');
  assert.ok(aclName, 'without apply-inbound-acl only loopback may connect, silently');
  const acl = aclList(doc, aclName);
  assert.equal(attr(acl, 'default'), 'deny');
  // Host networking: callbridge connects to FREESWITCH_ESL_HOST from the same host, so from loopback.
  const eslHost = DEFAULT_ENV.get('FREESWITCH_ESL_HOST')!;
  assert.ok(isIpv4(eslHost), 'FREESWITCH_ESL_HOST is an address under host networking');
  assert.ok(aclAdmits(acl, eslHost), `${eslHost} admitted`);
  assert.ok(aclAdmits(acl, '127.0.0.1'), 'loopback admitted (healthcheck, fs_cli)');
  assert.equal(es.get('listen-ip'), eslHost, 'callbridge connects where FreeSWITCH listens');
  assert.ok(!aclAdmits(acl, '203.0.113.7'), 'the rest of the world is not');

  // callbridge elsewhere (bridge network): FREESWITCH_ESL_ALLOW admits its network.
  const bridged = loadDocument(
    envExampleMap({ FREESWITCH_ESL_LISTEN_IP: '0.0.0.0', FREESWITCH_ESL_ALLOW: '172.18.0.0/16,10.9.0.5/32' }),
  ).doc;
  const bridgedAcl = aclList(
    bridged,
    params(children(configuration(bridged, 'event_socket.conf'), 'settings')[0]).get('apply-inbound-acl')!,
  );
  assert.ok(aclAdmits(bridgedAcl, '172.18.0.3'));
  assert.ok(aclAdmits(bridgedAcl, '10.9.0.5'));
  assert.ok(!aclAdmits(bridgedAcl, '10.9.0.6'));
});

test('the SIP profile: addresses and codecs from the environment, inbound calls limited by an ACL', () => {
  const { doc } = loadDocument(
    envExampleMap({ SIP_IP: '10.0.0.5', SIP_EXTERNAL_IP: '198.51.100.20', SIP_CODECS: 'PCMU,PCMA,L16' }),
  );
  const profile = sofiaProfile(doc);
  const p = params(children(profile, 'settings')[0]);
  assert.equal(p.get('sip-ip'), '10.0.0.5');
  assert.equal(p.get('rtp-ip'), '10.0.0.5');
  assert.equal(p.get('ext-sip-ip'), '198.51.100.20');
  assert.equal(p.get('ext-rtp-ip'), '198.51.100.20');
  assert.equal(p.get('sip-port'), DEFAULT_ENV.get('SIP_PORT'));
  assert.equal(p.get('inbound-codec-prefs'), 'PCMU,PCMA,L16');
  assert.equal(p.get('context'), 'public');
  assert.equal(p.get('dialplan'), 'XML');

  const acl = aclList(doc, p.get('apply-inbound-acl')!);
  assert.equal(attr(acl, 'default'), 'deny');
  assert.ok(aclAdmits(acl, '192.168.1.20'), 'a softphone on the LAN may call');
  assert.ok(!aclAdmits(acl, '203.0.113.7'), 'the internet may not, by default');

  const defaults = params(children(sofiaProfile(loadDocument(DEFAULT_ENV).doc), 'settings')[0]);
  assert.deepEqual(defaults.get('inbound-codec-prefs')?.split(','), ['PCMU', 'PCMA']);

  const sw = params(children(configuration(doc, 'switch.conf'), 'settings')[0]);
  assert.equal(sw.get('rtp-start-port'), DEFAULT_ENV.get('RTP_PORT_MIN'));
  assert.equal(sw.get('rtp-end-port'), DEFAULT_ENV.get('RTP_PORT_MAX'));
});

test('the outbound gateway exists only when SIP_GATEWAY_PROXY is set', () => {
  const none = children(children(sofiaProfile(loadDocument(DEFAULT_ENV).doc), 'gateways')[0], 'gateway');
  assert.equal(none.length, 0);

  const gws = children(children(sofiaProfile(loadDocument(TRUNK_ENV).doc), 'gateways')[0], 'gateway');
  assert.equal(gws.length, 1);
  const gw = gws[0]!;
  assert.equal(attr(gw, 'name'), DEFAULT_ENV.get('SIP_GATEWAY_NAME'));
  const p = params(gw);
  assert.equal(p.get('proxy'), 'example.pstn.twilio.com');
  assert.equal(p.get('username'), 'callbridge-user');
  assert.equal(p.get('password'), 'not-a-real-password');
  assert.equal(p.get('register'), 'true');
  assert.equal(p.get('register-transport'), 'udp');
  assert.equal(p.get('caller-id-in-from'), 'true');
});

test('inbound calls are marked for callbridge and parked; the echo extension answers 9196', () => {
  const { doc } = loadDocument(DEFAULT_ENV);
  const profileContext = params(children(sofiaProfile(doc), 'settings')[0]).get('context')!;

  for (const dest of ['+15551234567', '1000', 'agent']) {
    const ext = routeInbound(doc, profileContext, dest);
    assert.ok(ext, `a call to ${dest} is routed`);
    const acts = actions(ext);
    const mark = acts.findIndex((a) => a.app === 'set' && a.data === `${MARKER_VARIABLE}=1`);
    const park = acts.findIndex((a) => a.app === 'park');
    assert.ok(mark >= 0, `${dest}: sets ${MARKER_VARIABLE}=1`);
    assert.ok(park > mark, `${dest}: parks after marking`);
    for (const a of acts.slice(0, park))
      assert.ok(
        !['answer', 'bridge', 'transfer', 'hangup'].includes(a.app),
        `${dest}: callbridge answers, not the dialplan (${a.app})`,
      );
  }

  const echo = routeInbound(doc, profileContext, DEFAULT_ENV.get('SIP_ECHO_EXTENSION')!);
  assert.ok(echo);
  assert.deepEqual(
    actions(echo).map((a) => a.app),
    ['answer', 'echo'],
  );
  assert.equal(DEFAULT_ENV.get('SIP_ECHO_EXTENSION'), '9196');

  const moved = loadDocument(envExampleMap({ SIP_ECHO_EXTENSION: '7777' })).doc;
  assert.ok(actions(routeInbound(moved, profileContext, '7777')!).some((a) => a.app === 'echo'));
  assert.ok(actions(routeInbound(moved, profileContext, '9196')!).some((a) => a.app === 'park'));
});

test('no dialplan action sends a call anywhere (an open SIP port must not place calls)', () => {
  const { doc } = loadDocument(DEFAULT_ENV);
  for (const ctx of children(section(doc, 'dialplan'), 'context')) {
    for (const ext of children(ctx, 'extension')) {
      for (const a of actions(ext))
        assert.ok(
          !['bridge', 'transfer', 'execute_extension', 'lua', 'system'].includes(a.app),
          `${attr(ext, 'name')}: ${a.app}`,
        );
    }
  }
});

test('every loaded module that reads a configuration file finds it (no "Could not open" at start)', () => {
  const { doc } = loadDocument(DEFAULT_ENV);
  const loaded = children(children(configuration(doc, 'modules.conf'), 'modules')[0], 'load').map(
    (l) => attr(l, 'module') ?? '',
  );
  const needs: Record<string, string> = {
    mod_console: 'console.conf',
    mod_logfile: 'logfile.conf',
    mod_event_socket: 'event_socket.conf',
    mod_sofia: 'sofia.conf',
    mod_db: 'db.conf',
    mod_spandsp: 'spandsp.conf',
    mod_local_stream: 'local_stream.conf',
    mod_cdr_csv: 'cdr_csv.conf',
  };
  for (const m of loaded)
    if (needs[m]) assert.doesNotThrow(() => configuration(doc, needs[m]!), `${m} is loaded without ${needs[m]}`);
});

test('verbose-channel-events is off: channel variables only on the events that always carry them', () => {
  // switch_channel_event_set_extended_data adds the variables to CHANNEL_PARK, _ANSWER, _HANGUP, _EXECUTE*,
  // PLAYBACK_*, RECORD_*, CUSTOM whatever this says (FreeSWITCH 1.10 switch_channel.c): every event callbridge
  // reads a variable from. `yes` would only add them to CHANNEL_STATE, CALLSTATE, CODEC, DTMF... as well.
  const { doc } = loadDocument(DEFAULT_ENV);
  assert.equal(params(children(configuration(doc, 'switch.conf'), 'settings')[0]).get('verbose-channel-events'), 'no');
});

test('media timeouts: channel variables (1.10), not the deprecated profile params', () => {
  for (const env of [DEFAULT_ENV, TRUNK_ENV]) {
    const { doc, pre } = loadDocument(env);
    for (const profile of sofiaProfiles(doc)) {
      const p = params(children(profile, 'settings')[0]);
      for (const old of ['rtp-timeout-sec', 'rtp-hold-timeout-sec'])
        assert.ok(!p.has(old), `${attr(profile, 'name')}: ${old} is deprecated in 1.10`);
    }
    // Globals are every channel's fallback: inbound and outbound (originate) calls alike.
    assert.equal(pre.vars.get('media_timeout'), '60000', 'hang up after 60 s without media');
    assert.equal(pre.vars.get('media_hold_timeout'), '1800000', '30 minutes on hold');
  }
});

test('with SIP_IP empty, SIP also answers on 127.0.0.1 so that a local SIPp reaches it', () => {
  const { doc } = loadDocument(DEFAULT_ENV);
  assert.equal(DEFAULT_ENV.get('SIP_IP'), undefined, 'the default: no SIP_IP');
  const local = sofiaProfile(doc, 'callbridge-local');
  const p = params(children(local, 'settings')[0]);
  assert.equal(p.get('sip-ip'), '127.0.0.1');
  assert.equal(p.get('rtp-ip'), '127.0.0.1', 'SDP offers loopback, where the local caller is');
  assert.equal(p.get('sip-port'), DEFAULT_ENV.get('SIP_PORT'), 'the port the README dials');
  assert.ok(!p.has('ext-sip-ip') && !p.has('ext-rtp-ip'), 'no NAT address in Contact or SDP');
  const main = params(children(sofiaProfile(doc), 'settings')[0]);
  assert.equal(p.get('context'), main.get('context'), 'the same dialplan as the main profile');
  const acl = aclList(doc, p.get('apply-inbound-acl')!);
  assert.ok(aclAdmits(acl, '127.0.0.1'));
  assert.ok(!aclAdmits(acl, '192.168.1.20'));
  assert.notEqual(main.get('sip-ip'), '127.0.0.1', 'the main profile keeps the host address');

  // A set SIP_IP means exactly that address (and 127.0.0.1 would collide with the loopback profile).
  for (const ip of ['10.0.0.5', '127.0.0.1']) {
    const fixed = loadDocument(envExampleMap({ SIP_IP: ip })).doc;
    assert.deepEqual(
      sofiaProfiles(fixed).map((x) => attr(x, 'name')),
      ['browser', 'callbridge'],
      `SIP_IP=${ip}: no loopback profile (browser calls have their own, on another port)`,
    );
  }
});

/**
 * docker-compose.cluster.yml and Kamailio's configuration (freeswitch/kamailio/), read the way compose,
 * FreeSWITCH and callbridge read them: no Docker engine is needed. Each FreeSWITCH node's configuration is
 * assembled by the preprocessor emulation with that node's environment, so ports, ACLs and addresses are
 * checked as the node will use them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.ts';
import { parseNodeList } from '../../src/freeswitch/nodes.ts';
import {
  ROOT,
  attr,
  children,
  cidrListContains,
  configuration,
  envExampleMap,
  interpolationNames,
  loadDocument,
  params,
  read,
  readDockerfile,
  readEnvExample,
  type XmlNode,
} from './support.ts';

type Healthcheck = { test?: string[] | string; interval?: string; timeout?: string; retries?: number };
type Service = {
  image?: string;
  build?: { context?: string } | string;
  network_mode?: string;
  ports?: unknown;
  env_file?: unknown;
  entrypoint?: string[] | string;
  command?: string[] | string;
  environment?: Record<string, string | number>;
  volumes?: string[];
  restart?: string;
  healthcheck?: Healthcheck;
  depends_on?: Record<string, { condition?: string }>;
};
type Compose = { services?: Record<string, Service>; volumes?: Record<string, unknown> };

const FILE = 'docker-compose.cluster.yml';
const text = read(FILE);
// merge: compose honours YAML merge keys (<<), which the file uses to share blocks between the twins.
const compose = parse(text, { merge: true }) as Compose;
const services = compose.services ?? {};
const NODES = ['freeswitch-1', 'freeswitch-2'] as const;
const INSTANCES = ['callbridge-1', 'callbridge-2'] as const;

/** .env as a user would write it for the cluster: .env.example plus the two values the file requires. */
const HOST_IP = '192.0.2.10';
const dotenv = new Map(readEnvExample().map((e) => [e.name, e.value]));
dotenv.set('SIP_IP', HOST_IP);
dotenv.set('POSTGRES_PASSWORD', 'pw4test');

/** Compose interpolation, with `${NAME:?message}` (refuses an unset or empty NAME) besides `:-`, `-` and `$$`. */
function interpolate(value: string, env: Map<string, string>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (whole, name: string | undefined, op: string | undefined, arg: string | undefined) => {
      if (whole === '$$') return '$';
      const v = env.get(name!);
      if (op === ':?' && (v === undefined || v === '')) throw new Error(`${name}: ${arg}`);
      if (op === '?' && v === undefined) throw new Error(`${name}: ${arg}`);
      if (op === ':-') return v === undefined || v === '' ? (arg ?? '') : v;
      if (op === '-') return v === undefined ? (arg ?? '') : v;
      return v ?? '';
    },
  );
}

/** A service's healthcheck command as one line. */
function checkCommand(name: string): string {
  const t = service(name).healthcheck?.test ?? [];
  return Array.isArray(t) ? t.join(' ') : t;
}

function service(name: string): Service {
  const svc = services[name];
  assert.ok(svc, `${FILE} has a service ${name}`);
  return svc;
}

/** A service's environment as its process sees it (compose leaves out nothing: an empty value stays empty). */
function environment(name: string, env = dotenv): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(service(name).environment ?? {})) out.set(k, interpolate(String(v), env));
  return out;
}

/** What the FreeSWITCH entrypoint leaves of a node's environment (empty values unset) and the node's XML. */
function nodeDocument(name: string): XmlNode {
  const env = new Map([...environment(name)].filter(([, v]) => v !== ''));
  return loadDocument(env).doc;
}

function settings(doc: XmlNode, conf: string): Map<string, string> {
  return params(children(configuration(doc, conf), 'settings')[0]);
}

function profiles(doc: XmlNode): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  const list = children(configuration(doc, 'sofia.conf'), 'profiles')[0];
  for (const p of children(list, 'profile')) out.set(attr(p, 'name') ?? '', params(children(p, 'settings')[0]));
  return out;
}

function aclList(doc: XmlNode, name: string): string {
  const lists = children(children(configuration(doc, 'acl.conf'), 'network-lists')[0], 'list');
  const list = lists.find((l) => attr(l, 'name') === name);
  assert.ok(list, `acl list ${name}`);
  return children(list, 'node')
    .filter((n) => attr(n, 'type') === 'allow')
    .map((n) => attr(n, 'cidr') ?? '')
    .join(',');
}

type Socket = { owner: string; proto: 'udp' | 'tcp'; ip: string; port: number };

/** Every socket a FreeSWITCH node binds, as its assembled configuration says (SIP, WebSocket, event socket). */
function nodeSockets(name: string): Socket[] {
  const doc = nodeDocument(name);
  const out: Socket[] = [];
  for (const [profile, s] of profiles(doc)) {
    const ip = s.get('sip-ip') ?? '';
    const port = Number(s.get('sip-port'));
    out.push({ owner: `${name} ${profile} SIP`, proto: 'udp', ip, port });
    out.push({ owner: `${name} ${profile} SIP`, proto: 'tcp', ip, port });
    for (const key of ['ws-binding', 'wss-binding']) {
      const binding = s.get(key);
      if (!binding) continue;
      const colon = binding.lastIndexOf(':');
      out.push({
        owner: `${name} ${profile} ${key}`,
        proto: 'tcp',
        ip: binding.slice(0, colon) || '0.0.0.0',
        port: Number(binding.slice(colon + 1)),
      });
    }
  }
  const esl = settings(doc, 'event_socket.conf');
  out.push({
    owner: `${name} event socket`,
    proto: 'tcp',
    ip: esl.get('listen-ip')!,
    port: Number(esl.get('listen-port')),
  });
  return out;
}

function rtpRange(name: string): [number, number] {
  const s = settings(nodeDocument(name), 'switch.conf');
  return [Number(s.get('rtp-start-port')), Number(s.get('rtp-end-port'))];
}

/** Kamailio's configuration without comments (`#` lines, except `#!` directives, and trailing `#` comments). */
const kamailioCfg = read('freeswitch/kamailio/kamailio.cfg')
  .split('\n')
  .filter((l) => !/^\s*#(?!!)/.test(l))
  .map((l) => l.replace(/\s+#.*$/, ''))
  .join('\n');
const startScript = read('freeswitch/kamailio/start.sh');

function modparams(module: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of kamailioCfg.matchAll(/^\s*modparam\("([^"]+)",\s*"([^"]+)",\s*("?)(.*?)\3\)\s*$/gm))
    if (m[1] === module) out.set(m[2]!, m[4]!);
  return out;
}

/** A routing block's body: `name[ID] { ... }` (braces balanced). */
function block(header: RegExp): string | undefined {
  const m = header.exec(kamailioCfg);
  if (!m) return undefined;
  let depth = 0;
  const start = kamailioCfg.indexOf('{', m.index);
  for (let i = start; i < kamailioCfg.length; i++) {
    if (kamailioCfg[i] === '{') depth++;
    else if (kamailioCfg[i] === '}' && --depth === 0) return kamailioCfg.slice(start + 1, i);
  }
  return undefined;
}

/** dispatcher.list as Kamailio reads it: after start.sh's substitution, comments and blank lines dropped. */
function dispatcherTargets(): { set: string; uri: string; flags: number }[] {
  const sed = /sed "s\/@SIP_IP@\/\$SIP_IP\/g" \/etc\/kamailio\/dispatcher\.list >(\S+)/.exec(startScript);
  assert.ok(sed, 'start.sh writes SIP_IP into the node list');
  assert.equal(modparams('dispatcher').get('list_file'), sed[1], 'Kamailio reads the list start.sh writes');
  return read('freeswitch/kamailio/dispatcher.list')
    .replaceAll('@SIP_IP@', HOST_IP)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [set = '', uri = '', flags = '0'] = l.split(/\s+/);
      return { set, uri, flags: Number(flags) };
    });
}

test('the cluster: Kamailio, two FreeSWITCH nodes, two callbridge instances, Redis and PostgreSQL', () => {
  assert.deepEqual(Object.keys(services).sort(), [
    'callbridge-1',
    'callbridge-2',
    'freeswitch-1',
    'freeswitch-2',
    'kamailio',
    'postgres',
    'redis',
  ]);
  for (const name of Object.keys(services))
    assert.match(name, /^[a-z0-9-]+$/, `${name}: mod_audio_stream rejects underscores in URL hosts`);
  for (const name of NODES) {
    const build = service(name).build;
    assert.equal(typeof build === 'string' ? build : build?.context, './freeswitch', `${name}: the project's image`);
  }
  for (const name of INSTANCES) {
    const build = service(name).build;
    assert.equal(typeof build === 'string' ? build : build?.context, '.', `${name}: the project's image`);
    assert.ok(existsSync(join(ROOT, 'Dockerfile')));
  }
  assert.match(service('kamailio').image ?? '', /^ghcr\.io\/kamailio\/kamailio:(5\.8|6\.0)\.\d+-[a-z]+$/, 'pinned');
  assert.match(service('redis').image ?? '', /^redis:7(\.\d+)*$/);
  assert.match(service('postgres').image ?? '', /^postgres:16(\.\d+)*$/);
});

test('every service: host networking, nothing published, only its settings, restarts, a healthcheck', () => {
  for (const [name, svc] of Object.entries(services)) {
    assert.equal(svc.network_mode, 'host', `${name}: host networking (see the file's header)`);
    assert.equal(svc.ports, undefined, `${name}: ports do not apply with host networking`);
    assert.equal(svc.env_file, undefined, `${name}: gets only the settings it reads, not all of .env`);
    assert.equal(svc.restart, 'unless-stopped', `${name}: restarts`);
    const hc = svc.healthcheck;
    assert.ok(Array.isArray(hc?.test) && ['CMD', 'CMD-SHELL'].includes(hc.test[0]!), `${name}: a healthcheck`);
    assert.ok(hc.interval && hc.timeout && hc.retries, `${name}: healthcheck timing`);
  }
  const image = readDockerfile('Dockerfile')
    .find((i) => i.keyword === 'HEALTHCHECK')
    ?.args.replace(/^.*?CMD\s+/, '');
  for (const name of INSTANCES)
    assert.deepEqual(service(name).healthcheck?.test, ['CMD', ...(JSON.parse(image ?? '[]') as string[])], name);
  for (const name of NODES) assert.deepEqual(service(name).healthcheck?.test, ['CMD', 'freeswitch-healthcheck']);
  assert.match(checkCommand('redis'), /redis-cli -h 127\.0\.0\.1 -p 6379 ping/);
  assert.match(checkCommand('postgres'), /pg_isready -h 127\.0\.0\.1 -p 5432/);
  // Kamailio's check asks over the control socket that kamailio.cfg opens.
  const ctl = modparams('ctl').get('binrpc');
  assert.ok(ctl, 'kamailio.cfg opens a control socket');
  assert.ok(checkCommand('kamailio').includes(`kamcmd -s ${ctl} dispatcher.list`));
  assert.match(kamailioCfg, /^loadmodule "ctl\.so"$/m);
});

test('callbridge instances start after Redis and PostgreSQL are healthy', () => {
  for (const name of INSTANCES) {
    const deps = service(name).depends_on ?? {};
    assert.equal(deps.redis?.condition, 'service_healthy', `${name}: after Redis`);
    assert.equal(deps.postgres?.condition, 'service_healthy', `${name}: after PostgreSQL`);
    for (const node of NODES) assert.ok(deps[node], `${name}: after ${node} (started: it reconnects by itself)`);
  }
});

test('each instance: its own id, port and stream URL, both nodes, the shared Redis and PostgreSQL', () => {
  const postgres = environment('postgres');
  const redisArgs = service('redis').command as string[];
  const seen = { ids: new Set<string>(), ports: new Set<string>() };
  for (const name of INSTANCES) {
    const env = environment(name);
    const id = env.get('INSTANCE_ID') ?? '';
    assert.match(id, /^[A-Za-z0-9_.-]{1,64}$/, `${name}: INSTANCE_ID`);
    const port = env.get('HTTP_PORT') ?? '';
    assert.ok(!seen.ids.has(id) && !seen.ports.has(port), `${name}: INSTANCE_ID and HTTP_PORT differ from the twin's`);
    seen.ids.add(id);
    seen.ports.add(port);
    assert.equal(env.get('HTTP_HOST'), '127.0.0.1', `${name}: API and media socket on loopback`);
    const ws = new URL(env.get('CALLBRIDGE_WS_URL') ?? '');
    assert.equal(
      `${ws.protocol}//${ws.hostname}:${ws.port}`,
      `ws://127.0.0.1:${port}`,
      `${name}: streams come to itself`,
    );

    // Both nodes, at the event sockets the nodes' configurations open, and streaming to this instance.
    const { nodes, problems } = parseNodeList(env.get('FREESWITCH_NODES') ?? '');
    assert.deepEqual(problems, [], `${name}: FREESWITCH_NODES parses`);
    const expected = NODES.map((node) => {
      const esl = settings(nodeDocument(node), 'event_socket.conf');
      return `${esl.get('listen-ip')}:${esl.get('listen-port')}`;
    });
    assert.deepEqual(
      nodes.map((n) => `${n.host}:${n.port}`),
      expected,
      `${name}: one entry per FreeSWITCH node, at its event socket`,
    );
    for (const n of nodes) assert.equal(n.wsUrl ?? env.get('CALLBRIDGE_WS_URL'), env.get('CALLBRIDGE_WS_URL'));
    for (const node of NODES)
      assert.ok(cidrListContains(aclList(nodeDocument(node), 'esl'), '127.0.0.1'), `${node}'s ESL ACL admits ${name}`);

    const redis = new URL(env.get('REDIS_URL') ?? '');
    assert.equal(redis.protocol, 'redis:');
    assert.equal(redis.hostname, redisArgs[redisArgs.indexOf('--bind') + 1], `${name}: Redis where it listens`);
    assert.equal(redis.port, redisArgs[redisArgs.indexOf('--port') + 1]);
    const db = new URL(env.get('DATABASE_URL') ?? '');
    assert.match(db.protocol, /^postgres(ql)?:$/);
    assert.equal(decodeURIComponent(db.username), postgres.get('POSTGRES_USER'));
    assert.equal(decodeURIComponent(db.password), postgres.get('POSTGRES_PASSWORD'), `${name}: PostgreSQL's password`);
    assert.equal(db.pathname, `/${postgres.get('POSTGRES_DB')}`);
    assert.equal(`${db.hostname}:${db.port}`, '127.0.0.1:5432');

    // And callbridge itself accepts the whole environment.
    const config = loadConfig(Object.fromEntries(env));
    assert.deepEqual(
      config.FREESWITCH_NODES.map((n) => n.wsUrl.replace(/\/$/, '')),
      [`ws://127.0.0.1:${port}`, `ws://127.0.0.1:${port}`],
    );
  }
  const pgArgs = (service('postgres').command as string[]).join(' ');
  assert.match(pgArgs, /listen_addresses=127\.0\.0\.1/, 'PostgreSQL on loopback only');
  assert.match(pgArgs, /port=5432/);
  assert.ok((service('postgres').volumes ?? []).some((v) => /^postgres-data:\/var\/lib\/postgresql\/data$/.test(v)));
  assert.ok(compose.volumes && 'postgres-data' in compose.volumes, 'a named volume for PostgreSQL');
});

test('every variable passed to callbridge is a setting src/config.ts reads, and every setting is passed', () => {
  for (const name of INSTANCES) {
    const passed = Object.keys(service(name).environment ?? {});
    const unknown = passed.filter((k) => !CONFIG_VARIABLES.includes(k));
    assert.deepEqual(unknown, [], `${name}: variables src/config.ts does not read`);
    const missing = CONFIG_VARIABLES.filter((k) => !passed.includes(k));
    assert.deepEqual(missing, [], `${name}: settings of src/config.ts that are not passed`);
    assert.ok(!passed.some((k) => k.startsWith('SIP_GATEWAY_')), 'the trunk credentials stay with FreeSWITCH');
  }
});

test('FreeSWITCH nodes get exactly what FreeSWITCH reads; Kamailio only SIP_IP, SIP_EXTERNAL_IP, SIP_ALLOW_CIDR', () => {
  const reads = new Set(loadDocument(envExampleMap()).pre.envRead);
  for (const script of ['freeswitch/healthcheck.sh', 'freeswitch/docker-entrypoint.sh'])
    for (const m of read(script).matchAll(/\$\{?([A-Z][A-Z0-9_]+)/g))
      if (/^(FREESWITCH|SIP|RTP)_/.test(m[1]!)) reads.add(m[1]!);
  for (const name of NODES)
    assert.deepEqual(Object.keys(service(name).environment ?? {}).sort(), [...reads].sort(), name);
  const kamailioReads = new Set<string>();
  for (const m of startScript.matchAll(/\$\{?([A-Z][A-Z0-9_]+)/g)) kamailioReads.add(m[1]!);
  for (const m of kamailioCfg.matchAll(/\$env\(([A-Z][A-Z0-9_]+)\)/g)) kamailioReads.add(m[1]!);
  assert.deepEqual(
    Object.keys(service('kamailio').environment ?? {}).sort(),
    [...kamailioReads].filter((n) => !['SHM_MEMORY', 'PKG_MEMORY'].includes(n)).sort(),
    'kamailio: what start.sh and kamailio.cfg read (the image sets SHM_MEMORY and PKG_MEMORY)',
  );
  // Callers are admitted by Kamailio now, with FreeSWITCH's default list when .env leaves it empty.
  const callers = environment('kamailio', new Map([...dotenv].filter(([k]) => k !== 'SIP_ALLOW_CIDR'))).get(
    'SIP_ALLOW_CIDR',
  );
  const vars = loadDocument(new Map()).pre.vars;
  assert.equal(callers, vars.get('sip_allow'), "Kamailio's default list of callers is FreeSWITCH's");
});

test("the nodes' SIP, WebSocket and event socket ports and their RTP ranges do not collide", () => {
  const sockets: Socket[] = NODES.flatMap(nodeSockets);
  assert.match(startScript, /listen="\$SIP_IP:5060"/, 'Kamailio listens on SIP_IP:5060');
  for (const proto of ['udp', 'tcp'] as const) sockets.push({ owner: 'kamailio', proto, ip: HOST_IP, port: 5060 });
  for (const name of INSTANCES)
    sockets.push({ owner: name, proto: 'tcp', ip: '127.0.0.1', port: Number(environment(name).get('HTTP_PORT')) });
  sockets.push({ owner: 'redis', proto: 'tcp', ip: '127.0.0.1', port: 6379 });
  sockets.push({ owner: 'postgres', proto: 'tcp', ip: '127.0.0.1', port: 5432 });
  const wildcard = (ip: string) => ip === '0.0.0.0' || ip === '::' || ip === '';
  for (const [i, a] of sockets.entries()) {
    assert.ok(Number.isInteger(a.port) && a.port > 0, `${a.owner}: a port (${a.port})`);
    for (const b of sockets.slice(i + 1)) {
      const clash = a.proto === b.proto && a.port === b.port && (a.ip === b.ip || wildcard(a.ip) || wildcard(b.ip));
      assert.ok(!clash, `${a.owner} and ${b.owner} both bind ${a.proto} ${a.ip}:${a.port}`);
    }
  }
  const [one, two] = NODES.map(rtpRange) as [[number, number], [number, number]];
  for (const [start, end] of [one, two]) assert.ok(start < end, `RTP range ${start}-${end}`);
  assert.ok(one[1] < two[0] || two[1] < one[0], `RTP ranges ${one.join('-')} and ${two.join('-')} overlap`);
  for (const s of sockets)
    if (s.proto === 'udp' && s.ip !== '127.0.0.1')
      for (const [start, end] of [one, two])
        assert.ok(s.port < start || s.port > end, `${s.owner} (udp ${s.port}) inside an RTP range`);
});

test("Kamailio's node list names exactly the two nodes' SIP addresses, and each node takes calls from Kamailio only", () => {
  const targets = dispatcherTargets();
  const nodeSip = NODES.map((name) => {
    const main = profiles(nodeDocument(name)).get('callbridge');
    assert.ok(main, `${name}: the callbridge SIP profile`);
    return `sip:${main.get('sip-ip')}:${main.get('sip-port')}`;
  });
  assert.deepEqual(targets.map((t) => t.uri).sort(), [...nodeSip].sort(), 'one destination per node, nothing else');
  assert.ok(new Set(targets.map((t) => t.set)).size === 1, 'all in one set');
  const set = targets[0]!.set;
  assert.match(kamailioCfg, new RegExp(`ds_select_dst\\("${set}",`), 'the set Kamailio dispatches over');
  for (const t of targets) assert.ok((t.flags & 8) === 8, `${t.uri}: probed from the start (flag 8)`);
  for (const name of NODES) {
    const allowed = aclList(nodeDocument(name), 'sip_inbound');
    assert.ok(cidrListContains(allowed, HOST_IP), `${name} accepts INVITEs from Kamailio (${HOST_IP})`);
    assert.ok(!cidrListContains(allowed, '203.0.113.5'), `${name} refuses callers that bypass Kamailio`);
    assert.ok(!cidrListContains(allowed, '10.1.2.3'), `${name} refuses callers that bypass Kamailio`);
  }
});

test('kamailio.cfg: dispatcher with OPTIONS probing, round-robin, failover to the next node, record-route, no registrar', () => {
  const modules = [...kamailioCfg.matchAll(/^loadmodule "([a-z_]+)\.so"$/gm)].map((m) => m[1]!);
  for (const m of ['tm', 'tmx', 'sl', 'rr', 'pv', 'dispatcher', 'ipops', 'sanity', 'maxfwd'])
    assert.ok(modules.includes(m), `loads ${m}`);
  for (const m of ['registrar', 'usrloc', 'auth', 'auth_db', 'presence'])
    assert.ok(!modules.includes(m), `no ${m}: it only fronts the agent`);
  assert.ok(modules.indexOf('tm') < modules.indexOf('dispatcher'), 'tm before dispatcher (probing needs it)');

  const ds = modparams('dispatcher');
  assert.equal(ds.get('ds_ping_method') ?? 'OPTIONS', 'OPTIONS');
  assert.ok(Number(ds.get('ds_ping_interval')) > 0, 'nodes are pinged');
  assert.equal(ds.get('ds_probing_mode'), '1', 'all nodes, up or down, are probed');
  assert.equal(Number(ds.get('flags')) & 2, 2, 'failover list kept for ds_next_dst()');
  assert.ok(Number(modparams('tm').get('fr_timer')) <= 5000, 'a silent node is given up within seconds');

  const dispatch = block(/route\[DISPATCH\]\s*\{/);
  assert.ok(dispatch, 'route[DISPATCH]');
  assert.match(dispatch, /ds_select_dst\("1",\s*"4"\)/, 'round-robin over set 1');
  const failover = /t_on_failure\("([A-Z_]+)"\)/.exec(dispatch);
  assert.ok(failover, 'a failure route is armed before relaying');
  const failure = block(new RegExp(`failure_route\\[${failover[1]}\\]\\s*\\{`));
  assert.ok(failure, `failure_route[${failover[1]}]`);
  assert.match(failure, /t_branch_timeout\(\)/, 'a node that does not answer...');
  assert.match(failure, /t_check_status\("5\[0-9\]\[0-9\]"\)/, '...or answers 5xx...');
  assert.match(failure, /ds_next_dst\(\)/, '...hands the call to the next node');
  assert.match(failure, new RegExp(`t_on_failure\\("${failover[1]}"\\)`), 'and again from there');
  assert.match(failure, /ds_mark_dst\("ip"\)/, 'a silent node leaves the rotation until it answers OPTIONS');

  const main = block(/request_route\s*\{/);
  assert.ok(main);
  assert.match(main, /record_route\(\)/, 'stays in the signalling path');
  assert.match(main, /is_in_subnet\("\$si",\s*"\$env\(SIP_ALLOW_CIDR\)"\)/, 'callers checked against SIP_ALLOW_CIDR');
  assert.match(main, /is_method\("REGISTER[^"]*"\)\)\s*\{\s*sl_send_reply\("405"/, 'REGISTER refused');
  assert.match(block(/route\[WITHINDLG\]\s*\{/) ?? '', /loose_route\(\)/, 'in-dialog requests follow the Route set');
});

test('the compose file writes no secret, and refuses to start without SIP_IP and POSTGRES_PASSWORD', () => {
  for (const [name, svc] of Object.entries(services)) {
    for (const [k, v] of Object.entries(svc.environment ?? {})) {
      if (!/(KEY|PASSWORD|TOKEN|SECRET)$/.test(k)) continue;
      assert.match(
        String(v),
        new RegExp(`^\\$\\{${k}(:-|:\\?[^}]*)?\\}$`),
        `${name}: ${k} comes from .env, no default`,
      );
    }
  }
  assert.match(String(service('postgres').environment?.POSTGRES_PASSWORD), /^\$\{POSTGRES_PASSWORD:\?/);
  for (const name of INSTANCES) {
    const url = String(service(name).environment?.DATABASE_URL);
    assert.match(url, /^postgres:\/\/[a-z]+:\$\{POSTGRES_PASSWORD:\?[^}]*\}@/, `${name}: the password comes from .env`);
  }
  assert.doesNotMatch(text, /ClueCon/, 'not even the well-known ESL default');
  assert.doesNotMatch(text, /pw4test/);
  const without = (name: string) => new Map([...dotenv].filter(([k]) => k !== name));
  for (const required of ['SIP_IP', 'POSTGRES_PASSWORD'])
    assert.throws(
      () => parse(interpolate(text, without(required))),
      new RegExp(`^Error: ${required}: set ${required} in .env`),
    );
});

test('every variable the cluster file takes from .env is documented in .env.example', () => {
  const documented = new Set(readEnvExample().map((e) => e.name));
  const missing = [...new Set(interpolationNames(text))].filter((n) => !documented.has(n));
  assert.deepEqual(missing, [], `${FILE} reads these from .env, but .env.example does not list them`);
});

// ---- Kamailio itself, running this configuration -------------------------------------------------------

/** kamailio and kamcmd: on PATH, or where Debian's package puts them (scripts/test-services.sh installs it). */
function kamailioBinary(name: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    const path = join(dir, name);
    if (dir && existsSync(path)) return path;
  }
  assert.fail(`${name} is not installed: scripts/test-services.sh installs Debian's kamailio package`);
}

type Behaviour = 'answer' | 'reject-503' | 'silent';

/** A stand-in FreeSWITCH node: answers OPTIONS 200 and INVITEs with 486 (or 503, or nothing at all). */
class FakeNode {
  readonly socket = createSocket('udp4');
  behaviour: Behaviour = 'answer';
  readonly invites: string[] = [];
  options = 0;

  async start(): Promise<this> {
    this.socket.on('message', (buf, from) => {
      const msg = buf.toString();
      const method = msg.slice(0, msg.indexOf(' '));
      if (this.behaviour === 'silent') return;
      if (method === 'OPTIONS') {
        this.options++;
        sipReply(this.socket, msg, from, '200 OK');
      } else if (method === 'INVITE') {
        this.invites.push(msg);
        sipReply(this.socket, msg, from, '100 Trying');
        sipReply(this.socket, msg, from, this.behaviour === 'answer' ? '486 Busy Here' : '503 Service Unavailable');
      }
    });
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    return this;
  }

  get port(): number {
    return this.socket.address().port;
  }
}

function sipReply(socket: Socket4, request: string, to: { port: number; address: string }, status: string): void {
  const copied = request.split('\r\n').filter((l) => /^(Via|From|To|Call-ID|CSeq|Record-Route):/i.test(l));
  const withTag = copied.map((l) => (/^To:/i.test(l) && !status.startsWith('1') ? `${l};tag=node` : l));
  socket.send([`SIP/2.0 ${status}`, ...withTag, 'Content-Length: 0', '', ''].join('\r\n'), to.port, to.address);
}

type Socket4 = ReturnType<typeof createSocket>;

/** A caller on `ip`: sends requests to Kamailio and waits for their final answers. */
class Caller {
  readonly socket = createSocket('udp4');
  readonly #finals = new Map<string, string>();
  #seq = 0;

  async start(ip: string): Promise<this> {
    this.socket.on('message', (buf) => {
      const msg = buf.toString();
      const status = /^SIP\/2\.0 (\d{3})/.exec(msg)?.[1];
      const callId = /^Call-ID: (.*)$/im.exec(msg)?.[1]?.trim();
      if (status && callId && Number(status) >= 200 && !this.#finals.has(callId)) this.#finals.set(callId, status);
    });
    await new Promise<void>((resolve) => this.socket.bind(0, ip, resolve));
    return this;
  }

  /** Sends `method` to Kamailio at 127.0.0.1:port and resolves with the final status code. */
  async request(method: 'INVITE' | 'REGISTER', kamailioPort: number): Promise<{ callId: string; status: string }> {
    const { address, port } = this.socket.address();
    const callId = `cluster-test-${process.pid}-${++this.#seq}`;
    const msg = [
      `${method} sip:agent@127.0.0.1:${kamailioPort} SIP/2.0`,
      `Via: SIP/2.0/UDP ${address}:${port};branch=z9hG4bK-${callId}`,
      'Max-Forwards: 70',
      `From: <sip:caller@${address}>;tag=caller${this.#seq}`,
      'To: <sip:agent@127.0.0.1>',
      `Call-ID: ${callId}`,
      `CSeq: 1 ${method}`,
      `Contact: <sip:caller@${address}:${port}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.socket.send(msg, kamailioPort, '127.0.0.1');
    const status = await waitFor(() => this.#finals.get(callId), 10_000, `final answer to ${method} ${callId}`);
    return { callId, status };
  }
}

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('Kamailio running kamailio.cfg spreads calls round-robin, probes the nodes, fails over, admits only SIP_ALLOW_CIDR', async () => {
  const kamailio = kamailioBinary('kamailio');
  const kamcmd = kamailioBinary('kamcmd');
  const dir = mkdtempSync(join(tmpdir(), 'callbridge-kamailio-'));
  const [a, b] = [await new FakeNode().start(), await new FakeNode().start()];
  const callers: Caller[] = [];
  let proc: ChildProcess | undefined;
  try {
    // The real files, with the container's paths and the nodes' ports moved to this test's.
    const cfg = join(dir, 'kamailio.cfg');
    writeFileSync(cfg, read('freeswitch/kamailio/kamailio.cfg').replaceAll('/run/kamailio/', `${dir}/`));
    writeFileSync(
      join(dir, 'dispatcher.list'),
      read('freeswitch/kamailio/dispatcher.list')
        .replaceAll('@SIP_IP@', '127.0.0.1')
        .replace(':5070 ', `:${a.port} `)
        .replace(':5072 ', `:${b.port} `),
    );
    const port = await freeUdpPort();
    proc = spawn(kamailio, ['-DD', '-E', '-m', '32', '-M', '4', '-f', cfg, '-l', `udp:127.0.0.1:${port}`], {
      env: { ...process.env, SIP_ALLOW_CIDR: '127.0.0.1/32' },
      stdio: ['ignore', 'ignore', 'pipe'],
      // Its own process group: Kamailio forks workers, and all of them must go when the test ends.
      detached: true,
    });
    let log = '';
    proc.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
    });

    // The compose healthcheck's command, against this Kamailio's control socket.
    const ctl = `unix:${dir}/kamailio_ctl`;
    const healthcheck = checkCommand('kamailio')
      .replace(/^CMD-SHELL /, '')
      .replace(/unix:\S+/, ctl);
    const healthy = () =>
      new Promise<boolean>((resolve) =>
        execFile(
          '/bin/sh',
          ['-c', healthcheck],
          { timeout: 5000, env: { PATH: `${dirname(kamcmd)}:/usr/bin:/bin` } },
          (err) => resolve(!err),
        ),
      );
    await waitFor(
      async () => (a.options > 0 && b.options > 0 && (await healthy())) || undefined,
      15_000,
      `both nodes probed with OPTIONS and the healthcheck passing (kamailio log: ${log.slice(-500)})`,
    );

    const caller = await new Caller().start('127.0.0.1');
    callers.push(caller);
    // Round-robin: two calls, one per node; both stay record-routed through Kamailio.
    for (let i = 0; i < 2; i++) assert.equal((await caller.request('INVITE', port)).status, '486');
    assert.equal(a.invites.length, 1, 'one call on each node');
    assert.equal(b.invites.length, 1, 'one call on each node');
    for (const invite of [...a.invites, ...b.invites])
      assert.match(invite, new RegExp(`^Record-Route: <sip:127\\.0\\.0\\.1:${port};lr(=on)?>`, 'm'));

    // No registrar.
    assert.equal((await caller.request('REGISTER', port)).status, '405');

    // A node answering 5xx: the call is handed to the other one.
    a.behaviour = 'reject-503';
    for (let i = 0; i < 2; i++) assert.equal((await caller.request('INVITE', port)).status, '486', 'answered by b');
    assert.equal(a.invites.length, 2, 'a was tried once more...');
    assert.equal(b.invites.length, 3, '...and b took both calls');

    // A node gone silent: after the 2 s transaction timer the call goes to the other node, and the silent one
    // leaves the rotation (inactive, probed) so that the next call does not wait.
    a.behaviour = 'silent';
    const before = { a: a.invites.length, b: b.invites.length };
    for (let i = 0; i < 3; i++) assert.equal((await caller.request('INVITE', port)).status, '486');
    assert.equal(b.invites.length, before.b + 3, 'b took every call');
    const list = await new Promise<string>((resolve, reject) =>
      execFile(kamcmd, ['-s', ctl, 'dispatcher.list'], { timeout: 5000 }, (err, out) =>
        err ? reject(err) : resolve(out),
      ),
    );
    assert.match(list, new RegExp(`URI: sip:127\\.0\\.0\\.1:${a.port}\\s+FLAGS: IP`), 'the silent node is inactive');
    assert.ok(await healthy(), 'healthy while one node is up');

    // A caller outside SIP_ALLOW_CIDR (127.0.0.1/32 here) is refused.
    const stranger = await new Caller().start('127.0.0.2');
    callers.push(stranger);
    assert.equal((await stranger.request('INVITE', port)).status, '403');
    assert.equal(b.invites.length, before.b + 3, 'and reaches no node');

    assert.equal(proc.exitCode, null, `Kamailio still running (log: ${log.slice(-500)})`);
  } finally {
    if (proc?.pid !== undefined && proc.exitCode === null) {
      const group = -proc.pid;
      const gone = new Promise((resolve) => proc?.once('exit', resolve));
      process.kill(group, 'SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      try {
        process.kill(group, 'SIGKILL'); // workers that outlived the main process
      } catch {
        // the whole group is gone already
      }
    }
    for (const s of [a.socket, b.socket, ...callers.map((c) => c.socket)]) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

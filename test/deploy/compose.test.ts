import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_VARIABLES } from '../../src/config.ts';
import {
  ROOT,
  envExampleMap,
  interpolate,
  interpolationNames,
  loadDocument,
  read,
  readDockerfile,
  readEnvExample,
} from './support.ts';

type Service = {
  build?: { context?: string } | string;
  network_mode?: string;
  ports?: unknown;
  env_file?: (string | { path: string; required?: boolean })[] | string;
  environment?: Record<string, string> | string[];
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[];
  restart?: string;
  healthcheck?: { test?: string[] | string; interval?: string; timeout?: string; retries?: number };
  depends_on?: Record<string, { condition?: string }> | string[];
};
type Compose = { services?: Record<string, Service>; volumes?: Record<string, unknown> };

const text = read('docker-compose.yml');
const compose = parse(text) as Compose;
const services = compose.services ?? {};
/** The variables as compose would see them with .env copied from .env.example. */
const env = new Map(readEnvExample().map((e) => [e.name, e.value]));

function mounts(svc: Service): { source: string; target: string; readOnly: boolean }[] {
  return (svc.volumes ?? []).map((v) => {
    if (typeof v !== 'string')
      return { source: v.source ?? '', target: interpolate(v.target ?? '', env), readOnly: v.read_only === true };
    const [source = '', target = '', mode = ''] = interpolate(v, env).split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

function environment(svc: Service): Map<string, string> {
  const out = new Map(env);
  const e = svc.environment ?? {};
  const pairs = Array.isArray(e) ? e.map((kv) => kv.split(/=(.*)/s) as [string, string]) : Object.entries(e);
  for (const [k, v] of pairs) out.set(k, interpolate(String(v), env));
  return out;
}

test('docker-compose.yml names the two services, without underscores', () => {
  assert.deepEqual(Object.keys(services).sort(), ['callbridge', 'freeswitch']);
  for (const name of Object.keys(services)) {
    assert.match(
      name,
      /^[a-z0-9-]+$/,
      `${name}: mod_audio_stream rejects underscores in URL hosts, and service names become hosts`,
    );
  }
});

test('both services: host networking, .env, restart policy, healthcheck, a build that exists', () => {
  for (const [name, svc] of Object.entries(services)) {
    assert.equal(
      svc.network_mode,
      'host',
      `${name}: host networking (SIP/RTP without port maps; ESL and media on loopback)`,
    );
    assert.equal(svc.ports, undefined, `${name}: ports do not apply with host networking`);
    // Not env_file: it would hand every service every .env line, vendor keys included.
    assert.equal(svc.env_file, undefined, `${name}: gets only the settings it reads, not all of .env`);
    const e = svc.environment;
    assert.ok(e && !Array.isArray(e), `${name}: environment as a map`);
    for (const [k, v] of Object.entries(e)) {
      assert.match(
        String(v),
        new RegExp(`^\\$\\{${k}(:-[^}]*)?\\}$`),
        `${name}: ${k} comes from .env under its own name`,
      );
    }
    assert.ok(['unless-stopped', 'always'].includes(svc.restart ?? ''), `${name}: restarts`);
    const hc = svc.healthcheck?.test;
    assert.ok(Array.isArray(hc) && ['CMD', 'CMD-SHELL'].includes(hc[0]!) && hc.length > 1, `${name}: healthcheck`);
    const context = typeof svc.build === 'string' ? svc.build : svc.build?.context;
    assert.ok(context, `${name}: built from this repository`);
    assert.ok(existsSync(join(ROOT, context, 'Dockerfile')), `${name}: ${context}/Dockerfile exists`);
  }
  const hc = services.callbridge?.healthcheck?.test;
  assert.ok(Array.isArray(hc) && hc.join(' ').includes('/health'), 'callbridge: healthcheck on /health');
  const imageCheck = readDockerfile('Dockerfile')
    .find((i) => i.keyword === 'HEALTHCHECK')
    ?.args.replace(/^.*?CMD\s+/, '');
  assert.deepEqual(hc, ['CMD', ...(JSON.parse(imageCheck ?? '[]') as string[])], 'the same check as the image');
  assert.match(JSON.stringify(services.freeswitch?.healthcheck?.test), /freeswitch-healthcheck/);
});

test('callbridge depends on freeswitch', () => {
  const deps = services.callbridge?.depends_on;
  const names = Array.isArray(deps) ? deps : Object.keys(deps ?? {});
  assert.ok(names.includes('freeswitch'));
});

test('the playback volume is shared at the paths the code and FreeSWITCH use', () => {
  assert.ok(compose.volumes && 'playback' in compose.volumes, 'top-level volume playback');
  const cb = mounts(services.callbridge!).find((m) => m.source === 'playback');
  const fs = mounts(services.freeswitch!).find((m) => m.source === 'playback');
  assert.ok(cb && fs, 'mounted in both services');
  assert.equal(cb.target, env.get('PLAYBACK_DIR'), 'callbridge writes to PLAYBACK_DIR');
  assert.equal(
    fs.target,
    env.get('PLAYBACK_DIR_FREESWITCH') || env.get('PLAYBACK_DIR'),
    'FreeSWITCH plays from PLAYBACK_DIR_FREESWITCH (= PLAYBACK_DIR when empty)',
  );
  assert.equal(cb.readOnly, false, 'callbridge writes and deletes');
  assert.equal(fs.readOnly, true, 'FreeSWITCH only reads');
});

test('the recordings volume is on disk and shared at the paths the code and FreeSWITCH use', () => {
  assert.ok(compose.volumes && 'recordings' in compose.volumes, 'top-level volume recordings');
  const options = JSON.stringify(compose.volumes.recordings ?? {});
  assert.doesNotMatch(options, /tmpfs/, 'recordings are kept with call history: not in memory');
  const cb = mounts(services.callbridge!).find((m) => m.source === 'recordings');
  const fs = mounts(services.freeswitch!).find((m) => m.source === 'recordings');
  assert.ok(cb && fs, 'mounted in both services');
  assert.equal(cb.target, env.get('RECORDING_DIR'), 'callbridge reads RECORDING_DIR');
  assert.equal(
    fs.target,
    env.get('RECORDING_DIR_FREESWITCH') || env.get('RECORDING_DIR'),
    'FreeSWITCH writes to RECORDING_DIR_FREESWITCH (= RECORDING_DIR when empty)',
  );
  assert.equal(cb.readOnly, false, 'callbridge deletes');
  assert.equal(fs.readOnly, false, 'FreeSWITCH writes');
  for (const file of ['Dockerfile', 'freeswitch/Dockerfile']) {
    assert.match(
      read(file),
      /install -d -o 999 -g (1000|node) -m 2775 \/var\/lib\/callbridge\/recordings/,
      `${file}: the mount point is FreeSWITCH's, with callbridge's group able to delete`,
    );
  }
});

test('under host networking the addresses line up', () => {
  const cb = environment(services.callbridge!);
  // Empty CALLBRIDGE_WS_URL: callbridge derives ws://127.0.0.1:<HTTP_PORT>.
  const ws = new URL(cb.get('CALLBRIDGE_WS_URL') || `ws://127.0.0.1:${cb.get('HTTP_PORT')}`);
  assert.match(ws.protocol, /^wss?:$/);
  assert.doesNotMatch(ws.hostname, /_/);
  assert.equal(
    ws.port || (ws.protocol === 'wss:' ? '443' : '80'),
    cb.get('HTTP_PORT'),
    'FreeSWITCH streams to the port callbridge listens on',
  );
  const httpHost = cb.get('HTTP_HOST')!;
  assert.ok(['127.0.0.1', '0.0.0.0'].includes(httpHost), `HTTP_HOST ${httpHost} is reachable on loopback`);
  assert.equal(httpHost, '127.0.0.1', 'the stack keeps the API and media socket off the network by default');
  assert.equal(ws.hostname, '127.0.0.1');
  const listen = env.get('FREESWITCH_ESL_LISTEN_IP');
  assert.ok(
    listen === cb.get('FREESWITCH_ESL_HOST') || listen === '0.0.0.0',
    'callbridge connects where FreeSWITCH listens',
  );
  assert.equal(cb.get('FREESWITCH_ESL_PORT'), env.get('FREESWITCH_ESL_PORT'));
});

test('every variable compose interpolates is documented in .env.example', () => {
  for (const name of interpolationNames(text))
    assert.ok(env.has(name), `${name} is used in docker-compose.yml but not in .env.example`);
});

test('each service gets exactly the settings it reads: FreeSWITCH no vendor keys, callbridge no trunk credentials', () => {
  const fsNames = Object.keys((services.freeswitch?.environment ?? {}) as Record<string, string>);
  const fsReads = new Set(loadDocument(envExampleMap()).pre.envRead);
  for (const script of ['freeswitch/healthcheck.sh', 'freeswitch/docker-entrypoint.sh']) {
    for (const m of read(script).matchAll(/\$\{?([A-Z][A-Z0-9_]+)/g))
      if (/^(FREESWITCH|SIP|RTP|BROWSER_SIP)_/.test(m[1]!)) fsReads.add(m[1]!);
  }
  assert.deepEqual(
    [...fsNames].sort(),
    [...fsReads].sort(),
    'FreeSWITCH: what conf/vars.xml, the entrypoint and the healthcheck read',
  );
  for (const n of fsNames) {
    assert.match(n, /^(FREESWITCH|SIP|RTP|BROWSER_SIP)_/, `${n} is not FreeSWITCH's`);
    assert.ok(!/(API_KEY|TOKEN|SECRET)$/.test(n), `${n}: no vendor or API secret in the FreeSWITCH container`);
  }

  const cbNames = Object.keys((services.callbridge?.environment ?? {}) as Record<string, string>);
  assert.deepEqual([...cbNames].sort(), [...CONFIG_VARIABLES].sort(), 'callbridge: exactly what src/config.ts reads');
  assert.ok(!cbNames.some((n) => n.startsWith('SIP_GATEWAY_')), 'the trunk credentials stay with FreeSWITCH');
});

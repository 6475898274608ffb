import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FS_DIR, ROOT, copySources, read, readDockerfile, stages, type Instruction } from './support.ts';

const fsDockerfile = readDockerfile(join(FS_DIR, 'Dockerfile'));
const cbDockerfile = readDockerfile(join(ROOT, 'Dockerfile'));

function args(instrs: Instruction[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const i of instrs.filter((x) => x.keyword === 'ARG')) {
    const [name, value = ''] = i.args.split(/=(.*)/s);
    out.set(name!, value);
  }
  return out;
}

function jsonForm(instrs: Instruction[], keyword: string): string[] {
  const i = instrs.filter((x) => x.keyword === keyword).at(-1);
  assert.ok(i, `${keyword} present`);
  return JSON.parse(i.args) as string[];
}

/** `.dockerignore` of the form used here: `*`, then `!path` exceptions. */
function admittedByDockerignore(path: string): boolean {
  const rules = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  let admitted = true;
  for (const rule of rules) {
    const negate = rule.startsWith('!');
    const pattern = (negate ? rule.slice(1) : rule).replace(/\/$/, '');
    if (pattern === '*' || pattern === path || path.startsWith(`${pattern}/`)) admitted = negate;
  }
  return admitted;
}

test('every COPY source exists in its build context', () => {
  for (const [context, instrs] of [
    [FS_DIR, fsDockerfile],
    [ROOT, cbDockerfile],
  ] as const) {
    const copies = instrs.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    assert.ok(copies.length > 0);
    for (const c of copies)
      for (const src of copySources(c))
        assert.ok(existsSync(join(context, src)), `${context}/Dockerfile:${c.line}: ${src} does not exist`);
  }
  for (const c of cbDockerfile.filter((i) => i.keyword === 'COPY')) {
    for (const src of copySources(c))
      assert.ok(admittedByDockerignore(src.replace(/^\.\//, '')), `${src} is excluded by .dockerignore`);
  }
  assert.ok(!admittedByDockerignore('.env'), '.env (secrets) stays out of the build context');
  assert.ok(!admittedByDockerignore('node_modules'));
});

test('the FreeSWITCH image: pinned sources, the known module set, TLS for mod_audio_stream', () => {
  const a = args(fsDockerfile);
  assert.equal(a.get('DEBIAN_RELEASE'), 'bookworm');
  assert.equal(a.get('FREESWITCH_TAG'), 'v1.10.12');
  assert.match(a.get('FREESWITCH_COMMIT_PREFIX') ?? '', /^[0-9a-f]{7,40}$/);
  assert.equal(a.get('SOFIA_SIP_TAG'), 'v1.13.17');
  assert.match(a.get('SPANDSP_COMMIT') ?? '', /^[0-9a-f]{40}$/, 'spandsp has no release tags: a full commit id');
  assert.match(a.get('MOD_AUDIO_STREAM_TAG') ?? '', /^v\d+\.\d+\.\d+$/);
  assert.match(a.get('MOD_AUDIO_STREAM_COMMIT_PREFIX') ?? '', /^[0-9a-f]{7,40}$/);
  const run = fsDockerfile
    .filter((i) => i.keyword === 'RUN')
    .map((i) => i.args)
    .join('\n');
  for (const flag of ['--disable-libyuv', '--disable-libvpx', '-DUSE_TLS=ON', 'git submodule update --init'])
    assert.ok(run.includes(flag), flag);
  assert.doesNotMatch(
    run,
    /signalwire\.com|SIGNALWIRE_TOKEN|freeswitch\.signalwire/i,
    'no SignalWire package repository',
  );
  assert.ok(
    fsDockerfile.some(
      (i) => i.keyword === 'COPY' && i.args.startsWith('build-modules.conf') && i.args.endsWith('/modules.conf'),
    ),
    'the module list replaces modules.conf',
  );
});

test('the FreeSWITCH image runs only what runs, in the foreground, as a non-root user', () => {
  const all = stages(fsDockerfile);
  assert.ok(all.length >= 2, 'multi-stage');
  const final = all.at(-1)!;
  assert.match(final[0]!.args, /^debian:\$\{DEBIAN_RELEASE\}-slim$/);
  const copiesFromBuild = final.filter((i) => i.keyword === 'COPY' && i.args.includes('--from='));
  assert.deepEqual(
    copiesFromBuild.map((i) => i.args),
    ['--from=build /out/ /'],
    'one staged tree from the build stage',
  );
  const user = final.filter((i) => i.keyword === 'USER').at(-1)?.args;
  assert.ok(user && !['root', '0'].includes(user), 'non-root');
  const full = jsonForm(final, 'CMD');
  // mod_console writes with stdio and never flushes: without line buffering `docker logs` lags
  // in 4 KiB blocks and stops mid-line.
  assert.deepEqual(full.slice(0, 2), ['stdbuf', '-oL'], 'stdout line-buffered');
  const cmd = full.slice(2);
  assert.equal(cmd[0], 'freeswitch');
  assert.ok(cmd.includes('-nf') || cmd.includes('-c'), 'foreground');
  assert.ok(!cmd.includes('-nc') && !cmd.includes('-ncwait'), '-nc daemonizes or hides the log');
  assert.ok(final.some((i) => i.keyword === 'HEALTHCHECK'));
  const exposed = final.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  for (const p of exposed) {
    assert.doesNotMatch(p, /-/, `EXPOSE ${p}: docker run -P would publish every port of a range`);
    assert.notEqual(p.split('/')[0], '8021', 'the event socket is never published');
  }
  assert.deepEqual(jsonForm(final, 'ENTRYPOINT').slice(-1), ['/usr/local/bin/docker-entrypoint.sh']);
});

test('the scripts the FreeSWITCH image runs exist, are executable and match the configuration', () => {
  for (const f of ['docker-entrypoint.sh', 'healthcheck.sh']) {
    const mode = statSync(join(FS_DIR, f)).mode;
    assert.ok(mode & 0o111, `${f} is executable`);
    assert.match(read(join(FS_DIR, f)), /^#!\/bin\/sh\n/);
  }
  const health = read(join(FS_DIR, 'healthcheck.sh'));
  const profile = /<profile name="([^"]+)"/.exec(read(join(FS_DIR, 'conf/sip_profiles/callbridge.xml')))?.[1];
  assert.ok(
    profile && health.includes(`[[:space:]]*${profile}[[:space:]]+profile`),
    'the healthcheck looks for the profile that exists',
  );
  const gatewayDefault = /data="sip_gateway_name=([^"$]+)"/.exec(read(join(FS_DIR, 'conf/vars.xml')))?.[1];
  assert.ok(gatewayDefault && health.includes(`SIP_GATEWAY_NAME:-${gatewayDefault}`), 'same default gateway name');
  // fs_cli takes the ESL password from /etc/fs_cli.conf (written by the entrypoint, mode 0600),
  // never from its argv, which every process can read in ps.
  assert.doesNotMatch(health, /fs_cli[^\n]*\s-(p|-password)\b/, 'no password on the fs_cli command line');
  assert.doesNotMatch(health, /PASSWORD/, 'the healthcheck does not handle the password at all');
  const entryText = read(join(FS_DIR, 'docker-entrypoint.sh'));
  const confFile = /ln -s (\S+) \/etc\/fs_cli\.conf/.exec(fsDockerfile.map((i) => i.args).join('\n'))?.[1];
  assert.ok(confFile, '/etc/fs_cli.conf points to the file the entrypoint writes');
  assert.ok(entryText.includes(`>${confFile}`), 'the entrypoint writes it');
  assert.match(entryText, /umask 077/, 'readable by the freeswitch user only');
  assert.match(entryText, /password => %s/, 'with the ESL password');
  const entry = entryText;
  assert.match(
    entry,
    /FREESWITCH\\\|SIP\\\|RTP\\\|BROWSER_SIP/,
    'blank FREESWITCH_/SIP_/RTP_/BROWSER_SIP_ variables become unset',
  );
  for (const m of read(join(FS_DIR, 'conf/vars.xml')).matchAll(/=\$([A-Z][A-Z0-9_]*)"/g)) {
    assert.match(
      m[1]!,
      /^(FREESWITCH|SIP|RTP|BROWSER_SIP)_/,
      `${m[1]}: the entrypoint only cleans FREESWITCH_, SIP_, RTP_ and BROWSER_SIP_ variables`,
    );
  }
});

test('the callbridge image: Node 22 slim, built then production dependencies only, non-root, /health', () => {
  const a = args(cbDockerfile);
  assert.equal(a.get('NODE_IMAGE'), 'node:22-bookworm-slim');
  const all = stages(cbDockerfile);
  assert.ok(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile syntax, not a template
    all.every((s) => s[0]!.args.startsWith('${NODE_IMAGE}')),
    'every stage on the official Node 22 image',
  );
  const runs = (s: Instruction[]) => s.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  assert.ok(
    all.some((s) => runs(s).includes('npm ci') && runs(s).includes('npm run build')),
    'a build stage: npm ci + npm run build',
  );
  assert.ok(
    all.some((s) => runs(s).some((r) => r.startsWith('npm ci --omit=dev'))),
    'production dependencies only',
  );
  for (const s of all) {
    const copiesLock = s.some((i) => i.keyword === 'COPY' && i.args.includes('package-lock.json'));
    if (copiesLock)
      assert.ok(
        s.some((i) => i.keyword === 'COPY' && i.args.includes('.npmrc')),
        '.npmrc (onnxruntime-node-install=skip) goes with every npm ci',
      );
  }
  const final = all.at(-1)!;
  assert.ok(
    !final.some((i) => i.keyword === 'COPY' && /\bsrc\b/.test(i.args)),
    'no TypeScript sources in the final image',
  );
  const user = final.filter((i) => i.keyword === 'USER').at(-1)?.args;
  assert.ok(user && !['root', '0'].includes(user), 'non-root');
  assert.deepEqual(jsonForm(final, 'CMD'), ['node', 'dist/main.js']);
  const hc = final.find((i) => i.keyword === 'HEALTHCHECK');
  assert.ok(hc?.args.includes('/health'));

  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, 'node dist/main.js', 'the image runs what npm start runs');
  assert.match(pkg.scripts.build ?? '', /^tsc /);
});

test('the callbridge image builds the web console and ships it; the install hook does not need the sources', () => {
  const all = stages(cbDockerfile);
  const build = all.find((s) => s.some((i) => i.keyword === 'RUN' && i.args === 'npm run build'))!;
  const before = (pred: (i: Instruction) => boolean) => build.findIndex(pred);
  const ci = before((i) => i.keyword === 'RUN' && i.args === 'npm ci');
  const runBuild = before((i) => i.keyword === 'RUN' && i.args === 'npm run build');
  const copiesScript = before((i) => i.keyword === 'COPY' && i.args.includes('scripts/build-console.ts'));
  const copiesSrc = before((i) => i.keyword === 'COPY' && /^src\b/.test(i.args));
  assert.ok(ci < copiesSrc && ci < copiesScript, 'npm ci runs before the sources are copied (its layer is cached)');
  assert.ok(copiesScript >= 0 && copiesScript < runBuild, 'the console build script is there for npm run build');
  const final = all.at(-1)!;
  assert.ok(
    final.some((i) => i.keyword === 'COPY' && /--from=build \/app\/dist \.\/dist$/.test(i.args)),
    'dist (with dist/console) reaches the final image',
  );

  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.build ?? '', /build:console/, 'npm run build builds the console too');
  assert.equal(pkg.scripts['build:console'], 'node scripts/build-console.ts');
  // npm ci in the dependency layers runs the install hook with package.json alone: it must skip, not fail.
  const hook = pkg.scripts.postinstall ?? '';
  assert.match(hook, /existsSync\('scripts\/build-console\.ts'\)/, 'the install hook checks for the build script');
  assert.match(hook, /--if-possible/, 'and builds only when the console sources and esbuild are there');
  const dir = mkdtempSync(join(tmpdir(), 'cb-hook-'));
  try {
    const out = execFileSync('sh', ['-c', hook], {
      cwd: dir,
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    assert.match(out, /console not built: scripts\/build-console\.ts is not here/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

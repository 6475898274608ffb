/**
 * The FreeSWITCH image's build, checked without a Docker engine: the module list as FreeSWITCH's make
 * reads it, and every path the Dockerfile uses against the layout its configure flags produce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  FS_DIR,
  freeswitchLayout,
  freeswitchModuleDirs,
  read,
  readDockerfile,
  readModuleList,
  stages,
  type Instruction,
} from './support.ts';

const MODULE_DIRS = freeswitchModuleDirs();
const dockerfile = readDockerfile(join(FS_DIR, 'Dockerfile'));
const [buildStage, finalStage] = [stages(dockerfile)[0]!, stages(dockerfile).at(-1)!];

/** The RUN that configures FreeSWITCH itself (not sofia-sip or spandsp, which also run ./configure). */
function freeswitchConfigure(): { instr: Instruction; args: string[] } {
  const instr = buildStage.find(
    (i) => i.keyword === 'RUN' && /\bcd freeswitch\b/.test(i.args) && i.args.includes('./configure'),
  );
  assert.ok(instr, 'a RUN that configures FreeSWITCH');
  const after = instr.args.slice(instr.args.indexOf('./configure') + './configure'.length);
  const args = after
    .split('&&')[0]!
    .split(/\s+/)
    .filter((w) => w.startsWith('--'));
  return { instr, args };
}

test('the module list: every entry FreeSWITCH builds is a module directory of the pinned tree', () => {
  const text = read(join(FS_DIR, 'build-modules.conf'));
  const list = readModuleList(text);
  assert.ok(list.enabled.length >= 10, 'modules to build');
  for (const e of list.enabled) {
    assert.match(
      e.text,
      /^[a-z0-9_]+\/mod_[a-z0-9_]+$/,
      `build-modules.conf:${e.line}: "${e.text}" is not category/mod_name`,
    );
    assert.ok(
      MODULE_DIRS.has(e.text),
      `build-modules.conf:${e.line}: ${e.text} is not a module directory of FreeSWITCH 1.10 (src/mod/${e.text})`,
    );
  }
  assert.equal(new Set(list.enabled.map((e) => e.name)).size, list.enabled.length, 'no module twice');
});

test('the module list: comments start with ##, the only marker FreeSWITCH ignores', () => {
  const list = readModuleList(read(join(FS_DIR, 'build-modules.conf')));
  // A single # makes the rest of the line a disabled module name: make in src/mod then gets
  // targets such as "checks);-all" and stops with "missing separator".
  for (const d of list.disabled) {
    assert.ok(
      /^#[a-z0-9_]+\/mod_[a-z0-9_]+$/.test(d.text) && MODULE_DIRS.has(d.text.slice(1)),
      `build-modules.conf:${d.line}: "${d.text}" is read as the disabled module "${d.name}": start comments with ##`,
    );
  }
  for (const c of list.comments)
    assert.match(
      c.text,
      /^##/,
      `build-modules.conf:${c.line}: a line with ## anywhere is ignored whole (a module before it is not built)`,
    );
});

test('the module list parser reads FreeSWITCH its own way', () => {
  const list = readModuleList(
    '## comment\n# free text (copied over)\n#codecs/mod_opus\nloggers/mod_console\nformats/mod_sndfile ## note\n\n',
  );
  assert.deepEqual(
    list.enabled.map((e) => e.name),
    ['mod_console'],
  );
  assert.deepEqual(
    list.disabled.map((e) => e.name),
    ['# free text (copied over)', 'mod_opus'],
  );
  assert.equal(list.comments.length, 2);
});

test('configure: an explicit --prefix comes with --disable-fhs', () => {
  const { args } = freeswitchConfigure();
  const layout = freeswitchLayout(args);
  assert.ok(
    args.some((a) => a.startsWith('--prefix=')),
    'configure names its prefix',
  );
  assert.equal(
    layout.fhs,
    false,
    `configure ${args.join(' ')} installs in the FHS layout (conf in ${layout.conf}, modules in ${layout.mod}): add --disable-fhs`,
  );
});

test('configure layout emulation: the FHS switch as configure.ac has it', () => {
  assert.equal(freeswitchLayout(['--prefix=/opt/fs']).mod, '/opt/fs/lib/freeswitch/mod');
  assert.equal(freeswitchLayout(['--prefix=/opt/fs']).conf, '/opt/fs/etc/freeswitch');
  assert.equal(freeswitchLayout(['--prefix=/opt/fs', '--disable-fhs']).mod, '/opt/fs/mod');
  assert.equal(freeswitchLayout([]).conf, '/usr/local/freeswitch/conf', 'no --prefix: the flat layout');
});

test('every FreeSWITCH path the Dockerfile uses matches the layout configure produces', () => {
  const { instr, args } = freeswitchConfigure();
  const layout = freeswitchLayout(args);
  const later = dockerfile.filter((i) => i.line > instr.line);
  const text = later.map((i) => i.args).join('\n');

  // mod_audio_stream installs into FreeSWITCH's module directory (from freeswitch.pc); the TLS check reads it there.
  const ldd = /ldd (\S+mod_audio_stream\.so)/.exec(text)?.[1];
  assert.equal(ldd, `${layout.mod}/mod_audio_stream.so`, 'the ldd check looks where the module is installed');

  // Staging copies exactly the directories the binary was built to use.
  const staging = later.find((i) => i.keyword === 'RUN' && i.args.includes('/out/'));
  assert.ok(staging, 'a staging RUN');
  for (const dir of [layout.bin, layout.mod])
    assert.match(staging.args, new RegExp(`cp -a [^&]*${dir}(\\s|$)`), `staging copies ${dir}`);
  assert.ok(staging.args.includes(`${layout.lib}/libfreeswitch.so`), `staging copies ${layout.lib}/libfreeswitch.so*`);

  // Every path under the prefix names a directory of this layout (an FHS path would not exist, and the other way round).
  const known = new Set([
    'bin',
    'lib',
    'include',
    'mod',
    'conf',
    'log',
    'db',
    'run',
    'tmp',
    'sounds',
    'scripts',
    'grammar',
    'htdocs',
    'fonts',
    'images',
    'recordings',
    'storage',
    'cache',
    'certs',
  ]);
  for (const dir of [layout.mod, layout.conf, layout.log, layout.db, layout.run]) {
    assert.ok(dir.startsWith(`${layout.prefix}/`));
    assert.ok(known.has(dir.slice(layout.prefix.length + 1)), `${dir}: the image prepares the flat layout only`);
  }
  for (const m of text.matchAll(new RegExp(`${layout.prefix}/([^/\\s:'"]+)`, 'g'))) {
    assert.ok(known.has(m[1]!), `${layout.prefix}/${m[1]} is not a directory of the layout configure produces`);
  }

  // The runtime image: configuration where the binary looks, writable log/db/run directories.
  const copyConf = finalStage.find((i) => i.keyword === 'COPY' && /^conf\/?\s/.test(i.args));
  assert.ok(copyConf, 'COPY conf/');
  assert.equal(
    copyConf.args.split(/\s+/).at(-1)!.replace(/\/$/, ''),
    layout.conf,
    'the configuration lands in the conf dir FreeSWITCH was built with',
  );
  const owned = finalStage.find((i) => i.keyword === 'RUN' && i.args.includes('install -d -o freeswitch'));
  assert.ok(owned, 'a RUN creates the FreeSWITCH-owned directories');
  assert.ok(owned.args.includes(`cd ${layout.prefix}`), 'FreeSWITCH-owned directories are created under the prefix');
  const ownedWords = /install -d -o freeswitch -g freeswitch ([^&]*)/.exec(owned.args)![1]!.split(/\s+/);
  for (const dir of [layout.log, layout.db, layout.run])
    assert.ok(ownedWords.includes(dir.slice(layout.prefix.length + 1)), `${dir} is created and writable by FreeSWITCH`);
});

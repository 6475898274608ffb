/**
 * Shared helpers of the deployment tests: the repository's paths, `.env.example` as a map, a Dockerfile
 * reader, IPv4 CIDR matching, and an emulation of FreeSWITCH's XML preprocessor (switch_xml.c `preprocess`)
 * so that the configuration is checked the way FreeSWITCH will read it, not the way it looks.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FS_DIR = join(ROOT, 'freeswitch');
export const CONF_DIR = join(FS_DIR, 'conf');

export function read(path: string): string {
  return readFileSync(isAbsolute(path) ? path : join(ROOT, path), 'utf8');
}

// ---- .env.example ----------------------------------------------------------------------------------

export interface EnvEntry {
  name: string;
  value: string;
  /** 1-based line number. */
  line: number;
  /** The comment line right above, without `#`, or undefined when there is none. */
  comment: string | undefined;
}

/** Every `NAME=value` line of `.env.example`, in order. Throws on a line that is neither that, a comment nor blank. */
export function readEnvExample(): EnvEntry[] {
  const lines = read('.env.example').split('\n');
  const entries: EnvEntry[] = [];
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m) throw new Error(`.env.example line ${i + 1} is not NAME=value: ${line}`);
    const above = i > 0 ? lines[i - 1]!.trim() : '';
    entries.push({
      name: m[1]!,
      value: m[2]!,
      line: i + 1,
      comment: above.startsWith('#') ? above.slice(1).trim() : undefined,
    });
  });
  return entries;
}

/** `.env.example` as the FreeSWITCH container sees it after its entrypoint: empty values unset. */
export function envExampleMap(overrides: Record<string, string> = {}): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of readEnvExample()) env.set(e.name, e.value);
  for (const [k, v] of Object.entries(overrides)) env.set(k, v);
  for (const [k, v] of env) if (v === '') env.delete(k);
  return env;
}

/** Compose-style interpolation: `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `$$`. */
export function interpolate(text: string, env: Map<string, string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g,
    (whole, name: string | undefined, op: string | undefined, dflt: string | undefined) => {
      if (whole === '$$') return '$';
      const v = env.get(name!);
      if (op === ':-') return v === undefined || v === '' ? (dflt ?? '') : v;
      if (op === '-') return v === undefined ? (dflt ?? '') : v;
      return v ?? '';
    },
  );
}

/** Names used in compose-style `${NAME...}` references. */
export function interpolationNames(text: string): string[] {
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
}

// ---- IPv4 ------------------------------------------------------------------------------------------

function ipv4(addr: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function isIpv4(addr: string): boolean {
  return ipv4(addr) !== undefined;
}

/** Whether `addr` is inside one of the comma-separated CIDRs (FreeSWITCH accepts comma lists in an ACL node). */
export function cidrListContains(cidrs: string, addr: string): boolean {
  const ip = ipv4(addr);
  if (ip === undefined) throw new Error(`not an IPv4 address: ${addr}`);
  return cidrs.split(',').some((cidr) => {
    const [net, bitsText] = cidr.trim().split('/');
    const base = ipv4(net ?? '');
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    if (base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`bad CIDR: ${cidr}`);
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return (ip & mask) >>> 0 === (base & mask) >>> 0;
  });
}

// ---- Dockerfiles -----------------------------------------------------------------------------------

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions of a Dockerfile: comments dropped, continuation lines joined. */
export function readDockerfile(path: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  read(path)
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim();
      if (pending === '' && (line === '' || line.startsWith('#'))) return;
      if (pending !== '' && line.startsWith('#')) return;
      if (pending === '') start = i + 1;
      if (line.endsWith('\\')) {
        pending += `${line.slice(0, -1)} `;
        return;
      }
      const full = (pending + line).trim();
      pending = '';
      const m = /^(\S+)\s*(.*)$/.exec(full)!;
      out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: start });
    });
  return out;
}

/** Sources of a `COPY`/`ADD` without `--from`: paths relative to the build context. */
export function copySources(instr: Instruction): string[] {
  const words = instr.args.split(/\s+/).filter((w) => w !== '');
  if (words.some((w) => w.startsWith('--from'))) return [];
  const paths = words.filter((w) => !w.startsWith('--'));
  if (paths[0]?.startsWith('<<')) return [];
  return paths.slice(0, -1);
}

/** The stages of a Dockerfile: instructions split at each FROM. */
export function stages(instrs: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of instrs) {
    if (i.keyword === 'FROM') out.push([]);
    out.at(-1)?.push(i);
  }
  return out;
}

// ---- FreeSWITCH's XML preprocessor ------------------------------------------------------------------

/** Variables FreeSWITCH defines before it reads the configuration (a few, with plausible values). */
export const BUILTIN_VARS: Readonly<Record<string, string>> = {
  hostname: 'callbridge-host',
  local_ip_v4: '192.0.2.10',
  local_mask_v4: '255.255.255.0',
  base_dir: '/usr/local/freeswitch',
  conf_dir: '/usr/local/freeswitch/conf',
  log_dir: '/usr/local/freeswitch/log',
  temp_dir: '/usr/local/freeswitch/tmp',
  sounds_dir: '/usr/local/freeswitch/sounds',
};

export interface Directive {
  cmd: string;
  data: string;
  file: string;
  line: number;
}

export interface Preprocessed {
  /** What the XML parser gets. */
  text: string;
  /** Global variables after preprocessing. */
  vars: Map<string, string>;
  directives: Directive[];
  /** Every file read, root first. */
  files: string[];
  /** Include patterns that matched no file (FreeSWITCH logs an error and goes on). */
  missingIncludes: string[];
  /** `$${name}` references to variables not defined at that point (they expand to nothing). */
  undefinedRefs: { name: string; file: string; line: number }[];
  /** Environment variables the configuration reads (env-set, and `$NAME` in exec-set commands). */
  envRead: Set<string>;
}

/**
 * Only the shell commands this configuration uses in exec-set, evaluated like /bin/sh would. Anything else
 * fails the test, so a new exec-set gets a matching line here (and a thought about what it does).
 */
function runExecSet(command: string, env: Map<string, string>, envRead: Set<string>): string {
  const m = /^printf %s \$\{([A-Z][A-Z0-9_]*):\+([A-Za-z0-9_-]+)\}$/.exec(command.trim());
  if (!m) throw new Error(`the preprocessor emulation does not know this exec-set command: ${command}`);
  envRead.add(m[1]!);
  return (env.get(m[1]!) ?? '') !== '' ? m[2]! : '';
}

function expandVars(line: string, vars: Map<string, string>, onUndefined: (name: string) => void): string {
  return line.replace(/\$\$\{([^}]*)\}/g, (_all, name: string) => {
    const v = vars.get(name);
    if (v === undefined) onUndefined(name);
    return v ?? '';
  });
}

function globFiles(pattern: string): string[] {
  const dir = dirname(pattern);
  const base = pattern.slice(dir.length + 1);
  if (dir.includes('*')) throw new Error(`wildcards only in the last path component: ${pattern}`);
  if (!base.includes('*')) return existsSync(pattern) ? [pattern] : [];
  if (!existsSync(dir)) return [];
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
  return readdirSync(dir)
    .filter((f) => re.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Runs freeswitch.xml through the same line-based rules as FreeSWITCH 1.10: `$${var}` is expanded on each
 * line first; lines holding `<include>`, `</include>` or `<?` are dropped; a line naming the X-PRE-PROCESS tag
 * is a directive (and dropped) when the tag follows `<`, and dropped anyway otherwise; `set`, `env-set`,
 * `exec-set` and `include` (glob, relative to the including file's directory) are carried out.
 * `$${conf_dir}` resolves to the repository's freeswitch/conf.
 */
export function preprocess(env: Map<string, string>, root = join(CONF_DIR, 'freeswitch.xml')): Preprocessed {
  const vars = new Map<string, string>(Object.entries(BUILTIN_VARS));
  vars.set('conf_dir', CONF_DIR);
  const result: Preprocessed = {
    text: '',
    vars,
    directives: [],
    files: [],
    missingIncludes: [],
    undefinedRefs: [],
    envRead: new Set(),
  };
  const out: string[] = [];

  const processFile = (file: string, depth: number): void => {
    if (depth > 100) throw new Error(`include depth over 100 at ${file}`);
    result.files.push(file);
    const cwd = dirname(file);
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((raw, i) => {
        const lineNo = i + 1;
        const line = expandVars(raw, vars, (name) => result.undefinedRefs.push({ name, file, line: lineNo }));
        if (raw.includes('<include>') || raw.includes('</include>') || raw.includes('<?')) return;
        if (line.includes('<!--#'))
          throw new Error(`${file}:${lineNo}: <!--# comments are preprocessor commands; not used here`);
        const at = line.toLowerCase().indexOf('x-pre-process');
        if (at < 0) {
          out.push(line);
          return;
        }
        if (line[at - 1] !== '<') return;
        const m = /cmd\s*=\s*"([^"]*)"\s+data\s*=\s*"([^"]*)"/i.exec(line.slice(at));
        if (!m) throw new Error(`${file}:${lineNo}: directive without cmd and data: ${line.trim()}`);
        const cmd = m[1]!.toLowerCase();
        const data = m[2]!;
        result.directives.push({ cmd, data, file, line: lineNo });
        const eq = data.indexOf('=');
        const name = eq < 0 ? data : data.slice(0, eq).trim();
        const value = eq < 0 ? undefined : data.slice(eq + 1).trim();
        switch (cmd) {
          case 'set':
            if (value !== undefined) vars.set(name, value);
            break;
          case 'env-set': {
            // switch_xml.c: exactly `name=$ENVVAR` (no spaces); an unset variable leaves the old value.
            const envName = eq < 0 ? '' : data.slice(eq + 1);
            if (!/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(envName) || name !== data.slice(0, eq)) {
              throw new Error(`${file}:${lineNo}: env-set needs name=$ENVVAR: ${data}`);
            }
            result.envRead.add(envName.slice(1));
            const v = env.get(envName.slice(1));
            if (v !== undefined) vars.set(name, v);
            break;
          }
          case 'exec-set': {
            if (value === undefined) throw new Error(`${file}:${lineNo}: exec-set needs name=command`);
            const output = runExecSet(value, env, result.envRead).replace(/[ \n]+$/, '');
            if (output !== '') vars.set(name, output);
            break;
          }
          case 'include': {
            const pattern = isAbsolute(data) ? data : join(cwd, data);
            const files = globFiles(pattern);
            if (files.length === 0) result.missingIncludes.push(`${pattern} (from ${file}:${lineNo})`);
            for (const f of files) processFile(f, depth + 1);
            break;
          }
          default:
            throw new Error(`${file}:${lineNo}: unexpected preprocessor command ${cmd}`);
        }
      });
  };

  processFile(root, 0);
  result.text = out.join('\n');
  return result;
}

// ---- The assembled XML -----------------------------------------------------------------------------

/** An element: attributes under `@_name`, children as arrays under their tag names. */
export type XmlNode = { [key: string]: XmlNode[] | string | undefined };

export function parseXml(text: string): XmlNode {
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new Error(`not well-formed XML: ${valid.err.msg} at line ${valid.err.line}`);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
  });
  return parser.parse(text) as XmlNode;
}

export function children(node: XmlNode | undefined, tag: string): XmlNode[] {
  const v = node?.[tag];
  return Array.isArray(v) ? v : [];
}

export function attr(node: XmlNode | undefined, name: string): string | undefined {
  const v = node?.[`@_${name}`];
  return typeof v === 'string' ? v : undefined;
}

/** `<param name value>` children of an element as a map (the form every FreeSWITCH module uses). */
export function params(node: XmlNode | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of children(node, 'param')) out.set(attr(p, 'name') ?? '', attr(p, 'value') ?? '');
  return out;
}

/** The assembled document: `document` element of the preprocessed configuration. */
export function loadDocument(env: Map<string, string>): { doc: XmlNode; pre: Preprocessed } {
  const pre = preprocess(env);
  const root = parseXml(pre.text);
  const doc = children(root, 'document')[0];
  if (!doc) throw new Error('no <document> root');
  return { doc, pre };
}

export function section(doc: XmlNode, name: string): XmlNode {
  const s = children(doc, 'section').find((x) => attr(x, 'name') === name);
  if (!s) throw new Error(`no section ${name}`);
  return s;
}

/** A `<configuration name=...>` element of the configuration section. */
export function configuration(doc: XmlNode, name: string): XmlNode {
  const c = children(section(doc, 'configuration'), 'configuration').find((x) => attr(x, 'name') === name);
  if (!c) throw new Error(`no configuration ${name}`);
  return c;
}

// ---- FreeSWITCH's build -------------------------------------------------------------------------

/** `category/mod_name` directories of the pinned FreeSWITCH tree (fixtures/freeswitch-1.10-modules.txt). */
export function freeswitchModuleDirs(): Set<string> {
  return new Set(
    read(join(ROOT, 'test/deploy/fixtures/freeswitch-1.10-modules.txt'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('##')),
  );
}

export interface ModuleList {
  /** Lines without `#`: built (configure.ac CONF_MODULES: `grep -v "#"`, name after the last `/`). */
  enabled: { line: number; text: string; name: string }[];
  /** Lines with `#` but no `##`: disabled module names (CONF_DISABLED_MODULES: `grep "#" | grep -v "##"`). */
  disabled: { line: number; text: string; name: string }[];
  /** Lines containing `##`: the only lines FreeSWITCH ignores. */
  comments: { line: number; text: string }[];
}

/**
 * A modules.conf read the way FreeSWITCH 1.10's build reads it (configure.ac's CONF_MODULES and
 * CONF_DISABLED_MODULES feed src/mod/Makefile.am, which turns every name into a make target).
 * Blank lines drop out of the shell's word splitting.
 */
export function readModuleList(text: string): ModuleList {
  const out: ModuleList = { enabled: [], disabled: [], comments: [] };
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    const name = raw.replace(/^.*\//, '');
    if (!raw.includes('#')) out.enabled.push({ line, text: raw, name });
    else if (!raw.includes('##')) out.disabled.push({ line, text: raw, name });
    else out.comments.push({ line, text: raw });
  });
  return out;
}

export interface FreeswitchLayout {
  prefix: string;
  fhs: boolean;
  bin: string;
  lib: string;
  mod: string;
  conf: string;
  log: string;
  db: string;
  run: string;
  sounds: string;
}

/**
 * The directories FreeSWITCH 1.10's configure picks for the given arguments (configure.ac "Whether to
 * follow FHS"): FHS is on by default and only switched off by --disable-fhs or by giving no --prefix.
 * Only the options the Dockerfile may use are understood; anything else that moves a directory throws.
 */
export function freeswitchLayout(configureArgs: string[]): FreeswitchLayout {
  let prefix: string | undefined;
  let fhs = true;
  for (const a of configureArgs) {
    if (a.startsWith('--prefix=')) prefix = a.slice('--prefix='.length);
    else if (a === '--disable-fhs' || a === '--enable-fhs=no') fhs = false;
    else if (a === '--enable-fhs' || a === '--enable-fhs=yes') fhs = true;
    else if (
      /^--(with-(modinstdir|rundir|logfiledir|dbdir)|sysconfdir|localstatedir|libdir|bindir|exec-prefix)=/.test(a)
    ) {
      throw new Error(`the layout emulation does not know ${a}`);
    }
  }
  if (prefix === undefined) {
    prefix = '/usr/local/freeswitch';
    fhs = false;
  }
  const lib = `${prefix}/lib`;
  if (fhs) {
    const localstate = `${prefix}/var`;
    return {
      prefix,
      fhs,
      bin: `${prefix}/bin`,
      lib,
      mod: `${lib}/freeswitch/mod`,
      conf: `${prefix}/etc/freeswitch`,
      log: `${localstate}/log/freeswitch`,
      db: `${localstate}/lib/freeswitch/db`,
      run: `${localstate}/run/freeswitch`,
      sounds: `${prefix}/share/freeswitch/sounds`,
    };
  }
  return {
    prefix,
    fhs,
    bin: `${prefix}/bin`,
    lib,
    mod: `${prefix}/mod`,
    conf: `${prefix}/conf`,
    log: `${prefix}/log`,
    db: `${prefix}/db`,
    run: `${prefix}/run`,
    sounds: `${prefix}/sounds`,
  };
}

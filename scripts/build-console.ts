/**
 * Builds the web console (src/console) into dist/console: index.html and assets/app.js + app.css, with
 * everything bundled (JsSIP included), so the page needs nothing from the internet at run time.
 *
 *   node scripts/build-console.ts                 build (fails loudly)
 *   node scripts/build-console.ts --if-possible   npm's install hook: skip with a note when the sources or
 *                                                 esbuild are not there (production-only installs, Docker's
 *                                                 dependency layer)
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = `${ROOT}src/console/`;
export const CONSOLE_DIST = `${ROOT}dist/console/`;

export async function buildConsole(opts: { quiet?: boolean } = {}): Promise<void> {
  const esbuild = await import('esbuild');
  await rm(CONSOLE_DIST, { recursive: true, force: true });
  await mkdir(`${CONSOLE_DIST}assets`, { recursive: true });
  await esbuild.build({
    entryPoints: { app: `${SRC}main.ts` },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    // Current Chromium and Firefox, and the last two years of Safari.
    target: ['chrome120', 'firefox120', 'safari17'],
    minify: true,
    sourcemap: 'linked',
    outdir: `${CONSOLE_DIST}assets`,
    logLevel: opts.quiet ? 'warning' : 'info',
    legalComments: 'linked',
  });
  await esbuild.build({
    entryPoints: { app: `${SRC}styles.css` },
    bundle: true,
    minify: true,
    outdir: `${CONSOLE_DIST}assets`,
    logLevel: opts.quiet ? 'warning' : 'info',
  });
  await copyFile(`${SRC}index.html`, `${CONSOLE_DIST}index.html`);
}

async function canBuild(): Promise<string | undefined> {
  if (!existsSync(`${SRC}main.ts`)) return 'src/console is not here';
  try {
    await import('esbuild');
  } catch {
    return 'esbuild is not installed (a production-only install)';
  }
  return undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const why = process.argv.includes('--if-possible') ? await canBuild() : undefined;
  if (why) console.log(`console not built: ${why}`);
  else await buildConsole();
}

import { constants, existsSync } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { errorText, StartupError } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * PLAYBACK_DIR, created if need be. The default (/var/lib/...) is only writable for root or under compose;
 * anyone else running callbridge directly gets a per-user directory in memory instead, with a warning.
 */
export async function usablePlaybackDir(config: Config, logger: Logger): Promise<Config> {
  const problem = await unwritable(config.PLAYBACK_DIR);
  if (!problem) return config;
  const sameForFreeswitch = config.PLAYBACK_DIR_FREESWITCH === config.PLAYBACK_DIR;
  if (!config.PLAYBACK_DIR_DEFAULTED || !sameForFreeswitch) {
    throw new StartupError(
      `PLAYBACK_DIR=${config.PLAYBACK_DIR} cannot be used (${problem}): ` +
        'set PLAYBACK_DIR to a directory this user can write, ideally on tmpfs',
    );
  }
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = join(base, `callbridge-${process.getuid?.() ?? 'user'}`);
  const fallbackProblem = await unwritable(dir);
  if (fallbackProblem) {
    throw new StartupError(
      `PLAYBACK_DIR=${config.PLAYBACK_DIR} cannot be used (${problem}), ` +
        `nor ${dir} (${fallbackProblem}): set PLAYBACK_DIR`,
    );
  }
  logger.warn(
    { dir, default: config.PLAYBACK_DIR, reason: problem },
    'default PLAYBACK_DIR is not writable by this user: using a per-user directory ' +
      '(FreeSWITCH must read it: same machine, or set PLAYBACK_DIR/PLAYBACK_DIR_FREESWITCH)',
  );
  return { ...config, PLAYBACK_DIR: dir, PLAYBACK_DIR_FREESWITCH: dir };
}

/** Why `dir` cannot hold playback files (after trying to create it), or undefined when it can. */
async function unwritable(dir: string): Promise<string | undefined> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!code) return errorText(err);
    const denied = code === 'EACCES' || code === 'EPERM';
    return `${code}: ${denied ? 'permission denied' : errorText(err).replace(/^[A-Z]+: /, '')}`;
  }
}

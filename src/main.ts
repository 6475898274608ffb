import { existsSync } from 'node:fs';
import { type Callbridge, startCallbridge } from './callbridge.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { StartupError } from './errors.ts';
import { createLogger } from './log.ts';

/** Process entry: configuration from the environment (and ./.env), then run until SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config: Config;
  try {
    // Compose passes .env in; started any other way nothing would. Variables already set win over the file.
    if (existsSync('.env')) process.loadEnvFile('.env');
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger({ format: config.LOG_FORMAT, level: config.LOG_LEVEL });
  // Last line of defence: one stray rejected promise must not end every call in progress. Each is a bug,
  // logged loudly, and the process keeps serving.
  process.on('unhandledRejection', (reason) => {
    const err = reason instanceof Error ? { message: reason.message, stack: reason.stack } : String(reason);
    logger.error({ err }, 'unhandled promise rejection (bug); still serving');
  });
  let bridge: Callbridge;
  try {
    bridge = await startCallbridge(config, { logger });
  } catch (err) {
    if (err instanceof StartupError || err instanceof ConfigError) {
      console.error(`callbridge cannot start: ${err.message}`);
      process.exit(err instanceof ConfigError ? 78 : 1);
    }
    throw err;
  }
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const hard = setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS + 5000);
    hard.unref();
    bridge.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

import { startCallbridge } from './callbridge.ts';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';

/** Process entry: configuration from the environment, then run until SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const logger = createLogger({ format: config.LOG_FORMAT, level: config.LOG_LEVEL });
  const bridge = await startCallbridge(config, { logger });
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

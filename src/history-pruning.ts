/**
 * Keeps the call history within CALL_HISTORY_DAYS and CALL_HISTORY_MAX_CALLS: prunes once at start-up, then
 * hourly, removing the pruned calls' recording files. A failed prune is logged and tried again next hour.
 */
import type { CallRecorder } from './calls/call-recording.ts';
import type { Config } from './config.ts';
import { errorText } from './errors.ts';
import type { Logger } from './log.ts';
import type { CallStore } from './store/call-store.ts';

const PRUNE_EVERY_MS = 3_600_000;

export interface HistoryPruning {
  /** No more hourly prunes. */
  stop(): void;
}

/** Prunes now (resolves once done), then every hour until stopped. */
export async function startHistoryPruning(deps: {
  config: Config;
  store: CallStore;
  recorder: CallRecorder;
  logger: Logger;
}): Promise<HistoryPruning> {
  const { config, store, recorder, logger } = deps;
  const pruneHistory = async () => {
    try {
      const removed = await store.prune(
        config.CALL_HISTORY_DAYS,
        config.CALL_HISTORY_MAX_CALLS,
        (ids) => void recorder.removeFiles(ids),
      );
      if (removed) logger.info({ removed }, 'pruned call history');
    } catch (err) {
      logger.error({ err: errorText(err) }, 'could not prune call history');
    }
  };
  await pruneHistory();
  const timer = setInterval(() => void pruneHistory(), PRUNE_EVERY_MS).unref();
  return { stop: () => clearInterval(timer) };
}

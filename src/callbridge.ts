import type { Agent } from './agents/agent.ts';
import { createAgent, defaultAgentKind, defaultSettings } from './agents/registry.ts';
import { CallManager } from './calls/call-manager.ts';
import type { Config } from './config.ts';
import { EslClient } from './freeswitch/esl.ts';
import type { ChannelInfo } from './freeswitch/events.ts';
import { createHttpApp } from './http/app.ts';
import { startHttpServer, type HttpServer } from './http/server.ts';
import type { Logger } from './log.ts';
import { ResamplerPools } from './media/resampler-pools.ts';
import { Metrics } from './metrics.ts';
import { SharedDirTransport } from './playout/transport.ts';

export interface Callbridge {
  readonly config: Config;
  readonly http: HttpServer;
  readonly esl: EslClient;
  readonly calls: CallManager;
  readonly resamplers: ResamplerPools;
  readonly metrics: Metrics;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** Replace how agents are built (tests). */
  createAgent?: (channel: ChannelInfo, logger: Logger) => Agent;
}

/** Wire and start everything: ESL client, call manager, HTTP + media WebSocket server. */
export async function startCallbridge(config: Config, opts: StartOptions): Promise<Callbridge> {
  const { logger } = opts;
  if (config.PLAYBACK_TRANSPORT === 'shared-dir') {
    const removed = await SharedDirTransport.prepare(config.PLAYBACK_DIR);
    if (removed) logger.warn({ removed, dir: config.PLAYBACK_DIR }, 'deleted playback files left by a previous run');
  }
  const resamplers = new ResamplerPools({ converter: config.RESAMPLER });
  // Gemini speaks 24 kHz; calls play at 8 (G.711) or 16 kHz. Create those converters before the first call:
  // creating one later blocks the event loop for several ms.
  await resamplers.warm([
    [24000, 8000, config.RESAMPLER_POOL_START],
    [24000, 16000, 2],
  ]);

  const esl = new EslClient({
    host: config.FREESWITCH_ESL_HOST,
    port: config.FREESWITCH_ESL_PORT,
    password: config.FREESWITCH_ESL_PASSWORD,
    commandTimeoutMs: config.ESL_COMMAND_TIMEOUT_MS,
    reconnectMaxMs: config.ESL_RECONNECT_MAX_MS,
    logger,
  });
  const metrics = new Metrics();
  esl.on('connected', () => metrics.eslConnected.set(1));
  esl.on('disconnected', () => metrics.eslConnected.set(0));
  const kind = defaultAgentKind(config);
  const calls = new CallManager({
    config,
    esl,
    logger,
    createAgent: opts.createAgent ?? ((_channel, log) => createAgent(kind, config, defaultSettings(config), log)),
    resamplers: (i, o) => resamplers.get(i, o),
    metrics,
  });
  const app = createHttpApp({ health: () => ({ eslConnected: esl.connected, activeCalls: calls.active.size }), metrics: () => metrics.text() });
  const http = await startHttpServer({ app, router: calls, host: config.HTTP_HOST, port: config.HTTP_PORT, maxMessageBytes: config.MEDIA_MAX_MESSAGE_BYTES, logger });
  esl.start();
  logger.info({ port: http.port, esl: `${config.FREESWITCH_ESL_HOST}:${config.FREESWITCH_ESL_PORT}`, streamUrl: config.CALLBRIDGE_WS_URL, agent: kind }, 'callbridge started');

  let stopping: Promise<void> | undefined;
  return {
    config,
    http,
    esl,
    calls,
    resamplers,
    metrics,
    stop: () =>
      (stopping ??= (async () => {
        await calls.shutdown(config.SHUTDOWN_TIMEOUT_MS);
        await http.close(2000);
        await esl.stop();
        resamplers.destroy();
        logger.info('callbridge stopped');
      })()),
  };
}

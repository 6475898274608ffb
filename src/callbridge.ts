import type { Agent } from './agents/agent.ts';
import { createAgent, warmUpPipeline } from './agents/pipelines.ts';
import { CallBook } from './calls/call-book.ts';
import { CallManager } from './calls/call-manager.ts';
import { CallNodes } from './calls/call-nodes.ts';
import { ClusterMode } from './calls/cluster-mode.ts';
import { admissionSettings } from './calls/admission.ts';
import { CallRecorder } from './calls/call-recording.ts';
import { ChannelControl } from './freeswitch/channel-control.ts';
import { PendingToolSettings } from './calls/call-tools.ts';
import type { CallFacts, CallSettings } from './calls/call-settings.ts';
import { outboundSettings } from './calls/outbound-call.ts';
import { sessionSettings } from './calls/session-settings.ts';
import type { Config } from './config.ts';
import type { EslClient } from './freeswitch/esl.ts';
import { createHttpApp } from './http/app.ts';
import { clusterApi, localApi, trackLiveCalls } from './api-wiring.ts';
import { startHttpServer, type HttpServer } from './http/server.ts';
import type { Logger } from './log.ts';
import type { Resampling } from './media/resampling/resampling.ts';
import { PaceMemory } from './playout/arrival-pace.ts';
import { Metrics } from './metrics.ts';
import { BrowserTickets } from './calls/browser-tickets.ts';
import { RecordingAnalyzer } from './recording/analyzer.ts';
import { SharedDirTransport } from './playout/transport.ts';
import { usablePlaybackDir } from './playout/playback-dir.ts';
import type { CallStore } from './store/call-store.ts';
import { openHistoryStore } from './store/open-store.ts';
import { loadSettingsFiles, wireCallSettings } from './call-settings-wiring.ts';
import { startHistoryPruning } from './history-pruning.ts';
import { startResampling } from './resampling-wiring.ts';

export interface Callbridge {
  readonly config: Config;
  readonly http: HttpServer;
  /** The first FreeSWITCH node's ESL client (the only one unless FREESWITCH_NODES lists several). */
  readonly esl: EslClient;
  /** The calls of every FreeSWITCH node (one ESL client and call manager per node). */
  readonly calls: CallNodes;
  /** The records of every call (live and stored), as the calls API reads them. */
  readonly callBook: CallBook;
  readonly store: CallStore;
  readonly resampling: Resampling;
  readonly metrics: Metrics;
  readonly recorder: CallRecorder;
  /** Heard latency from complete call recordings, in a worker thread (fed by the recorder). */
  readonly analyzer: RecordingAnalyzer;
  /** Cluster mode (REDIS_URL): this instance's part of the cluster. */
  readonly cluster: ClusterMode | undefined;
  stop(): Promise<void>;
  /** Tests: vanish as a SIGKILL would (Redis, ESL and media cut; no call ended, nothing told). stop() still cleans up. */
  abandon(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** Replace how agents are built (tests). */
  createAgent?: (settings: CallSettings, facts: CallFacts, logger: Logger) => Agent;
  /** A call recording is complete on disk (the latency analysis takes it from here). */
  onRecordingComplete?: (callId: string, path: string) => void;
  /** Issues and redeems browser calls' tickets (tests inject their own; absent: one from BROWSER_TICKET_*). */
  browserTickets?: BrowserTickets;
  /** Where the built web console is (tests; default dist/console/). */
  consoleDir?: string;
}

/** The stream URL's port should be ours: FreeSWITCH streaming elsewhere fails only when a call comes in. */
function checkStreamUrl(config: Config, port: number, logger: Logger): void {
  for (const node of config.FREESWITCH_NODES) {
    const url = new URL(node.wsUrl.replace(/^ws/, 'http'));
    const urlPort = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    if (urlPort === port) continue;
    const setting = node.wsUrl === config.CALLBRIDGE_WS_URL ? 'CALLBRIDGE_WS_URL' : `node ${node.name}'s stream URL`;
    logger.warn(
      { streamUrl: node.wsUrl, port, ...(config.FREESWITCH_NODES.length > 1 && { node: node.name }) },
      `${setting} points at port ${urlPort} but callbridge listens on ${port}: FreeSWITCH will stream ` +
        'to the wrong port unless a proxy forwards it (leave CALLBRIDGE_WS_URL empty to follow HTTP_PORT)',
    );
  }
}

/** Wire and start everything: call history, ESL client, call manager, HTTP API + media WebSocket server. */
export async function startCallbridge(config: Config, opts: StartOptions): Promise<Callbridge> {
  const { logger } = opts;
  const settingsFiles = loadSettingsFiles(config);
  let playbackOnTmpfs = false;
  if (config.PLAYBACK_TRANSPORT === 'shared-dir') {
    config = await usablePlaybackDir(config, logger);
    const { removed, tmpfs } = await SharedDirTransport.prepare(config.PLAYBACK_DIR);
    playbackOnTmpfs = tmpfs;
    if (removed) logger.warn({ removed, dir: config.PLAYBACK_DIR }, 'deleted playback files left by a previous run');
    if (!tmpfs) {
      logger.warn(
        { dir: config.PLAYBACK_DIR },
        'PLAYBACK_DIR is not tmpfs: every reply file is written to disk, at a far higher CPU cost; mount it in memory',
      );
    }
  }
  const store = await openHistoryStore({
    databaseUrl: config.DATABASE_URL,
    sqlitePath: config.CALL_HISTORY_PATH,
    logger,
  });
  const callBook = new CallBook(store, logger);
  const clusterMode = await ClusterMode.open(config, logger);
  const liveCalls = trackLiveCalls(callBook);
  // One for both sides: the console's POST /console/browser-call issues, the call manager redeems.
  const browserTickets = config.BROWSER_CALLS
    ? (opts.browserTickets ??
      new BrowserTickets({ secret: config.BROWSER_TICKET_SECRET, ttlMs: config.BROWSER_TICKET_TTL_S * 1000 }))
    : undefined;
  const metrics = new Metrics();
  // Its worker starts with the first recording to analyse (and loads its own Silero model then).
  const analyzer = new RecordingAnalyzer({
    sink: callBook,
    logger,
    observe: (outcome, analysis) => metrics.recordingAnalysed(outcome, analysis?.turns),
  });
  const recorder = new CallRecorder({
    settings: {
      enabled: config.RECORDING,
      dir: config.RECORDING_DIR,
      freeswitchDir: config.RECORDING_DIR_FREESWITCH,
      announcementFile: config.RECORDING_ANNOUNCEMENT_FILE,
    },
    // `calls` is set below, before any call can be answered: the commands go to the call's node.
    control: (id) => new ChannelControl(calls.eslOf(id), id),
    book: callBook,
    logger,
    metrics,
    onComplete: (callId, path) => {
      analyzer.enqueue(callId, path);
      opts.onRecordingComplete?.(callId, path);
    },
  });
  await recorder.prepare();
  const pruning = await startHistoryPruning({ config, store, recorder, logger });

  const { resampling, pools } = await startResampling(config, metrics, logger);

  // Tools given with POST /calls wait here for their call to be answered (too large for channel variables).
  const apiTools = new PendingToolSettings(callBook);
  const { callback, resolveSettings } = wireCallSettings({ config, files: settingsFiles, apiTools, recorder });
  const session = sessionSettings(config, playbackOnTmpfs);
  const pace = new PaceMemory();
  // One ESL client and call manager per FreeSWITCH node (FREESWITCH_NODES; a single `default` node unless set).
  const calls = new CallNodes({
    nodes: config.FREESWITCH_NODES,
    esl: {
      password: config.FREESWITCH_ESL_PASSWORD,
      commandTimeoutMs: config.ESL_COMMAND_TIMEOUT_MS,
      reconnectMaxMs: config.ESL_RECONNECT_MAX_MS,
    },
    admission: admissionSettings(config),
    logger,
    book: callBook,
    metrics,
    onEvent: (e) => recorder.handleEvent(e),
    ...(clusterMode && { cluster: clusterMode.hooks }),
    createManager: ({ wsUrl, ...node }) =>
      new CallManager({
        ...node,
        session: { ...session, stream: { ...session.stream, wsUrl } },
        outbound: outboundSettings(config),
        book: callBook,
        resolveSettings,
        createAgent:
          opts.createAgent ?? ((settings, _facts, log) => createAgent(settings.pipeline, settings, config, log)),
        resampling,
        pace,
        metrics,
        browserTickets,
      }),
  });
  const esl = calls.nodes[0]!.esl;
  await clusterMode?.attach({ nodes: calls, book: callBook, metrics });

  const local = localApi({ book: callBook, nodes: calls, apiTools, live: liveCalls });
  const app = createHttpApp({
    health: () => calls.health(),
    metrics: () => metrics.text(),
    ...(clusterMode ? clusterApi(local, clusterMode.calls, calls) : local),
    recordings: { file: (id) => recorder.file(id), remove: (id) => recorder.remove(id) },
    apiToken: config.API_TOKEN,
    console: { dir: opts.consoleDir, sessionHours: config.CONSOLE_SESSION_HOURS },
    ...(browserTickets && {
      browserCalls: {
        wsUrl: config.BROWSER_SIP_WS_URL,
        target: config.BROWSER_SIP_TARGET,
        iceServers: config.BROWSER_ICE_SERVERS,
        issueTicket: () => browserTickets.issue(),
      },
    }),
    maxBodyBytes: config.MAX_REQUEST_BYTES,
    ...(config.TWILIO_SIP_URI && {
      twilio: {
        sipUri: config.TWILIO_SIP_URI,
        username: config.TWILIO_SIP_USERNAME,
        password: config.TWILIO_SIP_PASSWORD,
        authToken: config.TWILIO_AUTH_TOKEN,
        webhookUrl: config.TWILIO_WEBHOOK_URL,
      },
    }),
  });
  if (config.AGENT_PIPELINE === 'echo') {
    logger.warn(
      { source: config.AGENT_PIPELINE_SOURCE },
      'calls are answered by the echo agent (it plays back what the caller says): set GOOGLE_API_KEY for ' +
        'Gemini Live, or AGENT_PIPELINE=cascade with the Deepgram/Cartesia keys',
    );
  } else logger.info({ pipeline: config.AGENT_PIPELINE, source: config.AGENT_PIPELINE_SOURCE }, 'default pipeline');
  void warmUpPipeline(config.AGENT_PIPELINE, logger);
  const http = await startHttpServer({
    app,
    router: calls,
    host: config.HTTP_HOST,
    port: config.HTTP_PORT,
    maxMessageBytes: config.MEDIA_MAX_MESSAGE_BYTES,
    logger,
    registry: metrics.registry,
    isLiveCall: (id) => calls.isLive(id),
  });
  checkStreamUrl(config, http.port, logger);
  calls.start();
  const several = config.FREESWITCH_NODES.length > 1;
  logger.info(
    {
      port: http.port,
      esl: config.FREESWITCH_NODES.map((n) => `${several ? `${n.name}=` : ''}${n.host}:${n.port}`).join(','),
      streamUrl: config.CALLBRIDGE_WS_URL,
      pipeline: config.AGENT_PIPELINE,
      callback: Boolean(callback),
      auth: Boolean(config.API_TOKEN),
    },
    'callbridge started',
  );

  let stopping: Promise<void> | undefined;
  return {
    config,
    http,
    esl,
    calls,
    callBook,
    store,
    resampling,
    metrics,
    recorder,
    analyzer,
    cluster: clusterMode,
    abandon: async () => {
      await clusterMode?.abandon();
      await calls.stop();
      // Nothing of the calls is written anywhere any more, as after a SIGKILL; their media sockets drop.
      await Promise.all([...calls.active.values()].map((s) => s.end('vanished', { handover: true })));
      await http.close(0);
    },
    stop: () =>
      (stopping ??= (async () => {
        const endCalls = () => calls.shutdown(config.SHUTDOWN_TIMEOUT_MS);
        await (clusterMode ? clusterMode.shutdown(endCalls) : endCalls());
        await http.close(2000);
        await calls.stop();
        await clusterMode?.close();
        pruning.stop();
        await recorder.close();
        // After the calls, so their recordings are complete; analyses still waiting are given up.
        await analyzer.close();
        // Ended calls still waiting to be saved get one more try, then the store closes.
        await callBook.close();
        await store.close();
        await resampling.close();
        pools?.destroy();
        logger.info('callbridge stopped');
      })()),
  };
}

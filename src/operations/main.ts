/**
 * `npm start`: the whole service in the foreground. Anything not configured is brought up on an
 * embedded default (Temporal dev server with its UI, Postgres, Redis, the paper exchange), then
 * the worker and the bridge. Ctrl-C stops everything in reverse order.
 */
import path from 'node:path';
import { ConfigError, loadConfig, orderTaskQueueOf, versioningOf, type Config } from '../config';
import { createLogger, installTemporalLogging, redactUrl } from '../logging';
import { riskLimitsFromConfig } from '../risk/pre-trade-guard';
import { startPaperExchange, PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../paper-exchange';
import { startEmbeddedPostgres } from './postgres-server';
import { npmStartRedisOptions, startRedisServer } from './redis-server';
import { intakeSafetyFromConfig } from '../bridge/intake-safety';
import { operatorCliHint } from './operator-hint';
import { startService, type ExchangeEndpoint } from './service';
import { ensureTemporalCli } from './temporal-cli';
import { npmStartTemporalOptions, startTemporalDevServer } from './temporal-dev-server';
import { readWorkflowBundle, type WorkflowCode } from '../worker/worker';

type Stopper = { name: string; stop: () => Promise<void> };

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`trade-exec: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // A bad bundle path is a configuration error: refuse it before starting anything.
  let workflowBundle: WorkflowCode | undefined;
  if (config.TEMPORAL_WORKFLOW_BUNDLE && config.TRADE_EXEC_ROLES.includes('worker')) {
    try {
      workflowBundle = await readWorkflowBundle(config.TEMPORAL_WORKFLOW_BUNDLE);
    } catch (err) {
      process.stderr.write(`trade-exec: ${new ConfigError([`TEMPORAL_WORKFLOW_BUNDLE: ${err instanceof Error ? err.message : String(err)}`]).message}\n`);
      process.exit(2);
    }
  }
  const versioning = versioningOf(config);
  // Before anything creates a Worker or a connection: the SDK's and Core's logs go through pino.
  installTemporalLogging(createLogger('temporal', config.LOG_LEVEL));
  const log = createLogger('main', config.LOG_LEVEL);
  const stoppers: Stopper[] = [];
  let shuttingDown = false;

  let firstSignalAt = 0;
  const shutdown = async (signal: string) => {
    if (shuttingDown) {
      // Ctrl-C reaches this process twice (from the terminal and relayed by npm/tsx), so only a
      // signal well after the first one means "stop waiting".
      if (Date.now() - firstSignalAt < 2000) return;
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    shuttingDown = true;
    firstSignalAt = Date.now();
    log.info({ signal }, 'shutting down (Ctrl-C again to force)');
    for (const s of [...stoppers].reverse()) {
      try {
        await s.stop();
        log.info({ component: s.name }, 'stopped');
      } catch (err) {
        log.error({ component: s.name, err: err instanceof Error ? err.message : String(err) }, 'stop failed');
      }
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  const dataDir = path.resolve(config.DATA_DIR);
  const progress = (line: string) => log.info(line);
  let postgresDataDir: string | undefined;

  const [temporal, databaseUrl, redisUrl, exchange] = await Promise.all([
    (async () => {
      if (config.TEMPORAL_ADDRESS) return { address: config.TEMPORAL_ADDRESS, uiUrl: undefined as string | undefined };
      const cli = await ensureTemporalCli(progress);
      // Durable SQLite (WAL, synchronous=FULL): a power cut must not lose acknowledged workflow state.
      const server = await startTemporalDevServer({
        ...npmStartTemporalOptions({ dataDir, uiPort: config.TEMPORAL_UI_PORT || undefined }),
        cliPath: cli,
        log: progress,
      });
      stoppers.push({ name: 'temporal dev server', stop: () => server.stop() });
      return { address: server.address, uiUrl: server.uiUrl };
    })(),
    (async () => {
      if (config.DATABASE_URL) return config.DATABASE_URL;
      const pg = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), progress });
      stoppers.push({ name: 'postgres', stop: () => pg.stop() });
      postgresDataDir = pg.linkedFrom ? `${pg.dataDir}  (${pg.linkedFrom} links to it)` : pg.dataDir;
      return pg.url;
    })(),
    (async () => {
      if (config.REDIS_URL) return config.REDIS_URL;
      // Durable (AOF, fsync every second, in DATA_DIR/redis) and with a password: see redis-server.ts.
      const redis = await startRedisServer(npmStartRedisOptions({ dataDir }));
      stoppers.push({ name: 'redis', stop: () => redis.stop() });
      return redis.url;
    })(),
    (async (): Promise<ExchangeEndpoint & { paper: boolean }> => {
      if (config.BINANCE_BASE_URL) {
        return {
          paper: false,
          baseUrl: config.BINANCE_BASE_URL,
          apiKey: config.BINANCE_API_KEY!,
          apiSecret: config.BINANCE_API_SECRET,
          privateKeyPath: config.BINANCE_PRIVATE_KEY_PATH,
          recvWindowMs: config.BINANCE_RECV_WINDOW,
          wsApiUrl: config.BINANCE_WS_API_URL,
          selfTradePreventionMode: config.BINANCE_STP_MODE,
        };
      }
      const paper = await startPaperExchange({ port: config.PAPER_EXCHANGE_PORT, logger: createLogger('paper-exchange', config.LOG_LEVEL) });
      stoppers.push({ name: 'paper exchange', stop: () => paper.close() });
      return {
        paper: true,
        baseUrl: paper.url,
        apiKey: PAPER_DEFAULT_API_KEY,
        apiSecret: PAPER_DEFAULT_API_SECRET,
        recvWindowMs: config.BINANCE_RECV_WINDOW,
        wsApiUrl: paper.wsUrl,
        selfTradePreventionMode: config.BINANCE_STP_MODE,
      };
    })(),
  ]);

  const service = await startService({
    temporalAddress: temporal.address,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    orderTaskQueue: orderTaskQueueOf(config),
    maxCachedWorkflows: config.TEMPORAL_MAX_CACHED_WORKFLOWS,
    eagerStart: config.TEMPORAL_EAGER_START,
    databaseUrl,
    redisUrl,
    exchange,
    defaultOrderTimeoutMs: config.ORDER_TIMEOUT_MS,
    worker: config.TRADE_EXEC_ROLES.includes('worker'),
    ...(workflowBundle ? { workflowBundle } : {}),
    warmUp: config.WORKER_WARM_UP,
    ...(versioning ? { versioning } : {}),
    bridge: config.TRADE_EXEC_ROLES.includes('bridge') && {
      consumer: config.BRIDGE_CONSUMER,
      batchSize: config.BRIDGE_BATCH_SIZE,
      concurrency: config.BRIDGE_CONCURRENCY,
      claimIdleMs: config.BRIDGE_CLAIM_IDLE_MS,
      safety: intakeSafetyFromConfig(config),
    },
    logger: createLogger('service', config.LOG_LEVEL),
    metrics: { port: config.METRICS_PORT, host: config.METRICS_HOST },
    risk: riskLimitsFromConfig(config),
    decisionSafety: intakeSafetyFromConfig(config),
    reconciliation: config.RECONCILE_EVERY_MS > 0 && {
      everyMs: config.RECONCILE_EVERY_MS,
      triggerNow: true,
      input: { symbols: config.RECONCILE_SYMBOLS },
    },
  });
  stoppers.push({ name: 'worker and bridge', stop: () => service.stop() });

  const lines = [
    'trade-exec is ready',
    `  Temporal:        ${temporal.address}  (namespace ${config.TEMPORAL_NAMESPACE}, task queue ${config.TEMPORAL_TASK_QUEUE})`,
    `  Temporal UI:     ${temporal.uiUrl ?? '(external server: use its UI)'}`,
    `  PostgreSQL:      ${redactUrl(databaseUrl)}`,
    ...(postgresDataDir ? [`  PostgreSQL data: ${postgresDataDir}`] : []),
    `  Redis:           ${redactUrl(redisUrl)}  (decisions in: risk_decisions, reports out: trade_executions)`,
    `  Exchange:        ${exchange.baseUrl}${exchange.paper ? '  (paper exchange)' : ''}`,
    `  Metrics:         ${service.metricsServer ? `${service.metricsServer.url}` : '(off)'}`,
    // Versioned workers run nothing until their version is current (docs/deploys.md).
    ...(service.workerVersion
      ? [`  Worker version:  ${service.workerVersion.deploymentName}:${service.workerVersion.buildId} (${service.workerVersion.defaultBehavior})`]
      : []),
    ...operatorCliHint({
      temporalAddress: temporal.address,
      ...(config.REDIS_URL ? {} : { redisUrl }),
      ...(config.DATABASE_URL ? {} : { databaseUrl }),
      ...(exchange.paper && exchange.apiSecret ? { paper: { baseUrl: exchange.baseUrl, apiKey: exchange.apiKey, apiSecret: exchange.apiSecret } } : {}),
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err) => {
  process.stderr.write(`trade-exec: failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});

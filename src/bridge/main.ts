/**
 * A bridge process on its own (no worker): risk decisions in, TradeExecution workflows out.
 *
 *   TEMPORAL_ADDRESS=127.0.0.1:7233 REDIS_URL=redis://127.0.0.1:6379 DATABASE_URL=postgres://... \
 *     npx tsx src/bridge/main.ts          # or: node -r tsx/cjs src/bridge/main.ts
 *
 * Configuration comes from the environment (src/config.ts): TEMPORAL_ADDRESS, REDIS_URL and
 * DATABASE_URL are required here (nothing is started for you); TEMPORAL_NAMESPACE,
 * TEMPORAL_TASK_QUEUE, BRIDGE_CONSUMER (default host-pid: unique per instance), BRIDGE_BATCH_SIZE,
 * BRIDGE_CONCURRENCY, BRIDGE_CLAIM_IDLE_MS, METRICS_PORT (0: any free port), ORDER_TIMEOUT_MS,
 * DECISION_MAX_AGE_MS, DECISION_MAX_AGE_RESTING_MS, DECISION_CLOCK_SKEW_MS, DECISION_SIGNING_KEY,
 * LOG_LEVEL are optional.
 *
 * Start-up is quick and does not wait for Temporal (the connection is lazy; while Temporal is
 * unreachable, entries wait unacknowledged). It logs `bridge ready` with the metrics URL.
 * SIGTERM/SIGINT: in-flight starts finish and are acknowledged, then the process exits 0; a
 * second signal exits at once (130). Exit 2: bad configuration; 1: failed to start.
 */
import { Client } from '@temporalio/client';
import Redis from 'ioredis';
import { ConfigError, loadConfig, orderTaskQueueOf, type Config } from '../config';
import { createLogger, redactUrl } from '../logging';
import { createPool } from '../persistence/db';
import { migrate } from '../persistence/migrate';
import { DecisionBridge } from './decision-bridge';
import { startMetricsServer, type MetricsServer } from '../metrics/server';
import { intakeSafetyFromConfig } from './intake-safety';
import { createPgBridgeRecorder } from './pg-recorder';
import { connectBridgeTemporal } from './temporal-connection';
import { isFatalPostgresError, isFatalRedisError, pingRedis, postgresAddress, redisAddress, waitFor } from '../operations/wait-for';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
    const missing = (['TEMPORAL_ADDRESS', 'REDIS_URL', 'DATABASE_URL'] as const).filter((k) => !config[k]);
    if (missing.length) throw new ConfigError(missing.map((k) => `${k}: is required for a standalone bridge`));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`trade-exec bridge: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger('bridge', config.LOG_LEVEL);
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  let bridge: DecisionBridge | undefined;
  let shuttingDown = false;

  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) {
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    shuttingDown = true;
    log.info({ signal }, 'stopping: finishing in-flight starts');
    // The bridge gives up on a failing dependency after 15 s; a Redis that hangs every command
    // could still hold us, and a stop must end.
    setTimeout(() => {
      log.error('shutdown did not finish within 30 s; exiting (unsettled entries stay pending and are reclaimed)');
      process.exit(1);
    }, 30_000).unref();
    let code = 0;
    try {
      await bridge?.stop();
    } catch (err) {
      code = 1;
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'bridge stop failed');
    }
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => undefined);
    log.info({ code }, 'bridge process exiting');
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  const pool = createPool(config.DATABASE_URL!, { logger: log, applicationName: `trade-exec-bridge:${config.BRIDGE_CONSUMER}` });
  cleanups.push(() => pool.end());
  const redis = new Redis(config.REDIS_URL!, { maxRetriesPerRequest: null, connectionName: `bridge-main:${config.BRIDGE_CONSUMER}` });
  redis.on('error', () => undefined); // the bridge's own connections report Redis trouble
  cleanups.push(() => redis.disconnect());
  // Lazy: no round trip now, and Temporal being down does not stop the process from starting.
  const connection = connectBridgeTemporal(config.TEMPORAL_ADDRESS!);
  cleanups.push(() => connection.close());
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });

  // Started before PostgreSQL or Redis (compose, a reboot): wait for them, saying so, instead of exiting.
  await Promise.all([
    waitFor({ logger: log, what: 'PostgreSQL', address: postgresAddress(config.DATABASE_URL!), fatal: isFatalPostgresError }, () => pool.query('SELECT 1')),
    waitFor({ logger: log, what: 'Redis', address: redisAddress(config.REDIS_URL!), fatal: isFatalRedisError }, () => pingRedis(config.REDIS_URL!)),
  ]);
  await migrate(pool, { logger: log });
  bridge = new DecisionBridge({
    redis,
    temporal,
    recorder: createPgBridgeRecorder(pool),
    logger: log,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    // The workers' processes poll this queue too (same configuration).
    orderTaskQueue: orderTaskQueueOf(config),
    consumer: config.BRIDGE_CONSUMER,
    defaultOrderTimeoutMs: config.ORDER_TIMEOUT_MS,
    batchSize: config.BRIDGE_BATCH_SIZE,
    concurrency: config.BRIDGE_CONCURRENCY,
    claimIdleMs: config.BRIDGE_CLAIM_IDLE_MS,
    safety: intakeSafetyFromConfig(config),
  });
  const metricsServer: MetricsServer = await startMetricsServer({ registry: bridge.metrics.registry, port: config.METRICS_PORT, host: config.METRICS_HOST });
  cleanups.push(() => metricsServer.close());
  await bridge.start();
  log.info(
    {
      temporal: config.TEMPORAL_ADDRESS,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      redis: redactUrl(config.REDIS_URL!),
      database: redactUrl(config.DATABASE_URL!),
      metrics: `${metricsServer.url}/metrics`,
      pid: process.pid,
    },
    'bridge ready',
  );
}

main().catch((err) => {
  process.stderr.write(`trade-exec bridge: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

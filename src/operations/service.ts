/**
 * The composition root: wires Postgres, Redis, the exchange client, the Temporal worker and the
 * bridge together for given endpoints. `npm start` (main.ts) and the end-to-end tests both use it,
 * so the tests exercise the same wiring users run.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, isGrpcServiceError } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { VersioningConfig } from '../config';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { DecisionBridge } from '../bridge/decision-bridge';
import { createPgBridgeRecorder } from '../bridge/pg-recorder';
import type { IntakeSafetyOptions } from '../bridge/intake-safety';
import { BinanceSpotClient } from '../exchange';
import { createLogger, temporalLoggerFor, type Logger } from '../logging';
import { createPool } from '../persistence/db';
import { migrate } from '../persistence/migrate';
import { createPgTradeStore } from '../persistence/pg-ports';
import type { ActivityDeps } from '../../activities';
import { warmUpWorkflowRuntime } from '../worker/warm-up';
import { buildIdOf, bundleWorkflows, createOrderWorker, createTradeWorker, type WorkerVersioning, type WorkflowCode } from '../worker/worker';
import { OrderUpdateRouter } from '../worker/order-update-router';
import { UserDataStream } from '../exchange/user-data-stream';
import { AlertSink } from '../alerts/alerts';
import { instrumentExchange } from '../metrics/exchange';
import { ServiceMetrics } from '../metrics/metrics';
import { startMetricsServer, type MetricsServer } from '../metrics/server';
import { TradeObserver, type AlertThresholds } from '../metrics/trade-observer';
import { MarkPriceCache } from '../portfolio/mark-prices';
import { Reconciler } from '../reconciliation/reconciler';
import { ensureReconciliationSchedule } from '../reconciliation/schedule';
import type { ReconciliationInput } from '../reconciliation/types';
import type { RiskLimits } from '../risk/pre-trade-guard';
import type { SelfTradePreventionMode } from '../exchange/client';
import { isFatalPostgresError, isFatalRedisError, pingRedis, postgresAddress, redisAddress, waitFor } from './wait-for';

export interface ExchangeEndpoint {
  baseUrl: string;
  apiKey: string;
  apiSecret?: string;
  privateKeyPath?: string;
  recvWindowMs: number;
  /** WebSocket API (ws[s]://…/ws-api/v3) for the user data stream; without it fills are polled only. */
  wsApiUrl?: string;
  /** Sent with every order (BINANCE_STP_MODE); absent: the symbol's default. */
  selfTradePreventionMode?: SelfTradePreventionMode;
}

export interface ServiceOptions {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  /** Task queue of the order-sending activities; absent: the main queue. Workers here poll both. */
  orderTaskQueue?: string;
  /** Start workflows eagerly when this process runs both the bridge and a worker (default true). */
  eagerStart?: boolean;
  /** The worker's workflow cache (TEMPORAL_MAX_CACHED_WORKFLOWS; default 400). */
  maxCachedWorkflows?: number;
  databaseUrl: string;
  redisUrl: string;
  exchange: ExchangeEndpoint;
  defaultOrderTimeoutMs: number;
  /** `safety`: decision age limits, clock skew and signing key (src/bridge/intake-safety.ts). */
  bridge?: { consumer: string; batchSize?: number; concurrency?: number; claimIdleMs?: number; safety?: IntakeSafetyOptions } | false;
  worker?: boolean;
  /** Pre-built workflow code (tests; TEMPORAL_WORKFLOW_BUNDLE via readWorkflowBundle); absent: `workflows/`. */
  workflowBundle?: WorkflowCode;
  /**
   * Replay saved histories before the worker polls (WORKER_WARM_UP, src/worker/warm-up.ts), so its
   * first trades do not pay the process's one-time costs. Off unless asked (tests start services
   * by the hundred and measure no latency); main.ts turns it on.
   */
  warmUp?: boolean;
  /**
   * Worker Versioning (TEMPORAL_WORKER_DEPLOYMENT, docs/deploys.md): both workers of this process
   * declare this version. `buildId` absent: buildIdOf(the workflow bundle's code). Absent: unversioned.
   */
  versioning?: VersioningConfig;
  logger?: Logger;
  /** The worker's Prometheus endpoint (METRICS_PORT; 0 = a free port). Absent or false: none. */
  metrics?: { port: number; host?: string } | false;
  /** Alert thresholds (failure rate, latency, drift); alerts go to the Redis stream `alerts` and the log. */
  alerts?: { thresholds?: Partial<AlertThresholds> };
  /** Pre-trade risk guard limits (RISK_* variables); absent: DEFAULT_RISK_LIMITS (src/risk/pre-trade-guard.ts). */
  risk?: RiskLimits;
  /** Decision age limits for the worker's pre-trade check (default: the bridge's `safety`, else the defaults). */
  decisionSafety?: IntakeSafetyOptions;
  /**
   * How start-up waits for Temporal, PostgreSQL and Redis (with backoff, logging what it waits
   * for): by default as long as it takes; `timeoutMs` gives up, `signal` stops the wait.
   */
  startup?: { timeoutMs?: number; signal?: AbortSignal };
  /** The reconciliation Temporal Schedule, created/updated by worker processes. Absent or false: none. */
  reconciliation?: { everyMs: number; input?: ReconciliationInput; triggerNow?: boolean; scheduleId?: string } | false;
}

export interface RunningService {
  /** The push path (user data stream → workflow signals), when a WebSocket API URL was given. */
  orderUpdates?: OrderUpdateRouter;
  pool: Pool;
  redis: Redis;
  exchange: BinanceSpotClient;
  temporal: Client;
  worker?: Worker;
  /** The version both workers declare, when versioning is on (the build id as resolved). */
  workerVersion?: WorkerVersioning;
  bridge?: DecisionBridge;
  metrics: ServiceMetrics;
  metricsServer?: MetricsServer;
  alerts: AlertSink;
  marks: MarkPriceCache;
  reconciler: Reconciler;
  /** Stops the bridge (in-flight starts finish), then the worker (running activities finish), then connections. */
  stop(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<RunningService> {
  const logger = o.logger ?? createLogger('service');
  const pool = createPool(o.databaseUrl, { logger });
  // Whatever order the processes come up in: wait for each dependency instead of exiting.
  const wait = { logger: logger.child({ component: 'startup' }), timeoutMs: o.startup?.timeoutMs, signal: o.startup?.signal };
  try {
    await Promise.all([
      waitFor({ ...wait, what: 'PostgreSQL', address: postgresAddress(o.databaseUrl), fatal: isFatalPostgresError }, () => pool.query('SELECT 1')),
      waitFor({ ...wait, what: 'Redis', address: redisAddress(o.redisUrl), fatal: isFatalRedisError }, () => pingRedis(o.redisUrl)),
    ]);
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
  const rawExchange = new BinanceSpotClient({
    baseUrl: o.exchange.baseUrl,
    apiKey: o.exchange.apiKey,
    apiSecret: o.exchange.apiSecret,
    ed25519PrivateKeyPem: o.exchange.privateKeyPath ? readFileSync(o.exchange.privateKeyPath, 'utf8') : undefined,
    recvWindow: o.exchange.recvWindowMs,
    logger: logger.child({ component: 'exchange' }),
  });
  // Every exchange call is timed and its errors counted by code, without touching the client.
  const metrics = new ServiceMetrics({ rateLimitUsage: () => rawExchange.usage() });
  const exchange = instrumentExchange(rawExchange, metrics);
  const cleanups: Array<() => Promise<void> | void> = [
    () => pool.end(),
    () => redis.disconnect(),
    () => exchange.close(),
  ];
  try {
    return await startParts(o, logger, pool, redis, exchange, cleanups, metrics);
  } catch (err) {
    // Nothing half-started may keep the process alive or hold connections.
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    throw err;
  }
}

async function startParts(
  o: ServiceOptions,
  logger: Logger,
  pool: Pool,
  redis: Redis,
  exchange: BinanceSpotClient,
  cleanups: Array<() => Promise<void> | void>,
  metrics: ServiceMetrics,
): Promise<RunningService> {
  const alerts = new AlertSink({
    redis,
    logger: logger.child({ component: 'alerts' }),
    onRaised: (a) => metrics.alerts.inc({ kind: a.kind, severity: a.severity }),
  });
  const marks = new MarkPriceCache(exchange);
  const observer = new TradeObserver({ metrics, pool, alerts, thresholds: o.alerts?.thresholds, logger });
  const reconciler = new Reconciler({
    pool,
    exchange,
    redis,
    alerts,
    metrics,
    marks,
    logger: logger.child({ component: 'reconciliation' }),
    driftAlertQuoteValue: observer.thresholds.driftQuoteValue,
  });
  let worker: Worker | undefined;
  let workerVersion: WorkerVersioning | undefined;
  let orderWorker: Worker | undefined;
  let workerRun: Promise<unknown> | undefined;
  let nativeConnection: NativeConnection | undefined;
  let router: OrderUpdateRouter | undefined;
  const waitTemporal = {
    logger: logger.child({ component: 'startup' }),
    timeoutMs: o.startup?.timeoutMs,
    signal: o.startup?.signal,
    what: 'Temporal',
    address: o.temporalAddress,
  };
  if (o.worker !== false) {
    nativeConnection = await waitFor(waitTemporal, () => NativeConnection.connect({ address: o.temporalAddress }));
    const nc = nativeConnection;
    cleanups.push(() => nc.close());
  }
  // Eager start needs the client on the worker's own connection: the server then returns the
  // first workflow task in the start response, to this process's worker, skipping a poll.
  // Not with Worker Versioning: the server (1.29.1 and 1.32.1 alike) hands that task to the
  // starting process whatever its version, so a process of an old or not-yet-current version
  // would pin new trades to itself. Without eager start every trade goes to the current version.
  const eager = (o.eagerStart ?? true) && nativeConnection !== undefined && Boolean(o.bridge) && !o.versioning;
  if ((o.eagerStart ?? true) && nativeConnection && o.bridge && o.versioning) {
    logger.info('eager workflow start off: with TEMPORAL_WORKER_DEPLOYMENT new trades must reach the current version');
  }
  let clientConnection: Connection | undefined;
  if (!eager) {
    const cc = await waitFor(waitTemporal, () => Connection.connect({ address: o.temporalAddress }));
    clientConnection = cc;
    cleanups.push(() => cc.close());
  }
  const temporal = new Client({ connection: eager ? nativeConnection! : clientConnection!, namespace: o.namespace });

  if (nativeConnection) {
    // The worker re-checks only the decision's age: its ages and skew, never the signing key.
    const safety = o.decisionSafety ?? (o.bridge ? o.bridge.safety : undefined);
    const ageLimits = safety && { maxAgeMs: safety.maxAgeMs, maxAgeRestingMs: safety.maxAgeRestingMs, clockSkewMs: safety.clockSkewMs };
    // Built before the worker: its coverage checks are an activity; started once the worker runs.
    if (o.exchange.wsApiUrl) {
      const r = new OrderUpdateRouter({
        stream: new UserDataStream({
          wsUrl: o.exchange.wsApiUrl,
          apiKey: o.exchange.apiKey,
          apiSecret: o.exchange.apiSecret,
          ed25519PrivateKeyPem: o.exchange.privateKeyPath ? readFileSync(o.exchange.privateKeyPath, 'utf8') : undefined,
          recvWindow: o.exchange.recvWindowMs,
          clock: () => Date.now() + exchange.timeOffsetMs(),
          logger: logger.child({ component: 'user-data-stream' }),
        }),
        temporal,
        pool,
        exchange,
        logger: logger.child({ component: 'order-updates' }),
      });
      router = r;
    }
    const deps: ActivityDeps = {
      exchange,
      store: createPgTradeStore(pool),
      redis,
      logger: logger.child({ component: 'activities' }),
      recvWindowMs: o.exchange.recvWindowMs,
      ...(o.exchange.selfTradePreventionMode ? { selfTradePreventionMode: o.exchange.selfTradePreventionMode } : {}),
      pool,
      hooks: observer.hooks(),
      reconciler,
      marks,
      metrics,
      ...(o.risk ? { riskLimits: o.risk } : {}),
      // The bridge's decision age limits, checked again just before a first submission.
      ...(ageLimits ? { intake: ageLimits } : {}),
      ...(router ? { orderUpdates: router } : {}),
    };
    const code = await workerCode(o);
    workerVersion = code.versioning;
    if (o.warmUp) {
      // The worker gets the code that was warmed up: bundled once here rather than again by the SDK.
      code.bundle ??= { ...(await bundleWorkflows({ logger: temporalLoggerFor(logger) })), codePath: 'workflows/ (bundled at start)' };
      logWorkerCode(logger, code);
      await warmUpWorkflowRuntime({ code: code.bundle, logger: logger.child({ component: 'warm-up' }) });
    } else {
      logWorkerCode(logger, code);
    }
    worker = await createTradeWorker({
      connection: nativeConnection,
      namespace: o.namespace,
      taskQueue: o.taskQueue,
      workflowBundle: code.bundle,
      versioning: code.versioning,
      deps,
      maxCachedWorkflows: o.maxCachedWorkflows,
    });
    if (o.orderTaskQueue) {
      orderWorker = await createOrderWorker({ connection: nativeConnection, namespace: o.namespace, taskQueue: o.orderTaskQueue, versioning: code.versioning, deps });
    }
    workerRun = Promise.all([worker.run(), orderWorker?.run()]);
    // Not awaited: a start-up hint only, never a reason to fail or delay start-up.
    if (workerVersion) void warnUnlessCurrent(temporal, o.namespace, workerVersion, logger);
    if (router) {
      const r = router;
      cleanups.push(() => r.stop());
      // Push only saves polls: the worker serves trades (by polling) while the stream connects.
      r.start().catch((err) => logger.error({ err: err instanceof Error ? err.message : String(err) }, 'user data stream failed to start'));
    }
    if (o.reconciliation) {
      await ensureReconciliationSchedule(temporal, {
        scheduleId: o.reconciliation.scheduleId ?? `reconciliation-${o.taskQueue}`,
        taskQueue: o.taskQueue,
        everyMs: o.reconciliation.everyMs,
        input: o.reconciliation.input ?? {},
        triggerNow: o.reconciliation.triggerNow,
      });
    }
  }

  let metricsServer: MetricsServer | undefined;
  if (o.metrics) {
    metricsServer = await startMetricsServer({ registry: metrics.registry, port: o.metrics.port, host: o.metrics.host });
    const ms = metricsServer;
    cleanups.push(() => ms.close());
  }

  let bridge: DecisionBridge | undefined;
  if (o.bridge) {
    bridge = new DecisionBridge({
      redis,
      temporal,
      recorder: createPgBridgeRecorder(pool),
      logger: logger.child({ component: 'bridge' }),
      taskQueue: o.taskQueue,
      orderTaskQueue: o.orderTaskQueue,
      eagerStart: eager,
      defaultOrderTimeoutMs: o.defaultOrderTimeoutMs,
      ...o.bridge,
    });
    await bridge.start();
  }

  let stopped: Promise<void> | undefined;
  return {
    orderUpdates: router,
    pool,
    redis,
    exchange,
    temporal,
    worker,
    ...(workerVersion ? { workerVersion } : {}),
    bridge,
    metrics,
    metricsServer,
    alerts,
    marks,
    reconciler,
    stop() {
      stopped ??= (async () => {
        await bridge?.stop();
        await router?.stop();
        await metricsServer?.close();
        for (const w of [worker, orderWorker]) if (w && w.getState() === 'RUNNING') w.shutdown();
        await workerRun;
        await nativeConnection?.close();
        await clientConnection?.close();
        redis.disconnect();
        await exchange.close();
        await pool.end();
      })();
      return stopped;
    },
  };
}

/**
 * The workflow code and version the workers run. Versioned, the code is bundled here rather than
 * by the SDK, so the build id hashes exactly the code the worker runs; unversioned without a
 * bundle, the SDK bundles `workflows/` as it always did.
 */
async function workerCode(o: Pick<ServiceOptions, 'workflowBundle' | 'versioning'>): Promise<{ bundle?: WorkflowCode; versioning?: WorkerVersioning }> {
  if (!o.versioning) return o.workflowBundle ? { bundle: o.workflowBundle } : {};
  const bundle = o.workflowBundle ?? (await bundleWorkflows());
  return { bundle, versioning: { ...o.versioning, buildId: o.versioning.buildId ?? buildIdOf(bundle.code) } };
}

function logWorkerCode(logger: Logger, c: { bundle?: WorkflowCode; versioning?: WorkerVersioning }): void {
  const source = c.bundle?.codePath ?? (c.bundle ? 'pre-built in memory' : 'workflows/ (bundled by the worker)');
  if (!c.versioning) {
    logger.info({ workflowBundle: source }, 'worker unversioned (no TEMPORAL_WORKER_DEPLOYMENT)');
    return;
  }
  const v = c.versioning;
  logger.info(
    { deployment: v.deploymentName, buildId: v.buildId, behavior: v.defaultBehavior, workflowBundle: source, bundleBuildId: c.bundle && buildIdOf(c.bundle.code) },
    `worker version ${v.deploymentName}:${v.buildId} (${v.defaultBehavior})`,
  );
}

/**
 * A versioned worker is handed nothing until its version is current (or ramping), and nothing
 * says so: the first deploy of a deployment would look like a hang. Say it once at start.
 */
async function warnUnlessCurrent(temporal: Client, namespace: string, v: WorkerVersioning, logger: Logger): Promise<void> {
  const makeCurrent = `temporal worker deployment set-current-version --deployment-name ${v.deploymentName} --build-id ${v.buildId}`;
  let current: string | undefined;
  let ramping: string | undefined;
  try {
    const routing = (await temporal.workflowService.describeWorkerDeployment({ namespace, deploymentName: v.deploymentName })).workerDeploymentInfo?.routingConfig;
    current = routing?.currentDeploymentVersion?.buildId || undefined;
    ramping = routing?.rampingDeploymentVersion?.buildId || undefined;
  } catch (err) {
    // NOT_FOUND: the deployment does not exist yet (this worker's first poll creates it), so no version is current.
    if (!(isGrpcServiceError(err) && err.code === 5)) {
      logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'could not describe the worker deployment');
      return;
    }
  }
  if (current === v.buildId || ramping === v.buildId) return;
  const fields = { deployment: v.deploymentName, buildId: v.buildId, currentBuildId: current ?? null };
  if (current === undefined) {
    logger.warn(fields, `no version of deployment ${v.deploymentName} is current yet: versioned workers get no new trades (unversioned ones, if any, still do) until \`${makeCurrent}\``);
  } else {
    logger.warn(fields, `worker version ${v.buildId} is not current: it serves only trades pinned to it; new trades go to ${current} until \`${makeCurrent}\``);
  }
}

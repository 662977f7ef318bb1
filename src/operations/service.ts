/**
 * The composition root: wires Postgres, Redis, the exchange client, the Temporal worker and the
 * bridge together for given endpoints. `npm start` (main.ts) and the end-to-end tests both use it,
 * so the tests exercise the same wiring users run.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { DecisionBridge } from '../bridge/decision-bridge';
import { BinanceSpotClient } from '../exchange';
import { createLogger, type Logger } from '../logging';
import { createPool } from '../persistence/db';
import { migrate } from '../persistence/migrate';
import { createPgDecisionRecorder, createPgTradeStore } from '../persistence/pg-ports';
import { createTradeWorker } from '../worker/worker';

export interface ExchangeEndpoint {
  baseUrl: string;
  apiKey: string;
  apiSecret?: string;
  privateKeyPath?: string;
  recvWindowMs: number;
}

export interface ServiceOptions {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  databaseUrl: string;
  redisUrl: string;
  exchange: ExchangeEndpoint;
  defaultOrderTimeoutMs: number;
  bridge?: { consumer: string; batchSize?: number; concurrency?: number; claimIdleMs?: number } | false;
  worker?: boolean;
  workflowBundle?: WorkflowBundleWithSourceMap;
  logger?: Logger;
}

export interface RunningService {
  pool: Pool;
  redis: Redis;
  exchange: BinanceSpotClient;
  temporal: Client;
  worker?: Worker;
  bridge?: DecisionBridge;
  /** Stops the bridge (in-flight starts finish), then the worker (running activities finish), then connections. */
  stop(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<RunningService> {
  const logger = o.logger ?? createLogger('service');
  const pool = createPool(o.databaseUrl, { logger });
  await migrate(pool);
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
  const exchange = new BinanceSpotClient({
    baseUrl: o.exchange.baseUrl,
    apiKey: o.exchange.apiKey,
    apiSecret: o.exchange.apiSecret,
    ed25519PrivateKeyPem: o.exchange.privateKeyPath ? readFileSync(o.exchange.privateKeyPath, 'utf8') : undefined,
    recvWindow: o.exchange.recvWindowMs,
    logger: logger.child({ component: 'exchange' }),
  });
  const cleanups: Array<() => Promise<void> | void> = [
    () => pool.end(),
    () => redis.disconnect(),
    () => exchange.close(),
  ];
  try {
    return await startParts(o, logger, pool, redis, exchange, cleanups);
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
): Promise<RunningService> {
  const clientConnection = await Connection.connect({ address: o.temporalAddress });
  cleanups.push(() => clientConnection.close());
  const temporal = new Client({ connection: clientConnection, namespace: o.namespace });

  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let nativeConnection: NativeConnection | undefined;
  if (o.worker !== false) {
    nativeConnection = await NativeConnection.connect({ address: o.temporalAddress });
    const nc = nativeConnection;
    cleanups.push(() => nc.close());
    worker = await createTradeWorker({
      connection: nativeConnection,
      namespace: o.namespace,
      taskQueue: o.taskQueue,
      workflowBundle: o.workflowBundle,
      deps: {
        exchange,
        store: createPgTradeStore(pool),
        redis,
        logger: logger.child({ component: 'activities' }),
        recvWindowMs: o.exchange.recvWindowMs,
      },
    });
    workerRun = worker.run();
  }

  let bridge: DecisionBridge | undefined;
  if (o.bridge) {
    bridge = new DecisionBridge({
      redis,
      temporal,
      recorder: createPgDecisionRecorder(pool),
      logger: logger.child({ component: 'bridge' }),
      taskQueue: o.taskQueue,
      defaultOrderTimeoutMs: o.defaultOrderTimeoutMs,
      ...o.bridge,
    });
    await bridge.start();
  }

  let stopped: Promise<void> | undefined;
  return {
    pool,
    redis,
    exchange,
    temporal,
    worker,
    bridge,
    stop() {
      stopped ??= (async () => {
        await bridge?.stop();
        if (worker && worker.getState() === 'RUNNING') worker.shutdown();
        await workerRun;
        await nativeConnection?.close();
        await clientConnection.close();
        redis.disconnect();
        await exchange.close();
        await pool.end();
      })();
      return stopped;
    },
  };
}

/**
 * A running service for trade tests: the suite's Temporal dev server, Redis and Postgres (in a
 * database of its own), an in-process paper exchange over HTTP, and the worker. Trades are
 * started the way the bridge starts them, or pushed onto risk_decisions when `bridge` is on.
 */
import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import Redis from 'ioredis';
import { Client as PgClient } from 'pg';
import { createLogger } from '../../src/logging';
import { startService, type ExchangeEndpoint, type RunningService } from '../../src/operations/service';
import {
  PAPER_DEFAULT_API_KEY,
  PAPER_DEFAULT_API_SECRET,
  startPaperExchange,
  type PaperExchange,
  type PaperExchangeOptions,
} from '../../src/paper-exchange';
import { RiskDecisionSchema, workflowIdFor } from '../../src/shared/decision';
import type { TradeInput, TradeState } from '../../src/shared/trade';
import type { RiskLimits } from '../../src/risk/pre-trade-guard';
import { bundleWorkflows } from '../../src/worker/worker';
import { startSearchAttributes } from '../../src/bridge/workflow-starter';
import { approvedDecision } from './decisions';
import { freshDatabase, type FreshDatabase } from './fresh-database';
import { poll } from './poll';
import { testServices } from './services';

export interface TradeHarness {
  paper: PaperExchange;
  svc: RunningService;
  redis: Redis;
  pg: PgClient;
  db: FreshDatabase;
  taskQueue: string;
  /** A decision id unique to this run. */
  id(name: string): string;
  /** Starts TradeExecution for a decision (fields as on the stream; defaults: BUY 0.001 BTCUSDT MARKET). */
  start(decision: Record<string, unknown>, defaultOrderTimeoutMs?: number, extra?: Partial<TradeInput>): Promise<WorkflowHandle>;
  /** Waits for the workflow's result (its final state). */
  result(handle: WorkflowHandle): Promise<TradeState>;
  state(handle: WorkflowHandle): Promise<TradeState>;
  /** Another worker process's worth of service (worker and its user data stream) on the same queues, database and exchange. */
  startAnotherWorker(): Promise<RunningService>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  name: string;
  paper?: PaperExchangeOptions;
  worker?: boolean;
  recvWindowMs?: number;
  /** Deliver fills by the user data stream (default on), or by polling only. */
  push?: boolean;
  /** Also run the bridge, reading risk_decisions (after the shared Redis is flushed). */
  bridge?: boolean;
  /** Pre-trade risk limits (default: the service's defaults). */
  risk?: RiskLimits;
  /** selfTradePreventionMode sent with every order (BINANCE_STP_MODE); default: none sent, the symbol's default. */
  stpMode?: ExchangeEndpoint['selfTradePreventionMode'];
}

let bundle: ReturnType<typeof bundleWorkflows> | undefined;

export async function startTradeHarness(o: HarnessOptions): Promise<TradeHarness> {
  const env = testServices();
  const run = randomBytes(3).toString('hex');
  const redis = new Redis(env.redisUrl);
  if (o.bridge) await redis.flushdb();
  const db = await freshDatabase(env.databaseUrl, o.name.replace(/\W/g, '_'));
  const paper = await startPaperExchange({ port: 0, seed: 11, priceStepMs: 0, ...o.paper });
  const taskQueue = `${o.name}-${run}`;
  bundle ??= bundleWorkflows();
  const account = o.paper?.accounts?.[0];
  const serviceOptions: Parameters<typeof startService>[0] = {
    temporalAddress: env.temporalAddress,
    namespace: env.namespace,
    taskQueue,
    // As npm start runs it: order-sending activities on their own queue.
    orderTaskQueue: `${taskQueue}-orders`,
    databaseUrl: db.url,
    redisUrl: env.redisUrl,
    exchange: {
      baseUrl: paper.url,
      apiKey: account?.apiKey ?? PAPER_DEFAULT_API_KEY,
      apiSecret: account?.apiSecret ?? PAPER_DEFAULT_API_SECRET,
      recvWindowMs: o.recvWindowMs ?? 2000,
      wsApiUrl: o.push === false ? undefined : paper.wsUrl,
      ...(o.stpMode ? { selfTradePreventionMode: o.stpMode } : {}),
    },
    defaultOrderTimeoutMs: 30_000,
    worker: o.worker ?? true,
    bridge: o.bridge ? { consumer: `${o.name}-${run}`, claimIdleMs: 5_000 } : false,
    workflowBundle: await bundle,
    ...(o.risk ? { risk: o.risk } : {}),
    logger: createLogger(o.name, process.env.TEST_LOG_LEVEL ?? 'warn'),
  };
  const svc = await startService(serviceOptions);
  const others: RunningService[] = [];
  const pg = new PgClient({ connectionString: db.url });
  await pg.connect();

  return {
    paper,
    svc,
    redis,
    pg,
    db,
    taskQueue,
    id: (name) => `${o.name}-${run}-${name}`,
    async start(raw, defaultOrderTimeoutMs = 30_000, extra = {}) {
      const { decision_id, ...fields } = raw;
      const decision = RiskDecisionSchema.parse(approvedDecision(decision_id as string, fields));
      const input: TradeInput = { decision, defaultOrderTimeoutMs, orderTaskQueue: `${taskQueue}-orders`, ...extra };
      return svc.temporal.workflow.start('TradeExecution', {
        taskQueue,
        workflowId: workflowIdFor(decision.decision_id),
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: startSearchAttributes(decision),
      });
    },
    result: (handle) => handle.result() as Promise<TradeState>,
    state: (handle) => handle.query<TradeState>('getState'),
    async startAnotherWorker() {
      const other = await startService({ ...serviceOptions, bridge: false });
      others.push(other);
      return other;
    },
    async stop() {
      for (const other of others) await other.stop();
      await svc.stop();
      await pg.end();
      await paper.close();
      await db.drop();
      redis.disconnect();
    },
  };
}

/** Polls `probe` until it returns something truthy. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  return poll(what, probe, timeoutMs);
}

export interface UseTradeHarnessOptions {
  /** Before each test: the BTCUSDT price to set (default '60000'), or false for none. */
  price?: string | false;
  /** Before each test, clear the paper exchange's faults (default true). */
  clearFaults?: boolean;
  /** After all tests, before the harness stops (e.g. terminating trades left running). */
  beforeStop?: () => unknown;
}

/**
 * The suite's set-up, shared by the trade tests: starts a harness before all tests, stops it
 * after them, and before each test clears the exchange's faults and sets the BTCUSDT price.
 * Returns the harness (its members read once beforeAll has run).
 */
export function useTradeHarness(o: HarnessOptions, each: UseTradeHarnessOptions = {}): TradeHarness {
  let h: TradeHarness | undefined;
  beforeAll(async () => {
    h = await startTradeHarness(o);
  }, 120_000);
  afterAll(async () => {
    await each.beforeStop?.();
    await h?.stop();
  });
  const price = each.price ?? '60000';
  if (price !== false || each.clearFaults !== false) {
    beforeEach(() => {
      if (each.clearFaults !== false) h!.paper.faults.clear();
      if (price !== false) h!.paper.setPrice('BTCUSDT', price);
    });
  }
  return new Proxy({} as TradeHarness, {
    get(_target, key) {
      if (!h) throw new Error(`the trade harness '${o.name}' is not started yet (read in beforeAll or a test)`);
      return Reflect.get(h, key);
    },
  });
}

/**
 * The environment for `npm start`'s entry point (src/operations/main.ts) with only the worker
 * role, as a separate process on the harness's queues, database and exchange; `extra` adds to it.
 */
export function workerProcessEnv(h: TradeHarness, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = testServices();
  return {
    ...process.env,
    TRADE_EXEC_ROLES: 'worker',
    TEMPORAL_ADDRESS: env.temporalAddress,
    TEMPORAL_NAMESPACE: env.namespace,
    TEMPORAL_TASK_QUEUE: h.taskQueue,
    // The harness starts trades with their order-sending activities on this queue.
    TEMPORAL_ORDER_TASK_QUEUE: `${h.taskQueue}-orders`,
    DATABASE_URL: h.db.url,
    REDIS_URL: env.redisUrl,
    BINANCE_BASE_URL: h.paper.url,
    BINANCE_API_KEY: PAPER_DEFAULT_API_KEY,
    BINANCE_API_SECRET: PAPER_DEFAULT_API_SECRET,
    METRICS_PORT: '0',
    RECONCILE_EVERY_MS: '0',
    ...extra,
  };
}

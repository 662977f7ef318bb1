/**
 * Helpers shared by the operator-facing tests (CLI, Temporal UI, logs): run the CLI as a child
 * process, and bring up a whole service (worker + bridge) with a paper exchange.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import Redis from 'ioredis';
import { createLogger, type Logger } from '../../src/logging';
import { dec } from '../../src/shared/exact-decimal';
import { startService, type RunningService } from '../../src/operations/service';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import type { TradeState } from '../../src/shared/trade';
import { bundleWorkflows } from '../../src/worker/worker';
import { getStateQuery } from '../../workflows/definitions';
import { freshDatabase, type FreshDatabase } from '../support/fresh-database';
import { testServices } from '../support/services';

export const CLI_BIN = path.resolve(__dirname, '../../bin/trade-exec.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCliProcess(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_BIN, ...args], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 99) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A Redis URL on the same server with its own logical database (test files stay apart). */
export function redisDbUrl(url: string, db: number): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

// ---------------------------------------------------------------------------------------------
// A whole service (worker + bridge) on the suite's Temporal/Postgres/Redis and a paper exchange,
// as the CLI, UI and log tests use it.

export interface TestStack {
  run: string;
  taskQueue: string;
  paper: PaperExchange;
  db: FreshDatabase;
  svc: RunningService;
  redis: Redis;
  redisUrl: string;
  /** Environment for the CLI (and main.ts) pointing at this stack. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startTestStack(name: string, o: { redisDb: number; logger?: Logger; bundle?: WorkflowBundleWithSourceMap }): Promise<TestStack> {
  const services = testServices();
  const run = randomBytes(3).toString('hex');
  const taskQueue = `${name}-${run}`;
  const redisUrl = redisDbUrl(services.redisUrl, o.redisDb);
  const redis = new Redis(redisUrl);
  await redis.flushdb();
  const db = await freshDatabase(services.databaseUrl, name.replace(/[^a-z0-9]/g, '_'));
  const paper = await startPaperExchange({ port: 0, seed: 11 });
  const svc = await startService({
    temporalAddress: services.temporalAddress,
    namespace: services.namespace,
    taskQueue,
    databaseUrl: db.url,
    redisUrl,
    exchange: { baseUrl: paper.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, recvWindowMs: 5000 },
    defaultOrderTimeoutMs: 10 * 60_000,
    bridge: { consumer: taskQueue, claimIdleMs: 5_000 },
    workflowBundle: o.bundle ?? (await bundleWorkflows()),
    logger: o.logger ?? createLogger(name, process.env.TEST_LOG_LEVEL ?? 'warn'),
  });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: services.temporalAddress,
    TEMPORAL_NAMESPACE: services.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    REDIS_URL: redisUrl,
    DATABASE_URL: db.url,
    BINANCE_BASE_URL: paper.url,
    BINANCE_API_KEY: PAPER_DEFAULT_API_KEY,
    BINANCE_API_SECRET: PAPER_DEFAULT_API_SECRET,
  };
  return {
    run,
    taskQueue,
    paper,
    db,
    svc,
    redis,
    redisUrl,
    env,
    async stop() {
      await svc.stop().catch(() => undefined);
      await paper.close().catch(() => undefined);
      redis.disconnect();
      await db.drop().catch(() => undefined);
    },
  };
}

/** Polls the workflow's getState until `predicate` holds. */
export async function waitForState(
  svc: RunningService,
  workflowId: string,
  predicate: (s: TradeState) => boolean,
  timeoutMs = 60_000,
): Promise<TradeState> {
  const deadline = Date.now() + timeoutMs;
  let last: TradeState | undefined;
  let lastError = '';
  for (;;) {
    try {
      last = await svc.temporal.workflow.getHandle(workflowId).query(getStateQuery);
      if (predicate(last)) return last;
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`${workflowId}: state not reached within ${timeoutMs} ms; last status ${last?.status ?? '-'} ${lastError}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A LIMIT BUY price far below the market, so the order rests: half the price to the cent, as an
 * exact decimal written the way the service writes it back ("30073.7", never "30073.70"), so a
 * test can look for it in a trade's state (a fixed two places failed whenever the cents ended in 0).
 */
export function restingBuyPrice(paper: PaperExchange, symbol = 'BTCUSDT'): string {
  return dec(paper.price(symbol)).mul('0.5').toDecimalPlaces(2).toString();
}

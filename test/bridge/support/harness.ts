/**
 * What the bridge tests share: decisions to push, bridge child processes (src/bridge/main.ts, as
 * operators run it), a stub worker that completes TradeExecution at once (so that a second start
 * of a finished workflow would show up as a second run), and reading the outcome back from
 * Temporal visibility, Redis and Postgres.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { createPool } from '../../../src/persistence/db';
import { migrate } from '../../../src/persistence/migrate';
import { freshDatabase, type FreshDatabase } from '../../support/fresh-database';
import { testServices, type TestServices } from '../../support/services';
import { CONSUMER_GROUP, RISK_DECISIONS_STREAM } from '../../../src/shared/streams';
import { until } from '../../support/streams';

export const ROOT = path.resolve(__dirname, '../../..');
export const STREAM = RISK_DECISIONS_STREAM;
export const DEAD = 'risk_decisions:dead';
export const GROUP = CONSUMER_GROUP;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export { approvedDecision as approve } from '../../support/decisions';

/** XADDs one `data` entry per decision, in pipelined chunks; returns the entry ids in order. */
export async function pushDecisions(redis: Redis, decisions: Array<Record<string, unknown>>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < decisions.length; i += 500) {
    const p = redis.pipeline();
    for (const d of decisions.slice(i, i + 500)) p.xadd(STREAM, '*', 'data', JSON.stringify(d));
    for (const [err, id] of (await p.exec())!) {
      if (err) throw err;
      ids.push(id as string);
    }
  }
  return ids;
}

/** Starts every test from an empty stream, dead-letter stream and group. */
export async function resetStreams(redis: Redis): Promise<void> {
  await redis.del(STREAM, DEAD);
}

export interface PendingSummary {
  total: number;
  byConsumer: Record<string, number>;
}

export async function pending(redis: Redis): Promise<PendingSummary> {
  const r = (await redis.xpending(STREAM, GROUP)) as [number, string | null, string | null, Array<[string, string]> | null];
  const byConsumer: Record<string, number> = {};
  for (const [c, n] of r[3] ?? []) byConsumer[c] = Number(n);
  return { total: Number(r[0]), byConsumer };
}

export async function groupInfo(redis: Redis): Promise<{ entriesRead: number; lag: number | null; pending: number; lastDeliveredId: string }> {
  const groups = (await redis.xinfo('GROUPS', STREAM)) as unknown[][];
  for (const g of groups) {
    const o: Record<string, unknown> = {};
    for (let i = 0; i + 1 < g.length; i += 2) o[String(g[i])] = g[i + 1];
    if (o.name === GROUP) {
      return {
        entriesRead: Number(o['entries-read'] ?? 0),
        lag: o.lag === null || o.lag === undefined ? null : Number(o.lag),
        pending: Number(o.pending),
        lastDeliveredId: String(o['last-delivered-id']),
      };
    }
  }
  throw new Error(`group ${GROUP} not found on ${STREAM}`);
}

/** Everything delivered to the group and acknowledged: nothing left for a bridge to do. */
export async function streamSettled(redis: Redis): Promise<boolean> {
  const g = await groupInfo(redis);
  return g.pending === 0 && g.lag === 0;
}

// -----------------------------------------------------------------------------------------------
// Temporal

export interface Execution {
  workflowId: string;
  runId: string;
  status: string;
  startTime: Date;
}

/** Every execution (run) on a task queue, from visibility. */
export async function executions(client: Client, taskQueue: string): Promise<Execution[]> {
  const out: Execution[] = [];
  for await (const wf of client.workflow.list({ query: `TaskQueue = '${taskQueue}'`, pageSize: 1000 })) {
    out.push({ workflowId: wf.workflowId, runId: wf.runId, status: wf.status.name, startTime: wf.startTime });
  }
  return out;
}

export async function countExecutions(client: Client, taskQueue: string): Promise<number> {
  return (await client.workflow.count(`TaskQueue = '${taskQueue}'`)).count;
}

/**
 * Waits until visibility shows `expected` executions, then once more a moment later (visibility
 * lags the starts a little; a late extra run must have the chance to appear).
 */
export async function settledExecutions(client: Client, taskQueue: string, expected: number, timeoutMs = 90_000): Promise<Execution[]> {
  await until(`${expected} executions on ${taskQueue}`, async () => (await countExecutions(client, taskQueue)) >= expected, timeoutMs);
  await sleep(1500);
  return executions(client, taskQueue);
}

/** Runs per workflow id. */
export function runsById(list: Execution[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of list) m.set(e.workflowId, (m.get(e.workflowId) ?? 0) + 1);
  return m;
}

export async function temporalClient(address: string, namespace: string): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address });
  return { client: new Client({ connection, namespace }), close: () => connection.close() };
}

let stubBundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** A worker whose TradeExecution returns at once: started workflows close within moments. */
export async function startStubWorker(address: string, namespace: string, taskQueue: string): Promise<{ stop(): Promise<void> }> {
  stubBundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('./stub-workflows'), logger: silentBundleLogger });
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowBundle: await stubBundle,
    maxConcurrentWorkflowTaskExecutions: 50,
  });
  const running = worker.run();
  return {
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

const silentBundleLogger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (m: string) => console.error(m),
  log: () => undefined,
};

// -----------------------------------------------------------------------------------------------
// Bridge processes

export interface BridgeProcess {
  readonly consumer: string;
  readonly child: ChildProcess;
  /** Resolves with the metrics URL once the process logged `bridge ready`. */
  readonly ready: Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** The last lines the process wrote (stdout and stderr; the last 400 are kept). */
  tail(n?: number): string;
  /** All JSON log records written so far whose msg matches. */
  logs(msg: string | RegExp): Array<Record<string, unknown>>;
}

export interface SpawnBridgeOptions {
  consumer: string;
  taskQueue: string;
  env: { temporalAddress: string; redisUrl: string; databaseUrl: string; namespace: string };
  claimIdleMs?: number;
  batchSize?: number;
  concurrency?: number;
  /** Log records whose msg matches are kept for `logs()` (errors always are). Level must be info or lower: readiness is an info line. */
  keepLogs?: RegExp;
  /** More environment variables for the process (DECISION_SIGNING_KEY, DECISION_MAX_AGE_MS, ...). */
  extraEnv?: Record<string, string>;
}

const live = new Set<ChildProcess>();

/** Spawns `node -r tsx/cjs src/bridge/main.ts` with the test services' addresses. */
export function spawnBridge(o: SpawnBridgeOptions): BridgeProcess {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', 'src/bridge/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: o.env.temporalAddress,
      TEMPORAL_NAMESPACE: o.env.namespace,
      TEMPORAL_TASK_QUEUE: o.taskQueue,
      REDIS_URL: o.env.redisUrl,
      DATABASE_URL: o.env.databaseUrl,
      BRIDGE_CONSUMER: o.consumer,
      BRIDGE_CLAIM_IDLE_MS: String(o.claimIdleMs ?? 1000),
      BRIDGE_BATCH_SIZE: String(o.batchSize ?? 100),
      BRIDGE_CONCURRENCY: String(o.concurrency ?? 32),
      METRICS_PORT: '0',
      LOG_LEVEL: "info",
      ...o.extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: string[] = [];
  const kept: Array<Record<string, unknown>> = [];
  let readyResolve!: (url: string) => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<string>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => undefined);
  const readyTimer = setTimeout(
    () => readyReject(new Error(`bridge ${o.consumer} not ready within 60 s (it logs "bridge ready" at level info):\n${lines.slice(-30).join('\n')}`)),
    60_000,
  );
  void ready.then(
    () => clearTimeout(readyTimer),
    () => clearTimeout(readyTimer),
  );
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > 400) lines.shift();
    if (!line.startsWith('{')) return;
    // Parse only what may be asked for: a busy bridge writes thousands of lines.
    const wanted = line.includes('"msg":"bridge ready"') || /"level":[56]0/.test(line) || (o.keepLogs !== undefined && o.keepLogs.test(line));
    if (!wanted) return;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (rec.msg === 'bridge ready') readyResolve(String(rec.metrics));
    if (o.keepLogs?.test(String(rec.msg)) || rec.level === 50 || rec.level === 60) kept.push(rec);
  };
  for (const s of [child.stdout!, child.stderr!]) {
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      readyReject(new Error(`bridge ${o.consumer} exited (code ${code}, signal ${signal}) before it was ready:\n${lines.slice(-30).join('\n')}`));
      resolve({ code, signal });
    });
  });
  return {
    consumer: o.consumer,
    child,
    ready,
    exited,
    isRunning: () => child.exitCode === null && child.signalCode === null,
    tail: (n = 30) => lines.slice(-n).join('\n'),
    logs: (msg) => kept.filter((r) => (typeof msg === 'string' ? r.msg === msg : msg.test(String(r.msg)))),
  };
}

/** Kills every bridge process still running (afterAll / afterEach). */
export async function killAllBridges(): Promise<void> {
  const all = [...live];
  for (const c of all) c.kill('SIGKILL');
  await Promise.all(all.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
}

/** Scrapes one metric value (sum over its label sets) from a bridge's /metrics. */
export async function scrape(metricsUrl: string, name: string): Promise<number> {
  const res = await fetch(metricsUrl);
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

/** What a bridge test runs against: the test services, a Redis client, a database of its own and a Temporal client. */
export interface BridgeServices {
  env: TestServices;
  redis: Redis;
  db: FreshDatabase;
  pool: Pool;
  temporal: { client: Client; close(): Promise<void> };
}

/**
 * Opens the services in beforeAll (a fresh database named after `dbPrefix`, migrated when
 * `migrated`) and closes them in afterAll, after killing every bridge still running. The fields
 * are there from beforeAll on.
 */
export function useBridgeServices(dbPrefix: string, o: { migrated?: boolean } = {}): BridgeServices {
  const s = {} as BridgeServices;
  beforeAll(async () => {
    s.env = testServices();
    s.redis = new Redis(s.env.redisUrl);
    s.db = await freshDatabase(s.env.databaseUrl, dbPrefix);
    s.pool = createPool(s.db.url);
    if (o.migrated) await migrate(s.pool);
    s.temporal = await temporalClient(s.env.temporalAddress, s.env.namespace);
  });
  afterAll(async () => {
    await killAllBridges();
    await s.temporal?.close();
    await s.pool?.end();
    await s.db?.drop();
    s.redis?.disconnect();
  });
  return s;
}

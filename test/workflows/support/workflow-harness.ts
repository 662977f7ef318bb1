/**
 * The middle layer: the project's workflows (one bundle per jest run) on a real Worker (the
 * suite's Temporal dev server), with activities built by the real factories over a MemoryTradeStore and a StubExchange. Redis
 * (the suite's) carries the report stream (one per harness) and alerts. One task queue per
 * harness; order-sending activities share it (no orderTaskQueue).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import Redis from 'ioredis';
import { createAlertActivities } from '../../../activities/alert-activities';
import { createBookkeepingActivities } from '../../../activities/bookkeeping-activities';
import { createExchangeActivities } from '../../../activities/exchange-activities';
import { createPushCoverageActivities, type PushCoverageSource } from '../../../activities/push-coverage-activities';
import { createRiskActivities } from '../../../activities/risk-activities';
import { createLogger } from '../../../src/logging';
import { createMemorySendLog } from '../../../src/persistence/send-log';
import { clientOrderIdFor } from '../../../src/shared/client-order-id';
import { RiskDecisionSchema, workflowIdFor } from '../../../src/shared/decision';
import type { OrderPurpose, TradeInput, TradeState } from '../../../src/shared/trade';
import { bundleWorkflows } from '../../../src/worker/worker';
import type { CoverageAnswer, CoverageQuery } from '../../../src/worker/push-coverage';
import { startSearchAttributes } from '../../../src/bridge/workflow-starter';
import { approvedDecision } from '../../support/decisions';
import { poll } from '../../support/poll';
import { testServices } from '../../support/services';
import { MemoryTradeStore } from './memory-trade-store';
import { StubExchange } from './stub-exchange';

/** Small, so that settling an unknown outcome waits well under a second. */
export const RECV_WINDOW_MS = 300;
export const SETTLE_MARGIN_MS = 50;

/** TradeExecution's signature, for typed handles (the workflow is started by name, as the bridge does). */
export type TradeWorkflow = (input: TradeInput) => Promise<TradeState>;
export type TradeHandle = WorkflowHandle<TradeWorkflow>;

export interface WorkflowHarness {
  taskQueue: string;
  client: Client;
  exchange: StubExchange;
  store: MemoryTradeStore;
  redis: Redis;
  reportStream: string;
  /** Coverage checks the workflow made (only with `pushCoverage`), with when they came. */
  coverageQueries: Array<CoverageQuery & { at: number }>;
  /**
   * With `pushCoverage`: the user data stream's answer to a check. Unset, it vouches for
   * nothing (the answer the activity gives on a worker without a stream).
   */
  coverage: ((q: CoverageQuery) => CoverageAnswer) | undefined;
  id(name: string): string;
  start(decision: Record<string, unknown>, extra?: Partial<TradeInput>, options?: { workflowTaskTimeout?: Duration }): Promise<TradeHandle>;
  state(handle: WorkflowHandle): Promise<TradeState>;
  /** Waits until the trade's state satisfies `pred`; returns that state. */
  until(handle: WorkflowHandle, what: string, pred: (s: TradeState) => boolean, timeoutMs?: number): Promise<TradeState>;
  stop(): Promise<void>;
}

export interface WorkflowHarnessOptions {
  name: string;
  /** Give the activities an order update router (a fake one, answering `h.coverage`); absent: the worker has no user data stream. */
  pushCoverage?: boolean;
}

export async function startWorkflowHarness(o: WorkflowHarnessOptions): Promise<WorkflowHarness> {
  const env = testServices();
  const run = randomBytes(3).toString('hex');
  const taskQueue = `wf-${o.name}-${run}`;
  const reportStream = `trade_executions_wf_${o.name}_${run}`;
  const logger = createLogger(`wf-${o.name}`, process.env.TEST_LOG_LEVEL ?? 'error');
  const redis = new Redis(env.redisUrl);
  const exchange = new StubExchange(RECV_WINDOW_MS);
  const store = new MemoryTradeStore();
  const sendLog = createMemorySendLog();
  const coverageQueries: WorkflowHarness['coverageQueries'] = [];
  const uncovered = (q: CoverageQuery): CoverageAnswer => ({ covered: [], uncovered: q.orders.map((x) => x.clientOrderId), snapshots: [] });
  const orderUpdates: PushCoverageSource | undefined = o.pushCoverage
    ? {
        cover: async (q) => {
          coverageQueries.push({ ...q, at: Date.now() });
          return (harness.coverage ?? uncovered)(q);
        },
        watchSent: () => undefined,
        sendFinished: () => undefined,
      }
    : undefined;
  const client$ = exchange.client();
  const activities = {
    ...createExchangeActivities({
      exchange: client$,
      logger,
      recvWindowMs: RECV_WINDOW_MS,
      settleMarginMs: SETTLE_MARGIN_MS,
      maxSendDelayMs: 1000,
      requestTimeoutMs: 1000,
      sendLog,
      ...(orderUpdates ? { orderUpdates } : {}),
    }),
    ...createBookkeepingActivities({ exchange: client$, store, redis, logger, reportStream }),
    ...createAlertActivities({ redis, logger }),
    ...createRiskActivities({ exchange: client$, pool: store.pool(), logger, sendLog }),
    ...createPushCoverageActivities(orderUpdates ? { orderUpdates } : {}),
  };
  const nativeConnection = await NativeConnection.connect({ address: env.temporalAddress });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: env.namespace,
    taskQueue,
    workflowBundle: { code: await workflowCode() },
    activities,
    // Short: a test's refused send or failed read is retried soon.
    shutdownGraceTime: '1s',
  });
  const running = worker.run();
  const connection = await Connection.connect({ address: env.temporalAddress });
  const client = new Client({ connection, namespace: env.namespace });

  const harness: WorkflowHarness = {
    coverage: undefined,
    taskQueue,
    client,
    exchange,
    store,
    redis,
    reportStream,
    coverageQueries,
    id: (name) => `wf-${o.name}-${run}-${name}`,
    async start(raw, extra = {}, options = {}) {
      const decision = RiskDecisionSchema.parse(approvedDecision(String(raw.decision_id), raw));
      const input: TradeInput = { decision, defaultOrderTimeoutMs: 30_000, ...extra };
      return client.workflow.start<TradeWorkflow>('TradeExecution', {
        taskQueue,
        workflowId: workflowIdFor(decision.decision_id),
        args: [input],
        workflowExecutionTimeout: '2 minutes',
        ...(options.workflowTaskTimeout ? { workflowTaskTimeout: options.workflowTaskTimeout } : {}),
        typedSearchAttributes: startSearchAttributes(decision),
      });
    },
    state: (handle) => handle.query<TradeState>('getState'),
    until: (handle, what, pred, timeoutMs) =>
      eventually(what, async () => {
        const s = await handle.query<TradeState>('getState');
        return pred(s) ? s : undefined;
      }, timeoutMs),
    async stop() {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
      await redis.del(reportStream);
      redis.disconnect();
    },
  };
  return harness;
}

/** The durations of the timers the workflow started, in ms, in order (from its history). */
export async function timersOf(handle: WorkflowHandle): Promise<number[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const d = e.timerStartedEventAttributes?.startToFireTimeout;
    return d ? [Number(d.seconds ?? 0) * 1000 + Math.round((d.nanos ?? 0) / 1e6)] : [];
  });
}

/** The activity types the workflow scheduled (ordinary activities, not local ones), in order. */
export async function activitiesOf(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    return name ? [name] : [];
  });
}

/**
 * The project's workflows (workflows/, bundled by bundleWorkflows as the service's worker does),
 * bundled once per jest run and shared by the test files through the run's temp dir: webpack
 * takes ~4 s a file otherwise.
 */
async function workflowCode(): Promise<string> {
  const servicesFile = process.env.TEST_SERVICES_FILE;
  const cached = servicesFile ? path.join(path.dirname(servicesFile), 'workflow-tests-bundle.js') : undefined;
  if (cached && fs.existsSync(cached)) return fs.readFileSync(cached, 'utf8');
  const { code } = await bundleWorkflows();
  if (cached) {
    const tmp = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, cached);
  }
  return code;
}

/** The client order id the workflow derives for a decision's order (readable, or hashed when too long). */
export function cidFor(decisionId: string, purpose: OrderPurpose = { kind: 'entry' }): string {
  return clientOrderIdFor(workflowIdFor(decisionId), decisionId, purpose);
}

/** Polls `probe` until it returns something truthy. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  return poll(what, probe, timeoutMs, 50);
}

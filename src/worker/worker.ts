/**
 * The Temporal worker: serves TradeExecution workflows and their activities on one task queue.
 */
import path from 'node:path';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { DEFAULT_MAX_CACHED_WORKFLOWS } from '../config';

export const WORKFLOWS_PATH = path.resolve(__dirname, '../../workflows');

export interface TradeWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A pre-built bundle (tests build it once); otherwise the worker bundles `workflows/` itself. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  identity?: string;
  /** Default DEFAULT_MAX_CACHED_WORKFLOWS (400): enough for every trade of a burst or a 50/s stream; resting trades are evicted and replayed when they wake. */
  maxCachedWorkflows?: number;
}

export async function createTradeWorker(o: TradeWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.identity ? { identity: o.identity } : {}),
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities(o.deps),
    // A resting trade wakes only when its order changes or every half hour (push-coverage.ts), so
    // a replay of it is rare; a cache the size of all of them would cost ~0.4 MB each (5,000: 2 GB).
    maxCachedWorkflows: o.maxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS,
    maxConcurrentActivityTaskExecutions: 200,
    maxConcurrentWorkflowTaskExecutions: 100,
  });
}

/**
 * The activities that send orders to the exchange: what the order task queue serves (the
 * workflow's `sender` and `canceller` proxies, workflows/trade-activities.ts, use that queue).
 */
export const ORDER_SENDING_ACTIVITIES = ['placeOrder', 'placeOrderList', 'placeProtectedEntry', 'replaceOrder', 'cancelOrder', 'cancelOrderList', 'amendOrderQuantity'] as const;

/**
 * An activity-only worker on the order task queue. Its slots are its own, so a submission
 * starts as soon as a worker is free of other submissions, whatever else is queued.
 */
export async function createOrderWorker(o: Omit<TradeWorkerOptions, 'workflowBundle'>): Promise<Worker> {
  const all = createActivities(o.deps);
  // Only those this build has (a tree with older activities lacks the newest ones).
  const activities = Object.fromEntries(ORDER_SENDING_ACTIVITIES.filter((name) => name in all).map((name) => [name, all[name]]));
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.identity ? { identity: o.identity } : {}),
    activities,
    maxConcurrentActivityTaskExecutions: 50,
  });
}

/** Bundles the workflow code once; pass the result to several workers (tests, benchmarks). */
export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: undefined });
}

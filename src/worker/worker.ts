/**
 * The Temporal worker: serves TradeExecution workflows and their activities on one task queue.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger, VersioningBehavior, WorkerDeploymentVersion } from '@temporalio/common';
import {
  NativeConnection,
  Worker,
  bundleWorkflowCode,
  type WorkerDeploymentOptions,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { DEFAULT_MAX_CACHED_WORKFLOWS } from '../config';

/**
 * On shutdown (SIGTERM, a rolling restart) running activity attempts get this long to finish
 * before they are cancelled. The SDK's default is 0: every attempt in flight would be cancelled
 * at once and retried on another worker after a back-off (an order send settled by query
 * instead of by its own answer), which is what made a rolling restart slow. Below the 60 s a
 * supervisor waits before SIGKILL (compose's stop_grace_period, the stack's stop timeout).
 */
export const SHUTDOWN_GRACE_TIME = '20s';

export const WORKFLOWS_PATH = path.resolve(__dirname, '../../workflows');

/**
 * The Worker Deployment Version a worker declares (Worker Versioning, docs/deploys.md). The trade
 * worker and the order worker of a process must declare the same one: a pinned trade's order
 * activities are routed to its own version's pollers on the order queue.
 */
export interface WorkerVersioning {
  deploymentName: string;
  buildId: string;
  /** The behaviour of workflows that set none of their own (TradeExecution sets none). */
  defaultBehavior: VersioningBehavior;
}

/**
 * Workflow code for a worker. `code` is the text that runs and the text the build id hashes,
 * read once; `codePath` only says where it came from (logs). The SDK is given the code, never
 * the path: it would read the file again later, at Worker.create (after migrations and the wait
 * for Temporal), and a file replaced meanwhile would run as a version whose id names other code.
 */
export interface WorkflowCode {
  code: string;
  codePath?: string;
}

/** bundleWorkflowCode ends the bundle with this comment and a base64 source map; the SDK requires it. */
const INLINE_SOURCE_MAP = '//# sourceMappingURL=data:';

/**
 * Build id of workflow code: sha256 of the bundle's code, first 16 hex chars, so the same code is
 * the same version and any change to it is a new one. The trailing inline source map is left out:
 * it holds the absolute paths of the checkout that bundled it (measured: the same commit bundled
 * in /work/main and in /tmp/checkout-b gives two whole-file hashes but one code hash), and it does
 * not run. Hashing it would make each host that bundles from another directory a version of its own.
 */
export function buildIdOf(code: string): string {
  const map = code.lastIndexOf(INLINE_SOURCE_MAP);
  const runs = map > 0 ? code.slice(0, map) : code;
  return createHash('sha256').update(runs, 'utf8').digest('hex').slice(0, 16);
}

/** Reads a pre-built bundle (TEMPORAL_WORKFLOW_BUNDLE); the error says what is wrong with the file. */
export async function readWorkflowBundle(codePath: string): Promise<Required<WorkflowCode>> {
  const resolved = path.resolve(codePath);
  let code: string;
  try {
    code = await readFile(resolved, 'utf8');
  } catch (err) {
    // Node's fs errors carry `message` (not always `instanceof Error` across vm realms, e.g. jest).
    const message = typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
    throw new Error(`cannot read workflow bundle ${resolved}: ${message}`);
  }
  if (!code.includes(INLINE_SOURCE_MAP)) {
    throw new Error(`${resolved} is not a workflow bundle written by bundleWorkflowCode (npm run build:workflows): it has no inline source map`);
  }
  return { code, codePath: resolved };
}

/** The SDK's deployment options for a version: versioned polling with a default behaviour. */
export function deploymentOptionsOf(v: WorkerVersioning): WorkerDeploymentOptions {
  const version: WorkerDeploymentVersion = { deploymentName: v.deploymentName, buildId: v.buildId };
  return { version, useWorkerVersioning: true, defaultVersioningBehavior: v.defaultBehavior };
}

function versioningOptions(v: WorkerVersioning | undefined): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  return v ? { workerDeploymentOptions: deploymentOptionsOf(v) } : {};
}

export interface TradeWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A pre-built bundle (tests build it once, or TEMPORAL_WORKFLOW_BUNDLE); otherwise the worker bundles `workflows/` itself. */
  workflowBundle?: WorkflowCode;
  /** Absent: an unversioned worker (rolling restarts under the patched() rules). */
  versioning?: WorkerVersioning;
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
    ...workflowCodeOptions(o.workflowBundle),
    ...versioningOptions(o.versioning),
    activities: createActivities(o.deps),
    // A resting trade wakes only when its order changes or every half hour (push-coverage.ts), so
    // a replay of it is rare; a cache the size of all of them would cost ~0.4 MB each (5,000: 2 GB).
    maxCachedWorkflows: o.maxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS,
    maxConcurrentActivityTaskExecutions: 200,
    shutdownGraceTime: SHUTDOWN_GRACE_TIME,
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
    // The trade worker's version: without it, a pinned trade's activities on this queue would go
    // to whatever (unversioned or current) pollers serve it, not to its own version's code.
    ...versioningOptions(o.versioning),
    maxConcurrentActivityTaskExecutions: 50,
    shutdownGraceTime: SHUTDOWN_GRACE_TIME,
  });
}

function workflowCodeOptions(b: WorkflowCode | undefined): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (!b) return { workflowsPath: WORKFLOWS_PATH };
  return { workflowBundle: { code: b.code } };
}

/** The repository root: webpack's context for bundling (see bundleWorkflows). */
const PROJECT_ROOT = path.resolve(__dirname, '../..');

/**
 * Bundles the workflow code once (default `workflows/`); pass the result to several workers
 * (tests, benchmarks, build-workflow-bundle.ts). Webpack names modules by their path relative to
 * its context, which defaults to the cwd; pinning it to the repository root keeps the code (and so
 * its build id) the same whatever directory the worker or the build was started from.
 */
export async function bundleWorkflows(o: { workflowsPath?: string; logger?: Logger } = {}): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath: o.workflowsPath ?? WORKFLOWS_PATH,
    logger: o.logger,
    webpackConfigHook: (config) => ({ ...config, context: PROJECT_ROOT }),
  });
}

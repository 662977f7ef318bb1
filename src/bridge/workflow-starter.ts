/**
 * Starting `trade-<decision_id>` exactly once: REJECT_DUPLICATE within Temporal's retention, and
 * a way to ask whether it was started (for a decision whose earlier start's answer was lost).
 */
import { performance } from 'node:perf_hooks';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from '../logging';
import { sideOf, workflowIdFor, type RiskDecision } from '../shared/decision';
import { SA } from '../shared/search-attributes';
import type { TradeInput } from '../shared/trade';
import { DependencyError, describeTemporalFailure } from './dependency-error';
import type { BridgeMetrics } from './metrics';

export interface WorkflowStarterOptions {
  temporal: Client;
  taskQueue: string;
  workflowType: string;
  /** Passed to each trade: the queue its order-sending activities run on (see TradeInput). */
  orderTaskQueue?: string;
  eagerStart?: boolean;
  defaultOrderTimeoutMs: number;
  /** Deadline of one call, its gRPC retries included. */
  startTimeoutMs: number;
  metrics: BridgeMetrics;
  log: Logger;
}

/** The search attributes a trade's workflow starts with, so the UI can find it at once: status `validating`. */
export function startSearchAttributes(decision: RiskDecision) {
  return [
    { key: SA.symbol, value: decision.symbol },
    { key: SA.side, value: sideOf(decision.original_signal) ?? 'NONE' },
    { key: SA.orderType, value: decision.order_type },
    { key: SA.status, value: 'validating' },
    { key: SA.decisionId, value: decision.decision_id },
  ];
}

export class WorkflowStarter {
  constructor(private readonly opts: WorkflowStarterOptions) {}

  /** 'duplicate': the workflow exists already (a redelivery, a republished decision, a retried start). */
  async start(decision: RiskDecision, entryId: string): Promise<'started' | 'duplicate'> {
    const { temporal, startTimeoutMs, workflowType, taskQueue, orderTaskQueue, eagerStart, defaultOrderTimeoutMs, metrics, log } = this.opts;
    const workflowId = workflowIdFor(decision.decision_id);
    const input: TradeInput = {
      decision,
      streamEntryId: entryId,
      defaultOrderTimeoutMs,
      ...(orderTaskQueue ? { orderTaskQueue } : {}),
    };
    const side = sideOf(decision.original_signal);
    const t0 = performance.now();
    try {
      await temporal.connection.withDeadline(Date.now() + startTimeoutMs, () =>
        temporal.workflow.start(workflowType, {
          taskQueue,
          workflowId,
          args: [input],
          ...(eagerStart ? { requestEagerStart: true } : {}),
          // A decision id executes once, ever: also after its first workflow has finished
          // (within the namespace's retention; the decisions row covers the time after).
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          workflowIdConflictPolicy: 'FAIL',
          typedSearchAttributes: startSearchAttributes(decision),
          memo: { summary: `${side} ${decision.approved_size} ${decision.symbol} ${decision.order_type}` },
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'duplicate';
      throw new DependencyError('temporal', this.describeFailure(err), err);
    }
    metrics.startLatency.observe((performance.now() - t0) / 1000);
    metrics.started.inc();
    log.info({ decisionId: decision.decision_id, workflowId, entryId }, 'workflow started');
    return 'started';
  }

  /** Whether `trade-<id>` exists in Temporal (within retention); Temporal being down is waited out. */
  async exists(decisionId: string): Promise<boolean> {
    const { temporal, startTimeoutMs } = this.opts;
    try {
      await temporal.connection.withDeadline(Date.now() + startTimeoutMs, () =>
        temporal.workflow.getHandle(workflowIdFor(decisionId)).describe(),
      );
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw new DependencyError('temporal', this.describeFailure(err).replace('cannot start workflows', 'cannot tell whether a workflow was started'), err);
    }
  }

  private describeFailure(err: unknown): string {
    const address = (this.opts.temporal.connection as { options?: { address?: string } }).options?.address ?? 'the configured address';
    return describeTemporalFailure(address, err);
  }
}

/**
 * Activities of the Reconciliation workflow: thin wrappers over src/reconciliation/reconciler.ts,
 * which holds the logic (and is unit-testable without Temporal).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Reconciler } from '../src/reconciliation/reconciler';
import type { ReconciliationInput } from '../src/reconciliation/types';

export interface ReconciliationActivityDeps {
  /** Absent on workers without Postgres: the activities then fail without retrying. */
  reconciler?: Reconciler;
}

export function createReconciliationActivities(deps: ReconciliationActivityDeps) {
  const r = (): Reconciler => {
    if (!deps.reconciler) throw ApplicationFailure.nonRetryable('this worker has no reconciler configured (no Postgres pool)', 'NotConfigured');
    return deps.reconciler;
  };
  return {
    async reconciliationPlan(args: { runId: string; input?: ReconciliationInput }) {
      return r().plan(args.runId, args.input);
    },
    async reconcileSymbol(args: { runId: string; symbol: string; input?: ReconciliationInput; spent: number }) {
      return r().reconcileSymbol(args.runId, args.symbol, args.input, args.spent);
    },
    async reconcileBalances(args: { runId: string; input?: ReconciliationInput; spent: number }) {
      return r().reconcileBalances(args.runId, args.input, args.spent);
    },
    async relayOutbox(args: { runId: string; input?: ReconciliationInput }) {
      return r().relayOutbox(args.runId, args.input);
    },
    async finishReconciliation(args: {
      runId: string;
      input?: ReconciliationInput;
      checkedSymbols: string[];
      deferredSymbols: string[];
      balancesChecked: boolean;
      weight: number;
      error?: string;
    }) {
      const { runId, input, ...run } = args;
      return r().finish(runId, input, run);
    },
  };
}

/**
 * Reconciliation: one pass comparing Postgres with the exchange (recent trades, open orders,
 * balances), repairing what can be repaired and alerting on the rest. See
 * src/reconciliation/reconciler.ts for what is compared and repaired.
 *
 * Started by a Temporal Schedule (src/reconciliation/schedule.ts), not by a long-running loop:
 *  - the server owns the timing, so it survives worker restarts and deploys with no workflow to
 *    keep alive, and there is no history growth to manage with continue-as-new;
 *  - overlap policy SKIP: a slow run (waiting for request budget) never overlaps the next;
 *  - operators can pause, trigger or re-time it with `temporal schedule …` and see every run
 *    (and its summary as the result) in the UI;
 *  - each run is short and independent: a failed run alerts and the next one starts clean.
 *
 * Budget: each symbol step reports the weight it spent; the workflow passes the running total
 * to the next step, and a step that would not fit is deferred with the rest of the symbols to
 * the next run (the least recently checked symbols go first then).
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createReconciliationActivities } from '../activities/reconciliation-activities';
import type { ReconciliationInput, ReconciliationSummary } from '../src/reconciliation/types';

export const RECONCILIATION_WORKFLOW_TYPE = 'Reconciliation';

type Acts = ReturnType<typeof createReconciliationActivities>;

// A run is repeated by the schedule anyway: bounded retries, no endless loop on a persistent error.
const acts = proxyActivities<Acts>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 3, nonRetryableErrorTypes: ['NotConfigured'] },
});

export async function Reconciliation(input: ReconciliationInput = {}): Promise<ReconciliationSummary> {
  const runId = workflowInfo().workflowId;
  const checkedSymbols: string[] = [];
  let deferredSymbols: string[] = [];
  let balancesChecked = false;
  let weight = 0;
  try {
    const plan = await acts.reconciliationPlan({ runId, input });
    for (let i = 0; i < plan.symbols.length; i++) {
      const symbol = plan.symbols[i]!;
      const r = await acts.reconcileSymbol({ runId, symbol, input, spent: weight });
      weight += r.weight;
      if (r.deferred) {
        deferredSymbols = plan.symbols.slice(i);
        break;
      }
      checkedSymbols.push(symbol);
    }
    const b = await acts.reconcileBalances({ runId, input, spent: weight });
    weight += b.weight;
    balancesChecked = !b.deferred;
    await acts.relayOutbox({ runId, input });
    return await acts.finishReconciliation({ runId, input, checkedSymbols, deferredSymbols, balancesChecked, weight });
  } catch (err) {
    const error = describe(err);
    // Record and alert, then fail the run so it shows as failed in the schedule's history.
    await acts.finishReconciliation({ runId, input, checkedSymbols, deferredSymbols, balancesChecked, weight, error }).catch(() => undefined);
    throw ApplicationFailure.nonRetryable(`reconciliation ${runId} failed: ${error}`, 'ReconciliationFailed');
  }
}

function describe(err: unknown): string {
  let e: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  while (e && typeof e === 'object' && 'cause' in e && (e as { cause?: unknown }).cause) {
    e = (e as { cause?: unknown }).cause;
    if (e instanceof Error) message = e.message;
  }
  return message;
}

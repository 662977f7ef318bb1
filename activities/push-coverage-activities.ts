/**
 * The workflow's coverage check, a local activity: it runs on the worker the workflow runs on,
 * so the worker that answers "covered" is the one that then signals the order's events
 * (src/worker/push-coverage.ts has the rules). Without a user data stream nothing is covered
 * and the workflow polls as it always did.
 */
import type { CoverageAnswer, CoverageQuery } from '../src/worker/push-coverage';

export interface PushCoverageSource {
  cover(query: CoverageQuery): Promise<CoverageAnswer>;
  /**
   * An order is about to be sent for this workflow: its events are watched from the first one,
   * and held until `sendFinished` (the workflow learns what the response says from the response).
   */
  watchSent(order: { clientOrderId: string; symbol: string; workflowId: string }): void;
  /** The send returned (`view`: what the response said) or failed: held events newer than it are signalled. */
  sendFinished(order: { clientOrderId: string; view?: { status: string; executedQty: string } }): void;
}

export interface PushCoverageActivityDeps {
  /** The worker's order update router; absent when the worker has no user data stream. */
  orderUpdates?: PushCoverageSource;
}

export function createPushCoverageActivities(deps: PushCoverageActivityDeps) {
  return {
    async coverOrders(query: CoverageQuery): Promise<CoverageAnswer> {
      if (!deps.orderUpdates) return { covered: [], uncovered: query.orders.map((o) => o.clientOrderId), snapshots: [] };
      return deps.orderUpdates.cover(query);
    },
  };
}

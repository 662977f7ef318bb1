/**
 * Continue-as-new carry-over: a trade whose orders rest for days hands its whole state to the
 * next run (`resume`), which picks up where this one stopped. Nothing the run knows may be
 * lost on the way: no operator request half done, no pushed update unapplied.
 */
import { allHandlersFinished, condition, continueAsNew, workflowInfo } from '@temporalio/workflow';
import type { TradeInput, TradeState } from '../src/shared/trade';
import { hasPendingOperation } from './operator-requests';
import type { TradeContext } from './trade-context';

/**
 * Keeps the history bounded for orders that rest for days. Handlers must have finished, but an
 * update's handler waits for the follow loop to perform its operation: so an operation still
 * pending is performed first (the loop comes back here afterwards), never waited for.
 *
 * `holdsForPushes`: whether a push that arrived while the loop was acting is applied before
 * rolling over. The new run does not get it (the router forgets an order once its final state
 * is delivered, so no one would send it again). Under 'push-coverage' only: older histories
 * rolled over regardless.
 */
export async function continueAsNewIfDue(ctx: TradeContext, holdsForPushes: boolean): Promise<void> {
  const info = workflowInfo();
  const limit = ctx.input.historyEventLimit;
  if (!info.continueAsNewSuggested && !(limit !== undefined && info.historyLength >= limit)) return;
  const hasUnappliedPushes = (): boolean => holdsForPushes && ctx.pushes.length > 0;
  if (hasPendingOperation(ctx.state) || hasUnappliedPushes()) return;
  await condition(() => allHandlersFinished() || hasPendingOperation(ctx.state));
  if (hasPendingOperation(ctx.state) || hasUnappliedPushes()) return;
  await continueAsNew<(input: TradeInput) => Promise<TradeState>>({ ...ctx.input, resume: ctx.state });
}

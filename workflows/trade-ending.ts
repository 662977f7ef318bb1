/**
 * How a trade ends, once nothing it placed is live: requests still pending are answered, fills
 * are booked, a protection lost on the way is reported, and the execution report goes out with
 * the trade's final status and, for an expiry, the exchange's reason.
 */
import { patched } from '@temporalio/workflow';
import { dec } from '../src/shared/exact-decimal';
import type { TradeState, TradeStatus } from '../src/shared/trade';
import { describeFailure } from './failures';
import type { FillSettlement } from './fill-settlement';
import type { Protection } from './protection';
import { buildReport, finalTradeStatus } from './report';
import type { TradeContext } from './trade-context';

export class TradeEnding {
  constructor(
    private readonly ctx: TradeContext,
    private readonly fills: FillSettlement,
    private readonly protection: Protection,
  ) {}

  async finish(override?: 'cancelled' | 'failed'): Promise<TradeState> {
    const ctx = this.ctx;
    const state = ctx.state;
    // A request accepted just as the last order closed has nothing left to act on: answer it.
    answerPending(state);
    try {
      await this.fills.settleAll();
    } catch (err) {
      // On the way out of a failure, a books refusal (BooksRejectedFills) must not swallow the
      // report: it goes out failed, naming both. Otherwise the refusal fails the trade first.
      if (override !== 'failed') throw err;
      state.error = `${state.error ?? 'trade failed'}; fills not booked: ${describeFailure(err)}`;
    }
    if (patched('unprotected-alerts')) await this.protection.noteLostProtection();
    state.finishedAt = Date.now();
    const status: TradeStatus = override === 'failed' && !dec(ctx.executedIn('entry')).gt(0) ? 'failed' : finalTradeStatus(state, override === 'cancelled' ? 'cancelled' : undefined);
    if (status === 'expired' || status === 'partially_filled') state.error ??= expiryReason(state);
    ctx.setStatus(status);
    // A signal has no validator: one that came while the fills were booked was queued, and no
    // loop is left to carry it out. Answered again here, so the report and the result say so.
    answerPending(state);
    const report = buildReport(ctx.input, state, 1);
    await ctx.acts.books.publishReport(report);
    await ctx.acts.books.recordDecisionOutcome({ decisionId: state.decisionId, status: report.success ? 'completed' : 'failed', error: state.error });
    answerPending(state); // and one that came while the report went out
    return state;
  }
}

/** Requests still pending have nothing left to act on. Changes state only (no command), so replay is unaffected. */
function answerPending(state: TradeState): void {
  for (const op of state.operations.filter((o) => o.status === 'pending')) {
    op.status = 'failed';
    op.result = `the trade ended (${state.status}) before the ${op.kind} could be carried out`;
  }
}

/** Why the exchange expired an entry order, when nothing else gave the trade a reason. */
function expiryReason(state: TradeState): string | undefined {
  const expired = state.orders.filter((o) => o.intent.purpose !== 'bracket' && (o.exchange?.status === 'EXPIRED' || o.exchange?.status === 'EXPIRED_IN_MATCH'));
  const inMatch = expired.find((o) => o.exchange?.status === 'EXPIRED_IN_MATCH');
  if (inMatch) {
    return `${inMatch.intent.clientOrderId} expired in match: self-trade prevention (selfTradePreventionMode, BINANCE_STP_MODE) stopped it trading against another order of this account; executed ${inMatch.exchange!.executedQty}`;
  }
  const first = expired[0];
  if (!first) return undefined;
  // The exchange's own reason when it gave one (expiryReason); else only what is known.
  const why = first.exchange!.expiryReason ?? 'no reason given by the exchange';
  return `${first.intent.clientOrderId} (${first.intent.type}${first.intent.timeInForce ? ` ${first.intent.timeInForce}` : ''}) expired on the exchange: ${why}; executed ${first.exchange!.executedQty}`;
}

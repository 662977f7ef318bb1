/** Turning the workflow's state into the execution report published on `trade_executions`. */
import { dec, toWire } from '../src/shared/exact-decimal';
import { mainCommission, mergeFillSummaries } from '../src/shared/fills';
import type { ExecutionReport, TradeInput, TradeState, TradeStatus } from '../src/shared/trade';

/** Entry-phase orders: the entry itself, its replacements and a close-now market order. */
function entryOrders(state: TradeState) {
  return state.orders.filter((o) => o.intent.purpose !== 'bracket');
}

/**
 * The trade's outcome from what its entry orders executed, whatever their shape (one order,
 * an OCO's two legs, a replacement after an amend, a close-now remainder).
 */
export function finalTradeStatus(state: TradeState, override?: 'cancelled'): TradeStatus {
  if (state.status === 'rejected') return 'rejected';
  const orders = entryOrders(state);
  if (orders.length === 0) return override ?? 'failed';
  const executed = orders.reduce((acc, o) => acc.plus(o.exchange?.executedQty ?? '0'), dec(0));
  if (executed.gt(0)) return executed.gte(state.targetQty) ? 'filled' : 'partially_filled';
  if (override) return override;
  const states = new Set(orders.map((o) => o.state));
  if (states.has('cancelled')) return 'cancelled';
  if (states.has('expired')) return 'expired';
  if (states.has('rejected')) return 'rejected';
  return 'failed';
}

export function buildReport(input: TradeInput, state: TradeState, seq: number): ExecutionReport {
  const entries = entryOrders(state);
  // The order that did the work: the first entry order that executed, else the first one.
  const entry = entries.find((o) => dec(o.exchange?.executedQty ?? '0').gt(0)) ?? entries[0];
  const fills = mergeFillSummaries(entries.map((o) => o.fills));
  const { commission, asset } = mainCommission(fills.commissions);
  const requested = state.targetQty;
  const filled = dec(fills.filledQty);
  const success = state.status === 'filled' || state.status === 'partially_filled';
  const cancelled =
    state.status === 'partially_filled' || state.status === 'cancelled' || state.status === 'expired'
      ? toWire(dec(requested).minus(filled))
      : '0';
  return {
    report_type: 'trade',
    report_id: `${state.workflowId}:${seq}`,
    decision_id: state.decisionId,
    workflow_id: state.workflowId,
    order_id: entry?.exchange?.orderId ?? null,
    client_order_id: entry?.intent.clientOrderId ?? null,
    symbol: state.symbol,
    side: state.side,
    order_type: input.decision.order_type,
    quantity: requested,
    status: state.status,
    success,
    filled_quantity: fills.filledQty,
    cancelled_quantity: cancelled,
    avg_fill_price: fills.avgPrice,
    quote_quantity: fills.quoteQty,
    commission,
    commission_asset: asset,
    commissions: fills.commissions,
    execution_time: state.finishedAt !== undefined ? state.finishedAt - state.startedAt : null,
    // A filled trade whose protective bracket was refused carries why: the position is unprotected.
    error: success && (state.protection === undefined || state.protection.status === 'placed') ? null : state.error ?? null,
    protection_status: state.protection?.status ?? 'not_requested',
    timestamp: state.finishedAt ?? Date.now(),
  };
}

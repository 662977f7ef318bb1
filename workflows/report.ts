/** Turning the workflow's state into the execution report published on `trade_executions`. */
import { dec, toWire } from '../src/shared/decimal';
import { mainCommission, mergeFillSummaries } from '../src/shared/fills';
import type { ExecutionReport, TradeInput, TradeState, TradeStatus } from '../src/shared/trade';

export function finalTradeStatus(state: TradeState, override?: 'cancelled'): TradeStatus {
  if (state.status === 'rejected') return 'rejected';
  const entry = state.orders[0];
  if (!entry) return override ?? 'failed';
  const filled = dec(entry.exchange?.executedQty ?? '0');
  switch (entry.state) {
    case 'filled':
      return 'filled';
    case 'rejected':
      return 'rejected';
    case 'failed':
      return 'failed';
    case 'cancelled':
    case 'expired':
      if (filled.gt(0)) return 'partially_filled';
      return override ?? (entry.state === 'expired' ? 'expired' : 'cancelled');
    default:
      return override ?? 'failed';
  }
}

export function buildReport(input: TradeInput, state: TradeState, seq: number): ExecutionReport {
  const entry = state.orders[0];
  const fills = mergeFillSummaries(state.orders.map((o) => o.fills));
  const { commission, asset } = mainCommission(fills.commissions);
  const requested = entry?.intent.quantity ?? input.decision.approved_size;
  const filled = dec(fills.filledQty);
  const success = state.status === 'filled' || state.status === 'partially_filled';
  const cancelled =
    state.status === 'partially_filled' || state.status === 'cancelled' || state.status === 'expired'
      ? toWire(dec(requested).minus(filled))
      : '0';
  return {
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
    error: success ? null : state.error ?? null,
    timestamp: state.finishedAt ?? Date.now(),
  };
}

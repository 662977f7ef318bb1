/**
 * One execution report per order state transition. The workflow keeps every transition of an
 * order in its state; the activity that records the order turns each into a report, so the
 * reports follow from the same event list that `order_events` stores and cannot disagree with it.
 */
import type { OrderUpdateReport, TrackedOrder } from '../shared/trade';

export function orderUpdateReportId(workflowId: string, clientOrderId: string, seq: number): string {
  return `${workflowId}:${clientOrderId}:${seq}`;
}

export function orderUpdateReports(args: { decisionId: string; workflowId: string; order: TrackedOrder }): OrderUpdateReport[] {
  const { intent, exchange } = args.order;
  return args.order.transitions.map((t) => ({
    report_type: 'order_update',
    report_id: orderUpdateReportId(args.workflowId, intent.clientOrderId, t.seq),
    decision_id: args.decisionId,
    workflow_id: args.workflowId,
    symbol: intent.symbol,
    side: intent.side,
    order_type: intent.type,
    purpose: intent.purpose,
    client_order_id: intent.clientOrderId,
    order_id: exchange?.orderId ?? null,
    list_client_order_id: intent.listClientOrderId ?? null,
    transition_seq: t.seq,
    from_state: t.from,
    to_state: t.to,
    order_status: t.exchangeStatus ?? null,
    quantity: intent.quantity,
    price: intent.price ?? null,
    stop_price: intent.stopPrice ?? null,
    executed_quantity: t.executedQty ?? null,
    reason: t.reason,
    timestamp: t.at,
  }));
}

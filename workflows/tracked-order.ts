/**
 * Bookkeeping for one order inside the workflow: the state machine applied to what the exchange
 * tells us, whether by push, by poll or in a submission's response.
 */
import { dec } from '../src/shared/decimal';
import { EMPTY_FILLS } from '../src/shared/fills';
import { canTransition, isTerminal, stateFromExchangeStatus, type OrderState, type OrderTransition } from '../src/shared/order-state';
import type { OrderIntent, OrderSnapshot, TrackedOrder } from '../src/shared/trade';

export function trackOrder(intent: OrderIntent): TrackedOrder {
  return { intent, state: 'new', transitions: [], fills: EMPTY_FILLS };
}

/** What the venue said when a transition was learned from it. */
type VenueView = Pick<OrderTransition, 'exchangeStatus' | 'executedQty'>;

/** Records a transition if the state machine allows it; returns whether the state changed. */
export function transition(order: TrackedOrder, to: OrderState, reason: string, at: number, venue?: VenueView): boolean {
  if (order.state === to && to !== 'partially_filled') return false;
  if (!canTransition(order.state, to)) return false;
  order.transitions.push({ seq: order.transitions.length + 1, from: order.state, to, reason, at, ...venue });
  order.state = to;
  return true;
}

/**
 * Applies the venue's view. Snapshots can arrive out of order (a poll answered before a push
 * was delivered), so an older view — less executed quantity, or an open status after a final
 * one with the same quantity — never moves the order backwards.
 */
export function applySnapshot(order: TrackedOrder, snap: OrderSnapshot, source: string, at: number): boolean {
  const prev = order.exchange;
  if (prev) {
    const prevQty = dec(prev.executedQty);
    const qty = dec(snap.executedQty);
    if (qty.lt(prevQty)) return false;
    if (qty.eq(prevQty) && isTerminal(stateFromExchangeStatus(prev.status)) && !isTerminal(stateFromExchangeStatus(snap.status))) {
      return false;
    }
    if (qty.eq(prevQty) && prev.status === snap.status) return false;
  }
  const filledMore = prev !== undefined && dec(snap.executedQty).gt(prev.executedQty);
  order.exchange = snap;
  const target = stateFromExchangeStatus(snap.status);
  const reason = `${source}: ${snap.status} executed ${snap.executedQty}/${snap.origQty}`;
  const venue: VenueView = { exchangeStatus: snap.status, executedQty: snap.executedQty };
  // The venue accepted the order before it did anything else with it: NEW with nothing executed.
  if (order.state === 'new' && target !== 'submitted') transition(order, 'submitted', reason, at, { exchangeStatus: 'NEW', executedQty: '0' });
  if (transition(order, target, reason, at, venue)) return true;
  if (filledMore && target === order.state) {
    // A fill reported after the order was already final (it raced the cancel on the venue):
    // recorded as its own event so the audit trail shows when we learned of it.
    order.transitions.push({ seq: order.transitions.length + 1, from: order.state, to: order.state, reason: `late fill: ${reason}`, at, ...venue });
    return true;
  }
  return prev === undefined || filledMore;
}

export function remainingQty(order: TrackedOrder): string {
  const snap = order.exchange;
  if (!snap) return order.intent.quantity;
  return dec(snap.origQty).minus(snap.executedQty).toFixed();
}

export function executedQty(order: TrackedOrder): string {
  return order.exchange?.executedQty ?? '0';
}

/**
 * Bookkeeping for one order inside the workflow: the state machine applied to what the exchange
 * tells us, whether by push, by poll or in a submission's response.
 *
 * Every move goes through the machine's table (src/shared/order-state-machine.ts). A move it
 * refuses leaves the order as it was and is kept in `order.refused` (with the machine's reason),
 * so it reaches queries and `recordOrder`, where it is logged and counted.
 */
import { dec } from '../src/shared/exact-decimal';
import { EMPTY_FILLS } from '../src/shared/fills';
import {
  type OrderEvent,
  type OrderState,
  type OrderTransition,
  type RefusedTransition,
  eventFromExchangeStatus,
  eventLeadingTo,
  isFinalExchangeStatus,
  nextState,
} from '../src/shared/order-state';
import type { OrderIntent, OrderSnapshot, TrackedOrder } from '../src/shared/trade';

/** At most this many refusals are kept per order (the most recent); enough to diagnose, bounded for history size. */
export const MAX_REFUSED_KEPT = 20;

export function trackOrder(intent: OrderIntent): TrackedOrder {
  return { intent, state: 'new', transitions: [], fills: EMPTY_FILLS };
}

/** What the venue said when a transition was learned from it. */
type VenueView = Pick<OrderTransition, 'exchangeStatus' | 'executedQty'>;

export interface MoveOptions {
  /**
   * Take the moves the table allows that workflow code before the single state machine
   * refused: an order we gave up on (`failed`) turning up on the venue, and a cancel that did
   * not happen (`cancel_requested` → `submitted`). Histories recorded before them must replay
   * as they ran (the order would be followed again: new commands), so a workflow passes this
   * only under a `patched()` marker. `applyEvent` always takes them.
   */
  revive?: boolean;
}

function takenOnlyWhenRevived(from: OrderState, event: OrderEvent): boolean {
  return from === 'failed' || (from === 'cancel_requested' && event === 'accepted');
}

function refuse(order: TrackedOrder, event: OrderEvent, reason: string, context: string, at: number, venue?: VenueView): false {
  const seq = (order.refused?.at(-1)?.seq ?? 0) + 1;
  const refusal: RefusedTransition = { seq, state: order.state, event, reason, context, at };
  if (venue?.exchangeStatus !== undefined) refusal.exchangeStatus = venue.exchangeStatus;
  const kept = [...(order.refused ?? []), refusal];
  order.refused = kept.slice(-MAX_REFUSED_KEPT);
  return false;
}

function move(order: TrackedOrder, event: OrderEvent, reason: string, at: number, venue: VenueView | undefined, revive: boolean): boolean {
  const r = nextState(order.state, event);
  if (!r.ok) return refuse(order, event, r.reason, reason, at, venue);
  if (r.repeat) return false;
  if (!revive && takenOnlyWhenRevived(order.state, event)) {
    return refuse(order, event, `${order.state} + ${event}: allowed by the table, taken only when the workflow opts in (revive)`, reason, at, venue);
  }
  order.transitions.push({ seq: order.transitions.length + 1, from: order.state, to: r.to, reason, at, ...venue });
  order.state = r.to;
  return true;
}

/**
 * Applies one event through the state machine (every move the table allows); returns whether
 * a transition was recorded. A refused event is kept in `order.refused`.
 */
export function applyEvent(order: TrackedOrder, event: OrderEvent, reason: string, at: number, venue?: VenueView): boolean {
  return move(order, event, reason, at, venue, true);
}

/**
 * Moves the order to `to` by the event that leads there (`failed` is `submit_failed`);
 * returns whether the state changed. A repeat (already there) is no change; a refused move is
 * kept in `order.refused`.
 */
export function transition(order: TrackedOrder, to: OrderState, reason: string, at: number, venue?: VenueView, options: MoveOptions = {}): boolean {
  return move(order, eventLeadingTo(to), reason, at, venue, options.revive === true);
}

/**
 * A cancel we asked for did not happen (the call failed, or the venue answered with the order
 * unchanged): the order goes back to what its last venue view says (`submitted` or
 * `partially_filled`), so the deadline and later cancels see it as working again. Returns
 * whether it moved; an order not waiting on a cancel, or without a venue view, is left alone.
 */
export function revertCancelRequest(order: TrackedOrder, reason: string, at: number): boolean {
  const snap = order.exchange;
  if (order.state !== 'cancel_requested' || !snap) return false;
  return applyEvent(order, eventFromExchangeStatus(snap.status), reason, at, { exchangeStatus: snap.status, executedQty: snap.executedQty });
}

/**
 * Applies the venue's view. Snapshots can arrive out of order (a poll answered before a push
 * was delivered), so an older view — less executed quantity, or an open status after a final
 * one with the same quantity — never moves the order backwards.
 */
export function applySnapshot(order: TrackedOrder, snap: OrderSnapshot, source: string, at: number, options: MoveOptions = {}): boolean {
  const revive = options.revive === true;
  const prev = order.exchange;
  if (prev) {
    const prevQty = dec(prev.executedQty);
    const qty = dec(snap.executedQty);
    if (qty.lt(prevQty)) return false;
    if (qty.eq(prevQty) && isFinalExchangeStatus(prev.status) && !isFinalExchangeStatus(snap.status)) return false;
    if (qty.eq(prevQty) && prev.status === snap.status) return false;
  }
  const filledMore = prev !== undefined && dec(snap.executedQty).gt(prev.executedQty);
  order.exchange = snap;
  const event = eventFromExchangeStatus(snap.status);
  const reason = `${source}: ${snap.status} executed ${snap.executedQty}/${snap.origQty}`;
  const venue: VenueView = { exchangeStatus: snap.status, executedQty: snap.executedQty };
  // The venue accepted the order before it did anything else with it: NEW with nothing executed.
  // (A status we do not know still tells us the venue has the order.)
  if (order.state === 'new' && event !== 'accepted') move(order, 'accepted', reason, at, { exchangeStatus: 'NEW', executedQty: '0' }, revive);
  const verdict = nextState(order.state, event);
  if (move(order, event, reason, at, venue, revive)) return true;
  if (filledMore && verdict.ok && verdict.repeat) {
    // A fill reported after the order was already final (it raced the cancel on the venue):
    // recorded as its own event so the audit trail shows when we learned of it.
    move(order, 'late_fill', `late fill: ${reason}`, at, venue, revive);
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

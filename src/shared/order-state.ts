/**
 * The life of one order: the state machine (./order-state-machine.ts, re-exported here) and the
 * records kept of it. Every change is an event with a reason, kept in workflow state (visible
 * to queries) and written to `order_events`; a move the machine refuses is kept too
 * (`RefusedTransition`), never dropped silently.
 */
import { type OrderEvent, type OrderState, nextState, stateOfExchangeStatus } from './order-state-machine';

export {
  EXCHANGE_ORDER_STATUSES,
  ORDER_EVENTS,
  ORDER_STATES,
  TERMINAL_STATES,
  eventFromExchangeStatus,
  isFinalExchangeStatus,
  isTerminal,
  nextState,
  stateOfExchangeStatus,
  type ExchangeOrderStatus,
  type NextState,
  type OrderEvent,
  type OrderState,
} from './order-state-machine';

export interface OrderTransition {
  seq: number;
  from: OrderState;
  to: OrderState;
  reason: string;
  at: number;
  /** The venue's view when this transition was learned (absent on transitions of our own making). */
  exchangeStatus?: string;
  executedQty?: string;
}

/** A move the state machine refused: the order kept `state`. */
export interface RefusedTransition {
  /** 1-based over the order's life (the kept list is capped, so this also says how many there were). */
  seq: number;
  state: OrderState;
  event: OrderEvent;
  /** The machine's reason. */
  reason: string;
  /** What we were doing when the event arrived (e.g. "poll: NEW executed 0/1"). */
  context: string;
  at: number;
  exchangeStatus?: string;
}

/** The event that leads to `to` (the inverse the to-state API of older callers needs). */
export function eventLeadingTo(to: OrderState): OrderEvent {
  switch (to) {
    case 'new':
      return 'intent_recorded';
    case 'submitted':
      return 'accepted';
    case 'partially_filled':
      return 'partially_filled';
    case 'filled':
      return 'filled';
    case 'cancel_requested':
      return 'cancel_requested';
    case 'cancelled':
      return 'cancelled';
    case 'expired':
      return 'expired';
    case 'rejected':
      return 'rejected';
    case 'failed':
      return 'submit_failed';
    case 'not_placed':
      return 'found_absent';
  }
}

/** Whether the machine moves an order from `from` to `to` (by the event that leads there). */
export function canTransition(from: OrderState, to: OrderState): boolean {
  const r = nextState(from, eventLeadingTo(to));
  return r.ok && !r.repeat && r.to === to;
}

/**
 * Binance order status (enums.md) → our state; undefined for a status this service does not
 * know (it used to become a terminal `failed`, which stopped following a live order).
 */
export function stateFromExchangeStatus(status: string): OrderState | undefined {
  return stateOfExchangeStatus(status);
}

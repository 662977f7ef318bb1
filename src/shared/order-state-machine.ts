/**
 * The one order state machine: a transition table keyed by (state, event). The workflow's
 * tracked orders, the `orders.status` column in Postgres and reconciliation all move an order
 * through this table, so they cannot disagree about which moves exist.
 *
 * Pure and deterministic (workflow code imports it): no node modules, no zod, no clock.
 *
 * Events are what the venue reports (its order status, mapped by `eventFromExchangeStatus`) and
 * what we do or conclude ourselves (`cancel_requested`, `submit_failed`, `found_absent`,
 * `intent_recorded`). A cell of the table is one of:
 *  - a move to a state (recorded as a transition, even when it stays in the same state: a
 *    further fill while partially filled, a fill that raced a cancel);
 *  - a repeat: the event says nothing the state does not already say (a second NEW, a re-recorded
 *    intent), so there is nothing to record and nothing to complain about;
 *  - a refusal with its reason. A refused move never changes the order, and the caller records
 *    and reports it: a refusal is either a bug or a stale view, and both deserve to be seen.
 *
 * Terminal (`isTerminal`) means the trade no longer waits on the order; it does not mean that
 * nothing can follow. The venue's word beats our own conclusions: a fill that raced a cancel
 * arrives after the cancel's acknowledgement, and an order we gave up on (`failed`) or settled
 * as never placed (`not_placed`) can still turn up (a reset that reused its client order id, a
 * settlement made on wrong information). Only `filled` and `rejected` are final.
 */

export const ORDER_STATES = [
  'new',
  'submitted',
  'partially_filled',
  'filled',
  'cancel_requested',
  'cancelled',
  'expired',
  'rejected',
  'failed',
  'not_placed',
] as const;
export type OrderState = (typeof ORDER_STATES)[number];

export const ORDER_EVENTS = [
  // Reported by the venue (Binance order statuses, see eventFromExchangeStatus).
  'accepted',
  'partially_filled',
  'filled',
  'cancelled',
  'expired',
  'rejected',
  /** More executed quantity on an order whose status did not change (a fill that raced a cancel). */
  'late_fill',
  /** A status this service does not know: never moves the order, least of all to a final state. */
  'unknown',
  // Our own.
  /** The intent was recorded before sending (Postgres PENDING_SUBMIT). */
  'intent_recorded',
  /** We asked the venue to cancel (the venue's PENDING_CANCEL means the same). */
  'cancel_requested',
  /** We gave up on the order without knowing whether the venue has it. */
  'submit_failed',
  /** Settled: the venue has no such order and the request can no longer land (recvWindow passed). */
  'found_absent',
] as const;
export type OrderEvent = (typeof ORDER_EVENTS)[number];

export const TERMINAL_STATES: ReadonlySet<OrderState> = new Set<OrderState>([
  'filled',
  'cancelled',
  'expired',
  'rejected',
  'failed',
  'not_placed',
]);

export function isTerminal(state: OrderState): boolean {
  return TERMINAL_STATES.has(state);
}

export type NextState =
  /** `repeat`: nothing changed and nothing is to be recorded (`to` is then the current state). */
  | { ok: true; to: OrderState; repeat: boolean }
  | { ok: false; reason: string };

type Cell = { to: OrderState } | 'repeat' | { refuse: string };

const to = (state: OrderState): Cell => ({ to: state });
const REPEAT: Cell = 'repeat';
const refuse = (reason: string): Cell => ({ refuse: reason });

/** What the venue may still tell us about an order we had given up on or settled as absent. */
const TURNED_UP = {
  accepted: to('submitted'),
  partially_filled: to('partially_filled'),
  filled: to('filled'),
  cancelled: to('cancelled'),
  expired: to('expired'),
  rejected: to('rejected'),
} as const;

/**
 * The table. Pairs not listed are refused with the state's default reason (DEFAULT_REFUSAL),
 * so adding an event refuses it everywhere until a cell says otherwise.
 */
const TABLE: Record<OrderState, Partial<Record<OrderEvent, Cell>>> = {
  new: {
    // Any status the venue reports: a MARKET or IOC order can be filled, or expire, in the
    // response that acknowledges it.
    ...TURNED_UP,
    intent_recorded: REPEAT,
    cancel_requested: refuse('the order was never acknowledged by the venue: there is nothing to cancel yet'),
    submit_failed: to('failed'),
    found_absent: to('not_placed'),
    late_fill: refuse('no fill can be late on an order the venue never acknowledged; its status says what happened'),
  },
  submitted: {
    accepted: REPEAT,
    partially_filled: to('partially_filled'),
    filled: to('filled'),
    cancelled: to('cancelled'),
    expired: to('expired'),
    // Stop-limit orders can be rejected when they trigger.
    rejected: to('rejected'),
    intent_recorded: REPEAT,
    cancel_requested: to('cancel_requested'),
    submit_failed: to('failed'),
    found_absent: refuse('the venue acknowledged the order: "absent" now means purged or another account, not never placed'),
    late_fill: refuse('a fill on a working order is reported as partially_filled or filled'),
  },
  partially_filled: {
    accepted: refuse('the order has executed quantity: NEW is a stale view'),
    partially_filled: to('partially_filled'),
    filled: to('filled'),
    cancelled: to('cancelled'),
    expired: to('expired'),
    rejected: refuse('a partially filled order cannot be rejected'),
    intent_recorded: REPEAT,
    cancel_requested: to('cancel_requested'),
    submit_failed: refuse('the order is working on the venue: giving up would orphan it; cancel it instead'),
    found_absent: refuse('the order has executed on the venue: it cannot be absent'),
    late_fill: to('partially_filled'),
  },
  cancel_requested: {
    // The cancel did not happen (refused, or lost) and the venue shows the order still working.
    accepted: to('submitted'),
    partially_filled: to('partially_filled'),
    filled: to('filled'),
    cancelled: to('cancelled'),
    expired: to('expired'),
    rejected: refuse('an order the venue was working cannot be rejected'),
    intent_recorded: REPEAT,
    cancel_requested: REPEAT,
    submit_failed: refuse('the order may still be working on the venue: wait for the cancel to be confirmed'),
    found_absent: refuse('the venue acknowledged the order: "absent" now means purged, not never placed'),
    // A fill while the cancel is in flight.
    late_fill: to('cancel_requested'),
  },
  filled: {
    filled: REPEAT,
    intent_recorded: REPEAT,
  },
  cancelled: {
    // Fills that raced the cancel on the venue, reported after its acknowledgement.
    partially_filled: to('partially_filled'),
    filled: to('filled'),
    late_fill: to('cancelled'),
    cancelled: REPEAT,
    intent_recorded: REPEAT,
  },
  expired: {
    partially_filled: to('partially_filled'),
    filled: to('filled'),
    late_fill: to('expired'),
    expired: REPEAT,
    intent_recorded: REPEAT,
  },
  rejected: {
    rejected: REPEAT,
    intent_recorded: REPEAT,
  },
  failed: {
    ...TURNED_UP,
    // An order we gave up on may be live: cancelling it by its client order id makes it safe.
    cancel_requested: to('cancel_requested'),
    submit_failed: REPEAT,
    found_absent: to('not_placed'),
    intent_recorded: REPEAT,
    late_fill: refuse('the order turned up with fills: apply the venue status (partially_filled or filled) instead'),
  },
  not_placed: {
    ...TURNED_UP,
    cancel_requested: refuse('the order was settled as never placed: there is nothing to cancel'),
    // Our own conclusions add nothing to a settled absence.
    submit_failed: REPEAT,
    found_absent: REPEAT,
    intent_recorded: REPEAT,
    late_fill: refuse('the order turned up with fills: apply the venue status (partially_filled or filled) instead'),
  },
};

const DEFAULT_REFUSAL: Record<OrderState, string> = {
  new: 'not a move for an order not yet sent',
  submitted: 'not a move for a working order',
  partially_filled: 'not a move for a partially filled order',
  cancel_requested: 'not a move for an order being cancelled',
  filled: 'the order is filled, which is final',
  cancelled: 'the order is cancelled: only fills that raced the cancel can follow',
  expired: 'the order is expired: only fills that raced the expiry can follow',
  rejected: 'the order was rejected, which is final',
  failed: 'not a move for an order we gave up on',
  not_placed: 'not a move for an order settled as never placed',
};

/** The table's verdict on `event` happening to an order in `state`. */
export function nextState(state: OrderState, event: OrderEvent): NextState {
  if (event === 'unknown') {
    return { ok: false, reason: `${state} + unknown: the venue reported a status this service does not know; the order keeps its state` };
  }
  const cell = TABLE[state][event] ?? refuse(DEFAULT_REFUSAL[state]);
  if (cell === 'repeat') return { ok: true, to: state, repeat: true };
  if ('refuse' in cell) return { ok: false, reason: `${state} + ${event}: ${cell.refuse}` };
  return { ok: true, to: cell.to, repeat: false };
}

/** Binance order statuses (enums.md, "Order status"). */
export const EXCHANGE_ORDER_STATUSES = [
  'NEW',
  'PENDING_NEW',
  'PARTIALLY_FILLED',
  'FILLED',
  'CANCELED',
  'PENDING_CANCEL',
  'REJECTED',
  'EXPIRED',
  'EXPIRED_IN_MATCH',
] as const;
export type ExchangeOrderStatus = (typeof EXCHANGE_ORDER_STATUSES)[number];

/** What a Binance order status says happened; anything else is `unknown`. */
export function eventFromExchangeStatus(status: string): OrderEvent {
  switch (status) {
    case 'NEW':
    // An order list's pending leg: accepted, waiting for the working leg to fill.
    case 'PENDING_NEW':
      return 'accepted';
    case 'PARTIALLY_FILLED':
      return 'partially_filled';
    case 'FILLED':
      return 'filled';
    // Binance lists it as currently unused; it would mean a cancel is in progress.
    case 'PENDING_CANCEL':
      return 'cancel_requested';
    case 'CANCELED':
      return 'cancelled';
    case 'EXPIRED':
    // Expired by self-trade prevention.
    case 'EXPIRED_IN_MATCH':
      return 'expired';
    case 'REJECTED':
      return 'rejected';
    default:
      return 'unknown';
  }
}

/**
 * The state a known Binance status means for an order the venue has acknowledged (what the
 * status's event does to a `submitted` order), or undefined for an unknown status: there is no
 * state an unknown status could mean.
 */
export function stateOfExchangeStatus(status: string): OrderState | undefined {
  const event = eventFromExchangeStatus(status);
  if (event === 'unknown') return undefined;
  const r = nextState('submitted', event);
  return r.ok ? r.to : undefined;
}

/** Whether a Binance status leaves the order final (an unknown status is not final). */
export function isFinalExchangeStatus(status: string): boolean {
  const state = stateOfExchangeStatus(status);
  return state !== undefined && isTerminal(state);
}

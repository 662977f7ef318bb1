/**
 * The life of one order as an explicit state machine. Every change is an event with a reason,
 * kept in workflow state (visible to queries) and written to `order_events`.
 *
 * Fills may arrive after a cancel was requested and even after it was acknowledged (the fill
 * raced the cancel on the venue), so `cancel_requested` and `cancelled` accept fill events.
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
] as const;
export type OrderState = (typeof ORDER_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<OrderState> = new Set(['filled', 'cancelled', 'expired', 'rejected', 'failed']);

const ALLOWED: Record<OrderState, readonly OrderState[]> = {
  new: ['submitted', 'partially_filled', 'filled', 'rejected', 'failed', 'cancelled', 'expired'],
  submitted: ['partially_filled', 'filled', 'cancel_requested', 'cancelled', 'expired', 'rejected', 'failed'],
  partially_filled: ['partially_filled', 'filled', 'cancel_requested', 'cancelled', 'expired'],
  cancel_requested: ['partially_filled', 'filled', 'cancelled', 'expired'],
  // A fill that raced the cancel is reported by the venue after the cancel's acknowledgement.
  cancelled: ['partially_filled', 'filled'],
  expired: ['partially_filled', 'filled'],
  filled: [],
  rejected: [],
  failed: [],
};

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

export function canTransition(from: OrderState, to: OrderState): boolean {
  return ALLOWED[from].includes(to);
}

/** Binance order status (enums.md) → our state. */
export function stateFromExchangeStatus(status: string): OrderState {
  switch (status) {
    case 'NEW':
    case 'PENDING_NEW':
      return 'submitted';
    case 'PARTIALLY_FILLED':
      return 'partially_filled';
    case 'FILLED':
      return 'filled';
    case 'PENDING_CANCEL':
      return 'cancel_requested';
    case 'CANCELED':
      return 'cancelled';
    case 'EXPIRED':
    case 'EXPIRED_IN_MATCH':
      return 'expired';
    case 'REJECTED':
      return 'rejected';
    default:
      return 'failed';
  }
}

export function isTerminal(state: OrderState): boolean {
  return TERMINAL_STATES.has(state);
}

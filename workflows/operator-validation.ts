/**
 * Validators for operator updates. They run before an update is accepted: a refused request is
 * answered with its reason and leaves no trace in the workflow's history or state.
 */
import { dec } from '../src/shared/exact-decimal';
import { isTerminal } from '../src/shared/order-state';
import type { TradeState } from '../src/shared/trade';
import type { AmendRequest, SetTimeoutRequest } from './definitions';

const DECIMAL = /^\d{1,20}(\.\d{1,20})?$/;

export function validateWorking(state: TradeState): void {
  if (state.finishedAt !== undefined) throw new Error(`trade is already ${state.status}; nothing to change`);
  const open = state.orders.filter((o) => state.working.includes(o.intent.clientOrderId) && !isTerminal(o.state));
  if (open.length === 0) throw new Error(`trade has no open order right now (status ${state.status})`);
}

export function validateAmend(state: TradeState, req: AmendRequest | undefined): void {
  validateWorking(state);
  if (!req || (req.price === undefined && req.quantity === undefined)) {
    throw new Error('amend: give a new price, a new quantity, or both');
  }
  if (state.phase !== 'entry') throw new Error('amend: only the entry order can be amended (the trade is in its bracket phase)');
  const open = state.orders.filter((o) => state.working.includes(o.intent.clientOrderId) && !isTerminal(o.state));
  const order = open[0]!;
  if (open.length !== 1 || order.intent.listClientOrderId !== undefined) throw new Error('amend: an order list (an OCO, or an entry sent with its protection as one OTOCO) cannot be amended; cancel it instead');
  if (order.intent.type === 'MARKET') throw new Error('amend: a MARKET order cannot be amended');
  if (req.price !== undefined && (typeof req.price !== 'string' || !DECIMAL.test(req.price) || dec(req.price).lte(0))) {
    throw new Error(`price: must be a positive decimal string such as "64000.5", got ${JSON.stringify(req.price)}`);
  }
  if (req.quantity !== undefined) {
    if (typeof req.quantity !== 'string' || !DECIMAL.test(req.quantity) || dec(req.quantity).lte(0)) {
      throw new Error(`quantity: must be a positive decimal string such as "0.002", got ${JSON.stringify(req.quantity)}`);
    }
    const executed = order.exchange?.executedQty ?? '0';
    if (dec(req.quantity).lte(executed)) {
      throw new Error(`quantity: ${req.quantity} is not more than the ${executed} already filled`);
    }
    // Risk approved a size; an operator may reduce it, never raise it past the approval.
    const approved = state.approvedQty ?? state.targetQty;
    if (dec(req.quantity).gt(approved)) throw new Error(`quantity: ${req.quantity} exceeds the approved size ${approved}`);
  }
}

export function validateSetTimeout(state: TradeState, req: SetTimeoutRequest | undefined, now: number): void {
  validateWorking(state);
  if (state.phase !== 'entry') throw new Error('timeoutMs: the bracket phase has no timeout');
  const ms = req?.timeoutMs;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1000) {
    throw new Error('timeoutMs: must be a whole number of milliseconds, at least 1000');
  }
  if (state.startedAt + ms <= now) throw new Error(`timeoutMs: ${ms} ms after the start is already in the past`);
}

/**
 * Stop-loss and take-profit triggers: when a stop-type order's stop price is reached by the
 * last traded price, and what starting to work means for the order. Placement refuses a stop
 * that would trigger at once; each price step fires the stops the new price reached (Engine).
 */
import type { Dec } from '../shared/decimal';
import type { InternalOrder, OrderTypeName, Side } from './model';

/** Whether a stop of this type and side fires at the last price `last`. */
export function triggered(type: OrderTypeName, side: Side, stop: Dec, last: Dec): boolean {
  const isStopLoss = type === 'STOP_LOSS' || type === 'STOP_LOSS_LIMIT';
  // STOP_LOSS BUY / TAKE_PROFIT SELL fire when the price rises to the stop; the others when it falls.
  const firesOnRise = (isStopLoss && side === 'BUY') || (!isStopLoss && side === 'SELL');
  return firesOnRise ? last.gte(stop) : last.lte(stop);
}

/** An open order waiting for its trigger whose stop the last price has reached. */
export function stopReached(order: InternalOrder, last: Dec): boolean {
  return !order.isWorking && order.stopPrice !== undefined && triggered(order.type, order.side, order.stopPrice, last);
}

/** The stop fired: from now the order works (a market order takes, a limit order may rest). */
export function startWorking(order: InternalOrder, now: number): void {
  order.isWorking = true;
  order.workingTime = now;
  order.updateTime = now;
}

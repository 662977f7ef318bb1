/**
 * Cancelling a trade's orders, lists as lists, and applying what the exchange answers. An order
 * a cancel left open (PENDING_CANCEL, or refused) stays `cancel_requested`; the follow loop and
 * the wind-down cancel it again once `nextCancelAt` has passed, with a doubling backoff.
 */
import { isTerminal } from '../src/shared/order-state';
import type { TrackedOrder } from '../src/shared/trade';
import { applySnapshot, transition } from './tracked-order';
import { VENUE, TradePart } from './trade-context';

/** A cancel that left the order open (PENDING_CANCEL, or refused) is tried again after this, doubling. */
const CANCEL_RETRY = { firstMs: 2_000, maxMs: 60_000 };

export class OrderCancels extends TradePart {
  /** Workflow time before which an order a cancel left open is not cancelled again. */
  nextCancelAt = 0;
  private cancelBackoffMs = CANCEL_RETRY.firstMs;

  /**
   * Cancels the given orders (lists as lists) and applies what the exchange answers: the final
   * state, a fill that raced the cancel included. An order left open by the answer stays
   * `cancel_requested` and is cancelled again after a backoff by the follow loop.
   */
  async cancelOrders(orders: TrackedOrder[], reason: string): Promise<void> {
    const { acts } = this.ctx;
    const open = orders.filter((o) => o.exchange && !isTerminal(o.state));
    if (open.length === 0) return;
    this.ctx.setStatus('cancelling');
    const lists = new Set(open.map((o) => o.intent.listClientOrderId).filter((l): l is string => l !== undefined));
    for (const o of open) transition(o, 'cancel_requested', reason, Date.now());
    for (const listId of lists) {
      const legs = this.state.orders.filter((o) => o.intent.listClientOrderId === listId);
      const snaps = await acts.canceller.cancelOrderList({
        symbol: this.state.symbol,
        listClientOrderId: listId,
        legs: legs.map((l) => ({ symbol: l.intent.symbol, clientOrderId: l.intent.clientOrderId })),
      });
      for (const snap of snaps) {
        const leg = this.ctx.orderById(snap.clientOrderId);
        if (leg) applySnapshot(leg, snap, `cancel (${reason})`, Date.now(), VENUE);
      }
    }
    for (const o of open.filter((x) => x.intent.listClientOrderId === undefined)) {
      const snap = await acts.canceller.cancelOrder({ symbol: o.intent.symbol, clientOrderId: o.intent.clientOrderId });
      applySnapshot(o, snap, `cancel (${reason})`, Date.now(), VENUE);
    }
    for (const o of open) await this.ctx.record(o);
    if (open.some((o) => !isTerminal(o.state))) {
      this.nextCancelAt = Date.now() + this.cancelBackoffMs;
      this.cancelBackoffMs = Math.min(this.cancelBackoffMs * 2, CANCEL_RETRY.maxMs);
      this.ctx.setStatus('working');
    } else {
      this.cancelBackoffMs = CANCEL_RETRY.firstMs;
    }
  }
}

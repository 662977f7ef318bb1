/**
 * The promise "never an orphan": before a trade ends, for whatever reason, nothing it placed
 * may be left live and unmanaged on the exchange.
 */
import { condition } from '@temporalio/workflow';
import { isTerminal } from '../src/shared/order-state';
import type { OrderCancels } from './order-cancels';
import type { Placement } from './placement';
import { applySnapshot } from './tracked-order';
import { VENUE, type TradeContext } from './trade-context';

/** Reading back an order that should be final (wind-down): first wait, doubling to the max. */
const CONFIRM = { firstMs: 500, maxMs: 30_000 };

export class WindDown {
  constructor(
    private readonly ctx: TradeContext,
    private readonly placement: Placement,
    private readonly cancels: OrderCancels,
  ) {}

  /**
   * Makes sure nothing this trade placed is left live and unmanaged: settles every intent whose
   * fate is unknown, cancels whatever rests, and reads back until every order is final. Reads and
   * cancels retry for as long as the exchange needs; the trade does not end before this does.
   */
  async windDown(reason: string): Promise<void> {
    const ctx = this.ctx;
    const state = ctx.state;
    await this.placement.settleUnknown(state.orders, reason);
    for (const o of state.orders) if (!isTerminal(o.state)) await ctx.record(o);
    let waitMs = CONFIRM.firstMs;
    for (;;) {
      const live = state.orders.filter((o) => o.exchange && !isTerminal(o.state));
      if (live.length === 0) break;
      const cancellable = live.filter((o) => o.state !== 'cancel_requested' || Date.now() >= this.cancels.nextCancelAt);
      if (cancellable.length > 0) await this.cancels.cancelOrders(cancellable, reason);
      for (const o of state.orders.filter((x) => x.exchange && !isTerminal(x.state))) {
        const snap = await ctx.acts.exchangeReads.queryOrder({ symbol: o.intent.symbol, clientOrderId: o.intent.clientOrderId });
        if (applySnapshot(o, snap, `confirming final state (${reason})`, Date.now(), VENUE)) await ctx.record(o);
      }
      if (state.orders.every((o) => !o.exchange || isTerminal(o.state))) break;
      state.attention = `waiting for ${live.map((o) => o.intent.clientOrderId).join(', ')} to be final on the exchange (${reason})`;
      ctx.setStatus('settling');
      await condition(() => false, waitMs);
      waitMs = Math.min(waitMs * 2, CONFIRM.maxMs);
    }
    state.attention = undefined;
  }
}

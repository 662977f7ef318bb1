/**
 * Booking what filled: each order's fills are settled into the portfolio once (the placement
 * response's own fills when it listed them, else myTrades), and the position the entry holds,
 * net of commission paid in the base asset, is what a bracket protects.
 */
import { dec } from '../src/shared/exact-decimal';
import type { TradeContext } from './trade-context';

export class FillSettlement {
  constructor(private readonly ctx: TradeContext) {}

  async settleAll(): Promise<void> {
    const ctx = this.ctx;
    for (const order of ctx.state.orders) {
      if (order.exchange && dec(order.exchange.executedQty).gt(order.fills.filledQty)) {
        const known = ctx.placedFills.get(order.intent.clientOrderId);
        order.fills = await ctx.acts.settlement.settleFills({
          ...(known ? { fills: known } : {}),
          decisionId: ctx.state.decisionId,
          workflowId: ctx.state.workflowId,
          symbol: order.intent.symbol,
          orderId: order.exchange.orderId,
          clientOrderId: order.intent.clientOrderId,
          expectedQty: order.exchange.executedQty,
        });
      }
    }
  }

  /** The entry's filled base quantity less commission charged in the base asset. */
  async heldAfterFees(): Promise<string> {
    await this.settleAll();
    const base = this.ctx.state.assets?.base;
    let held = dec(0);
    for (const o of this.ctx.state.orders.filter((x) => x.intent.purpose !== 'bracket')) {
      const sign = o.intent.side === this.ctx.side ? 1 : -1;
      held = held.plus(dec(o.fills.filledQty).mul(sign));
      if (o.intent.side === 'BUY') held = held.minus((base && o.fills.commissions[base]) || '0');
    }
    return held.toFixed();
  }
}

/**
 * Placing a trade's orders: making a plan (a rule violation rejects instead of failing), the
 * pre-trade risk guard over what opens, the submission itself (exactly once: intents recorded
 * first, an unknown outcome settled by asking the exchange), and settling unknown outcomes.
 */
import { patched, upsertSearchAttributes } from '@temporalio/workflow';
import { FailureType } from '../src/shared/failure-types';
import { isTerminal } from '../src/shared/order-state';
import { SA } from '../src/shared/search-attributes';
import type { TrackedOrder } from '../src/shared/trade';
import { describeFailure, failureType } from './failures';
import type { OrderPlan } from './order-plans';
import { applyEvent, applySnapshot, trackOrder, transition } from './tracked-order';
import { VENUE, TradePart } from './trade-context';

export class Placement extends TradePart {
  /** Runs a planning step; a rule violation ends the trade as rejected instead of failing it. */
  async plan(make: () => Promise<OrderPlan>): Promise<OrderPlan | undefined> {
    try {
      return await make();
    } catch (err) {
      const type = failureType(err);
      if (type !== FailureType.OrderRejected && type !== FailureType.RiskRefused) throw err;
      this.state.error = describeFailure(err);
      if (this.state.phase === 'entry') this.ctx.setStatus('rejected');
      return undefined;
    }
  }

  /**
   * The pre-trade risk guard, for what the trade opens (the entry and an amend's replacement),
   * after the plan is validated against the exchange's rules. Protective brackets and close-now
   * reduce risk and are never held back by it. Each intent is judged by its client order id, so
   * one that was already sent (a reset made the same plan again) is never refused afterwards.
   */
  async guard(plan: OrderPlan, options: { checkAge: boolean }): Promise<OrderPlan> {
    const d = this.ctx.input.decision;
    // A protected entry's pair reduces risk like any bracket: only what opens is judged.
    for (const o of plan.orders.filter((x) => x.purpose !== 'bracket')) {
      await this.ctx.acts.planner.checkPreTradeRisk({
        decisionId: this.state.decisionId,
        clientOrderId: o.clientOrderId,
        sendLogId: o.listClientOrderId ?? o.clientOrderId,
        ...(options.checkAge ? { decisionTimestamp: d.timestamp, decisionOrderType: d.order_type } : {}),
        symbol: o.symbol,
        side: o.side,
        type: o.type,
        quantity: o.quantity,
        price: o.price,
        stopPrice: o.stopPrice,
        // The guard values the order at its price, or at the mark for a MARKET order.
        notional: '0',
      });
    }
    return plan;
  }

  /**
   * Records the intents first (so a crash leaves rows to reconcile), then places them exactly
   * once. An outcome still unknown after the sender's retries is settled by asking the
   * exchange, for as long as it takes; only a refusal that cannot follow an earlier send makes
   * an order `rejected`.
   */
  async submit(plan: OrderPlan): Promise<void> {
    const state = this.state;
    const { acts } = this.ctx;
    const orders = plan.orders.map(trackOrder);
    state.orders.push(...orders);
    // A protected entry's pair waits on the exchange (PENDING_NEW) until the entry fills: only the entry is worked.
    state.working = (plan.kind === 'protected' ? orders.slice(0, 1) : orders).map((o) => o.intent.clientOrderId);
    upsertSearchAttributes([{ key: SA.clientOrderId, value: state.orders.map((o) => o.intent.clientOrderId) }]);
    this.ctx.setStatus('submitting');
    for (const o of orders) await this.ctx.record(o);
    try {
      if (plan.kind === 'single') {
        const placed = await acts.sender.placeOrder(plan.orders[0]);
        if (placed.adopted) await this.continueStoredHistoryAsBefore(orders);
        if (placed.fills) this.ctx.placedFills.set(orders[0]!.intent.clientOrderId, placed.fills);
        applySnapshot(orders[0]!, placed.order, placed.adopted ? 'adopted existing order' : 'submitted', Date.now(), VENUE);
      } else if (plan.kind === 'list') {
        const placed = await acts.sender.placeOrderList(plan.list);
        if (placed.adopted) await this.continueStoredHistoryAsBefore(orders);
        const note = placed.adopted ? 'adopted existing order list' : 'submitted order list';
        applySnapshot(orders[0]!, placed.above, note, Date.now(), VENUE);
        applySnapshot(orders[1]!, placed.below, note, Date.now(), VENUE);
      } else {
        const placed = await acts.sender.placeProtectedEntry(plan.list);
        if (placed.fills) this.ctx.placedFills.set(orders[0]!.intent.clientOrderId, placed.fills);
        const note = placed.adopted ? 'adopted existing protected entry' : 'submitted with its protection (one order list)';
        applySnapshot(orders[0]!, placed.working, note, Date.now(), VENUE);
        applySnapshot(orders[1]!, placed.above, note, Date.now(), VENUE);
        applySnapshot(orders[2]!, placed.below, note, Date.now(), VENUE);
      }
    } catch (err) {
      const why = describeFailure(err);
      const type = failureType(err);
      if (type === FailureType.ExchangeRejected) {
        for (const o of orders) transition(o, 'rejected', why, Date.now());
        state.error = why;
      } else {
        await this.settleUnknown(orders, why);
        // An order the exchange turned out to hold was placed after all: the failure that made
        // its outcome unknown stays in its transitions, not as the trade's error.
        if (orders.some((o) => !o.exchange)) state.error = why;
      }
    }
    for (const o of orders) await this.ctx.record(o);
    if (orders.some((o) => !isTerminal(o.state))) this.ctx.setStatus('working');
  }

  /**
   * How a run that began before patch 'stored-history-in-record' continued an adopted order's
   * stored story: one storedTransitions read per order. Runs since get it from recordOrder
   * (see TradeContext.record()), so this is for the replay of those histories only.
   */
  private async continueStoredHistoryAsBefore(orders: TrackedOrder[]): Promise<void> {
    if (patched('stored-history-in-record')) return;
    for (const o of orders) {
      const stored = await this.ctx.acts.books.storedTransitions({ clientOrderId: o.intent.clientOrderId });
      const last = stored.at(-1);
      if (!last || stored.length <= o.transitions.length) continue;
      o.transitions = stored;
      o.state = last.to;
    }
  }

  /** Asks the exchange about orders whose submission was never confirmed, until it answers. */
  async settleUnknown(orders: TrackedOrder[], why: string): Promise<void> {
    const unsettled = orders.filter((o) => !o.exchange && !isTerminal(o.state));
    if (unsettled.length === 0) return;
    this.state.attention = `outcome of ${unsettled.map((o) => o.intent.clientOrderId).join(', ')} unknown (${why}); asking the exchange until it answers`;
    this.ctx.setStatus('settling');
    for (const o of unsettled) {
      const found = await this.ctx.acts.exchangeReads.findOrder({
        symbol: o.intent.symbol,
        clientOrderId: o.intent.clientOrderId,
        ...(o.intent.listClientOrderId ? { sendLogId: o.intent.listClientOrderId } : {}),
      });
      if (found) applySnapshot(o, found, 'settled unknown outcome by query', Date.now(), VENUE);
      // Absent once its recvWindow has passed: it never reached the matching engine, and never will.
      else applyEvent(o, 'found_absent', `never placed: ${why}`, Date.now());
    }
    this.state.attention = undefined;
  }
}

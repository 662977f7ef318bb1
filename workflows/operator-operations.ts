/**
 * Carrying out an operator's request against the working orders (cancel, amend, close now), one
 * at a time, from the follow loop. Each keeps the promise "never more than risk approved": an
 * amend that changes the price cancels first and places only what is still unexecuted once the
 * old order is final; close-now places its market order only once every resting order is final.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { dec } from '../src/shared/exact-decimal';
import { FailureType } from '../src/shared/failure-types';
import { isTerminal } from '../src/shared/order-state';
import type { OperatorOperation } from '../src/shared/trade';
import type { AmendRequest } from './definitions';
import { describeFailure } from './failures';
import { validateAmend } from './operator-validation';
import { closePlan, replacementAfterCancel, restAfter } from './order-plans';
import type { OrderCancels } from './order-cancels';
import type { Placement } from './placement';
import { applySnapshot } from './tracked-order';
import { VENUE, TradePart, type TradeContext } from './trade-context';

export class OperatorOperations extends TradePart {
  constructor(
    ctx: TradeContext,
    private readonly placement: Placement,
    private readonly cancels: OrderCancels,
  ) {
    super(ctx);
  }

  /** Carries out one operator request against the working orders. */
  async perform(op: OperatorOperation): Promise<void> {
    try {
      switch (op.kind) {
        case 'cancel':
          this.state.error ??= `cancelled by operator: ${String(op.args.reason ?? 'cancel')}`;
          op.result = await this.cancelAll(`operator: ${String(op.args.reason ?? 'cancel')}`);
          break;
        case 'amend':
          op.result = await this.amend(op.args as AmendRequest);
          break;
        case 'closeNow':
          op.result = await this.closeNow();
          break;
        case 'setTimeout':
          break;
      }
      op.status = 'done';
    } catch (err) {
      op.status = 'failed';
      op.result = describeFailure(err);
    }
  }

  private async cancelAll(reason: string): Promise<string> {
    await this.cancels.cancelOrders(this.ctx.openWorking(), reason);
    const still = this.ctx.openWorking();
    if (still.length > 0) {
      throw ApplicationFailure.nonRetryable(`cancel requested, but ${still.map((o) => `${o.intent.clientOrderId} is ${o.state}`).join(', ')}; retrying`, FailureType.OperationFailed);
    }
    return 'working orders cancelled';
  }

  /**
   * Amends the single working order. A quantity reduction alone is done in place, keeping queue
   * priority; the exchange applies it atomically against fills. A new price cancels the order,
   * learns from the final state what really executed, and places only the rest.
   */
  private async amend(req: AmendRequest): Promise<string> {
    const state = this.state;
    const { acts, input } = this.ctx;
    validateAmend(state, req);
    const old = this.ctx.openWorking()[0]!;
    const newTotal = req.quantity ?? state.targetQty;
    if (req.price === undefined) {
      // The order's own new total: the trade's new total less what other entry orders executed.
      const others = state.orders
        .filter((o) => o !== old && o.intent.purpose !== 'bracket')
        .reduce((acc, o) => acc.plus(o.exchange?.executedQty ?? '0'), dec(0));
      const prepared = await acts.planner.prepareOrder({
        symbol: old.intent.symbol,
        side: old.intent.side,
        type: old.intent.type,
        quantity: dec(newTotal).minus(others).toFixed(),
        price: old.intent.price,
        stopPrice: old.intent.stopPrice,
      });
      const snap = await acts.canceller.amendOrderQuantity({ symbol: old.intent.symbol, clientOrderId: old.intent.clientOrderId, newQty: prepared.quantity });
      applySnapshot(old, snap, 'amend: quantity (priority kept)', Date.now(), VENUE);
      // Same status and executed quantity is no transition, but the order's quantity changed.
      if (old.exchange?.origQty !== snap.origQty) old.exchange = snap;
      await this.ctx.record(old);
      if (!dec(snap.origQty).eq(prepared.quantity)) {
        throw ApplicationFailure.nonRetryable(
          `amend refused by the exchange: order ${old.intent.clientOrderId} is ${snap.status}, quantity ${snap.origQty}, executed ${snap.executedQty}`,
          FailureType.OperationFailed,
        );
      }
      state.targetQty = dec(others).plus(prepared.quantity).toFixed();
      return `quantity of ${old.intent.clientOrderId} amended to ${prepared.quantity} in place (queue priority kept)`;
    }
    await this.cancels.cancelOrders([old], 'amend');
    if (!isTerminal(old.state)) {
      throw ApplicationFailure.nonRetryable(`amend: ${old.intent.clientOrderId} could not be cancelled yet (${old.state}); nothing replaced`, FailureType.OperationFailed);
    }
    state.targetQty = newTotal;
    const rest = restAfter(state, newTotal);
    if (dec(rest).lte(0)) return `nothing left to re-place: ${old.intent.clientOrderId} executed ${old.exchange?.executedQty ?? '0'} before the cancel`;
    state.counters.replacement += 1;
    const plan = await this.placement.plan(async () =>
      // No age limit for an operator's amend: the decision was in time when the trade began.
      this.placement.guard(await replacementAfterCancel(input, state, old, req.price, rest, state.counters.replacement, acts.planner.prepareOrder), { checkAge: false }),
    );
    if (!plan) {
      // The rest is below the exchange's minimum (or the guard refused it): the trade keeps what executed.
      if (state.status === 'rejected') this.ctx.setStatus('working');
      return `order ${old.intent.clientOrderId} cancelled; the rest (${rest}) cannot be placed: ${state.error ?? 'refused'}`;
    }
    await this.placement.submit(plan);
    return `replaced by ${plan.orders[0].clientOrderId} for the rest, ${plan.orders[0].quantity}`;
  }

  /** Converts the rest to market now: cancel what rests, then buy or sell what is left at market. */
  private async closeNow(): Promise<string> {
    const state = this.state;
    const resting = this.ctx.openWorking();
    await this.cancels.cancelOrders(resting, 'close now');
    const still = resting.filter((o) => !isTerminal(o.state));
    if (still.length > 0) {
      // Placing the market order now could execute on top of what still rests.
      throw ApplicationFailure.nonRetryable(`close now: ${still.map((o) => o.intent.clientOrderId).join(', ')} not final yet; nothing placed`, FailureType.OperationFailed);
    }
    state.counters.close += 1;
    const phase = state.phase === 'bracket' ? 'bracket' : 'entry';
    const plan = await closePlan(this.ctx.input, state, this.ctx.side, phase, state.counters.close, this.ctx.acts.planner.prepareOrder);
    if (!plan) return 'nothing left to close';
    await this.placement.submit(plan);
    return `market order ${plan.orders[0]!.clientOrderId} placed`;
  }
}

/**
 * Order amend keep priority (PUT /api/v3/order/amend/keepPriority, GET /api/v3/order/amendments,
 * MAX_NUM_ORDER_AMENDS, -2038): a quantity reduction in place that keeps the order's id and so
 * its place in the queue. The engine owns the orders; this keeps each order's amendments.
 */
import { D, dec, ZERO, type Dec } from '../shared/decimal';
import type { Engine } from './engine';
import { DEFAULT_MAX_NUM_ORDER_AMENDS, LIMIT_PRICED, isOpen, type AmendParams, type AmendResult, type Amendment, type InternalOrder } from './model';
import { ApiError, badRequest, filterFailure, MSG } from './wire';

const amendRejected = (msg: string): ApiError => badRequest(-2038, msg);

export class Amendments {
  /** Amendments per `${symbol}:${orderId}`, in execution order. */
  private readonly amendments = new Map<string, Amendment[]>();

  constructor(private readonly engine: Engine) {}


  /**
   * PUT /api/v3/order/amend/keepPriority: reduces an open order's quantity in place. The order
   * keeps its orderId and so its queue priority (see onPrice); its client id becomes
   * `newClientOrderId` (which may be the current one). Amending an OCO leg amends both legs
   * (they must have the same quantity). A failure leaves the order unchanged.
   *
   * newQty at or below the executed quantity: Binance's docs only say newQty must be above 0 and
   * below the order's quantity; its CHANGELOG (2026-04-02) speaks of "orders that expire because
   * of the amendment". The paper exchange therefore lets such an amend succeed and the order end
   * EXPIRED with what it executed (nothing more can fill); an assumption, stated here.
   */
  amend(apiKey: string, p: AmendParams): AmendResult {
    const acct = this.engine.account(apiKey);
    const def = this.engine.symbolDef(p.symbol);
    if (!acct.canTrade) throw new ApiError(401, -2015, MSG.invalidApiKey);
    if (def.amendAllowed === false) throw amendRejected('Order amend is not supported for this symbol.');
    const step = dec(def.stepSize);
    if (p.newQty.lt(dec(def.minQty)) || p.newQty.gt(dec(def.maxQty)) || !p.newQty.mod(step).isZero()) throw filterFailure('LOT_SIZE');
    const o = this.engine.findOrder(apiKey, p.symbol, p.orderId, p.origClientOrderId);
    if (!o || !isOpen(o)) throw amendRejected(MSG.unknownOrderSent);
    if (p.newQty.gt(o.origQty)) throw amendRejected('Order amend (quantity increase) is not supported.');
    if (p.newQty.eq(o.origQty)) throw amendRejected('The requested action would change no state; rejecting');
    if (LIMIT_PRICED.has(o.type) && o.price.mul(p.newQty).lt(dec(def.minNotional))) throw filterFailure('NOTIONAL');
    const key = `${o.symbol}:${o.orderId}`;
    if ((this.amendments.get(key)?.length ?? 0) >= (def.maxNumOrderAmends ?? DEFAULT_MAX_NUM_ORDER_AMENDS)) {
      throw amendRejected('Filter failure: MAX_NUM_ORDER_AMENDS');
    }
    if (p.newClientOrderId !== o.clientOrderId && this.engine.openOrderWithClientId(apiKey, p.symbol, p.newClientOrderId)) throw amendRejected(MSG.duplicateOrder);

    const now = this.engine.now();
    const list = o.orderListId === -1 ? undefined : this.engine.orderLists.lists.get(o.orderListId);
    const legs = list ? this.engine.orderLists.legs(list).filter(isOpen) : [o];
    const origClientOrderId = o.clientOrderId;
    // An OCO locks once, on one leg, for the list's quantity: shrink that lock once.
    this.shrinkLock(list ? legs.find((l) => l.locked.gt(0)) : o, o, p.newQty);
    let executionId = 0;
    for (const leg of legs) {
      const before = { clientOrderId: leg.clientOrderId, qty: leg.origQty };
      leg.origQty = p.newQty;
      if (leg === o) leg.clientOrderId = p.newClientOrderId;
      leg.updateTime = now;
      if (leg.executedQty.gte(p.newQty)) {
        leg.status = 'EXPIRED';
        this.engine.releaseLock(leg);
        this.engine.trackOpen(leg);
      }
      const id = this.engine.emitExec(leg, 'REPLACED', undefined, undefined, before.clientOrderId);
      if (leg === o) executionId = id;
      const k = `${leg.symbol}:${leg.orderId}`;
      const record: Amendment = {
        symbol: leg.symbol,
        orderId: leg.orderId,
        executionId: id,
        origClientOrderId: before.clientOrderId,
        newClientOrderId: leg.clientOrderId,
        origQty: before.qty,
        newQty: p.newQty,
        time: now,
      };
      this.amendments.set(k, [...(this.amendments.get(k) ?? []), record]);
    }
    if (list) {
      if (origClientOrderId !== o.clientOrderId) {
        // Binance: a listStatus with listStatusType UPDATED when an amended leg's client id changed.
        list.listStatusType = 'UPDATED';
        list.transactionTime = now;
        this.engine.emit('listStatus', list, this.engine.orderLists.legs(list));
      }
      this.engine.orderLists.maybeCloseList(list, now);
    }
    return { order: o, origClientOrderId, executionId, transactTime: now, list, legs: list ? this.engine.orderLists.legs(list) : [o] };
  }

  /** Keeps locked only what the remaining quantity after the amend still needs (pro rata, rounded up). */
  private shrinkLock(holder: InternalOrder | undefined, order: InternalOrder, newQty: Dec): void {
    if (!holder || holder.lockAsset === undefined || holder.locked.lte(0)) return;
    const before = order.origQty.minus(order.executedQty);
    const after = D.max(newQty.minus(order.executedQty), ZERO);
    if (before.lte(0)) return;
    const keep = D.min(holder.locked, holder.locked.mul(after).div(before).toDecimalPlaces(8, D.ROUND_UP));
    this.engine.releasePart(holder, holder.locked.minus(keep));
  }

  /** GET /api/v3/order/amendments for one order; undefined when the order does not exist. */
  amendmentsOf(apiKey: string, symbol: string, orderId: number): Amendment[] | undefined {
    const o = this.engine.findOrder(apiKey, symbol, orderId, undefined);
    if (!o) return undefined;
    return [...(this.amendments.get(`${symbol}:${orderId}`) ?? [])];
  }
}

/**
 * The exchange's order answers (query, new-order and order-list responses) as the snapshots and
 * fill records the workflows keep.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Order, OrderResponse } from '../src/exchange';
import type { OrderListResponse } from '../src/exchange/schemas';
import { dec, toWire } from '../src/shared/decimal';
import type { FillRecord, OcoIntent, OrderSnapshot } from '../src/shared/trade';

export function legsOf(resp: OrderListResponse, oco: OcoIntent): { above: OrderSnapshot; below: OrderSnapshot } {
  const find = (cid: string) => {
    const r = resp.orderReports.find((o) => o.clientOrderId === cid);
    if (!r) throw ApplicationFailure.retryable(`order list response has no report for ${cid}`, 'ExchangeUnknownOutcome');
    return fromResponse({ ...r, fills: r.fills ?? [] });
  };
  return { above: find(oco.above.clientOrderId), below: find(oco.below.clientOrderId) };
}

export function toSnapshot(o: Order): OrderSnapshot {
  return {
    symbol: o.symbol,
    orderId: o.orderId,
    clientOrderId: o.origClientOrderId ?? o.clientOrderId,
    orderListId: o.orderListId,
    status: o.status,
    type: o.type,
    side: o.side,
    price: o.price,
    stopPrice: o.stopPrice,
    origQty: o.origQty,
    executedQty: o.executedQty,
    cummulativeQuoteQty: o.cummulativeQuoteQty,
    updateTime: o.updateTime ?? o.transactTime ?? o.time,
    ...(o.expiryReason !== undefined ? { expiryReason: o.expiryReason } : {}),
  };
}

/**
 * Above this many fills the response's fills are not carried into the workflow's history (a
 * sweep through a thin book); settleFills then reads them with myTrades, as it always could.
 */
export const MAX_CARRIED_FILLS = 50;

/**
 * The fills a FULL new-order response lists, as settleFills books them: the trades executed when
 * the order arrived, so taker fills (isMaker false) at the response's transactTime; quoteQty is
 * price × qty exactly (what the books compute when myTrades leaves it out). Undefined when there
 * are none or more than MAX_CARRIED_FILLS.
 */
export function responseFills(r: OrderResponse, clientOrderId: string): FillRecord[] | undefined {
  if (r.fills.length === 0 || r.fills.length > MAX_CARRIED_FILLS) return undefined;
  return r.fills.map((f) => ({
    tradeId: f.tradeId,
    orderId: r.orderId,
    clientOrderId,
    symbol: r.symbol,
    side: r.side,
    price: f.price,
    qty: f.qty,
    quoteQty: toWire(dec(f.price).mul(f.qty)),
    commission: f.commission,
    commissionAsset: f.commissionAsset,
    isMaker: false,
    time: r.transactTime,
  }));
}

export function fromResponse(r: OrderResponse): OrderSnapshot {
  return {
    symbol: r.symbol,
    orderId: r.orderId,
    clientOrderId: r.clientOrderId,
    orderListId: r.orderListId,
    status: r.status,
    type: r.type,
    side: r.side,
    price: r.price,
    stopPrice: r.stopPrice,
    origQty: r.origQty,
    executedQty: r.executedQty,
    cummulativeQuoteQty: r.cummulativeQuoteQty,
    updateTime: r.transactTime,
    ...(r.expiryReason !== undefined ? { expiryReason: r.expiryReason } : {}),
  };
}

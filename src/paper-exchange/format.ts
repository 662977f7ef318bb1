/** Engine objects rendered exactly in Binance's JSON shapes (field order as in the docs). */
import type { Amendment, InternalOrder, InternalTrade, OrderList } from './engine';
import { fmt8 } from './market';
import { ZERO } from '../shared/decimal';
import { stpOrderFields, takerPreventedMatchJson } from './self-trade-prevention';

export function fillJson(t: InternalTrade): Record<string, unknown> {
  return { price: fmt8(t.price), qty: fmt8(t.qty), commission: fmt8(t.commission), commissionAsset: t.commissionAsset, tradeId: t.id };
}

const hasStop = (o: InternalOrder): boolean => o.stopPrice !== undefined;

export function orderAckJson(o: InternalOrder, transactTime: number): Record<string, unknown> {
  return { symbol: o.symbol, orderId: o.orderId, orderListId: o.orderListId, clientOrderId: o.clientOrderId, transactTime };
}

/** From executedQty to the stop price (if the type has one): the same run in a new order's RESULT and a cancel's response. */
function executionFields(o: InternalOrder) {
  return {
    executedQty: fmt8(o.executedQty),
    origQuoteOrderQty: fmt8(o.origQuoteOrderQty),
    cummulativeQuoteQty: fmt8(o.cummulativeQuoteQty),
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
    ...(hasStop(o) ? { stopPrice: fmt8(o.stopPrice!) } : {}),
  };
}

export function orderResultJson(o: InternalOrder, transactTime: number): Record<string, unknown> {
  return {
    ...orderAckJson(o, transactTime),
    price: fmt8(o.price),
    // An OPO's pending order has no quantity yet; Binance's response leaves the field out.
    ...(o.status === 'PENDING_NEW' && o.origQty.isZero() ? {} : { origQty: fmt8(o.origQty) }),
    ...executionFields(o),
    workingTime: o.workingTime,
    ...stpOrderFields(o),
    ...(o.expiryReason !== undefined ? { expiryReason: o.expiryReason } : {}),
  };
}

/** FULL: the result plus its fills, and the matches STP prevented when it was the taker (STP FAQ). */
export function orderFullJson(o: InternalOrder, transactTime: number, fills: InternalTrade[]): Record<string, unknown> {
  const prevented = o.takerPreventedMatches ?? [];
  return { ...orderResultJson(o, transactTime), fills: fills.map(fillJson), ...(prevented.length > 0 ? { preventedMatches: prevented.map(takerPreventedMatchJson) } : {}) };
}

export function orderQueryJson(o: InternalOrder): Record<string, unknown> {
  return {
    symbol: o.symbol,
    orderId: o.orderId,
    orderListId: o.orderListId,
    clientOrderId: o.clientOrderId,
    price: fmt8(o.price),
    origQty: fmt8(o.origQty),
    executedQty: fmt8(o.executedQty),
    cummulativeQuoteQty: fmt8(o.cummulativeQuoteQty),
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
    stopPrice: fmt8(o.stopPrice ?? ZERO),
    icebergQty: '0.00000000',
    time: o.time,
    updateTime: o.updateTime,
    isWorking: o.isWorking,
    workingTime: o.workingTime,
    origQuoteOrderQty: fmt8(o.origQuoteOrderQty),
    ...stpOrderFields(o),
    ...(o.expiryReason !== undefined ? { expiryReason: o.expiryReason } : {}),
  };
}

export function cancelJson(o: InternalOrder, cancelClientOrderId: string, transactTime: number): Record<string, unknown> {
  return {
    symbol: o.symbol,
    origClientOrderId: o.clientOrderId,
    orderId: o.orderId,
    orderListId: o.orderListId,
    clientOrderId: cancelClientOrderId,
    transactTime,
    price: fmt8(o.price),
    origQty: fmt8(o.origQty),
    ...executionFields(o),
    ...stpOrderFields(o),
  };
}

export function tradeJson(t: InternalTrade): Record<string, unknown> {
  return { ...tradeFields(t), isBestMatch: true };
}

/** A trade as myTrades reports it, without isBestMatch (also the admin view's fields). */
export function tradeFields(t: InternalTrade) {
  return {
    symbol: t.symbol,
    id: t.id,
    orderId: t.orderId,
    orderListId: t.orderListId,
    price: fmt8(t.price),
    qty: fmt8(t.qty),
    quoteQty: fmt8(t.quoteQty),
    commission: fmt8(t.commission),
    commissionAsset: t.commissionAsset,
    time: t.time,
    isBuyer: t.isBuyer,
    isMaker: t.isMaker,
  };
}

export function listStatusJson(list: OrderList, legs: InternalOrder[]): Record<string, unknown> {
  return {
    orderListId: list.orderListId,
    contingencyType: list.contingencyType,
    listStatusType: list.listStatusType,
    listOrderStatus: list.listOrderStatus,
    listClientOrderId: list.listClientOrderId,
    transactionTime: list.transactionTime,
    symbol: list.symbol,
    orders: legs.map((o) => ({ symbol: o.symbol, orderId: o.orderId, clientOrderId: o.clientOrderId })),
  };
}

/** `amendedOrder` of PUT /api/v3/order/amend/keepPriority (rest-api.md; note `qty` and `cumulativeQuoteQty`). */
export function amendedOrderJson(o: InternalOrder, origClientOrderId: string): Record<string, unknown> {
  return {
    symbol: o.symbol,
    orderId: o.orderId,
    orderListId: o.orderListId,
    origClientOrderId,
    clientOrderId: o.clientOrderId,
    price: fmt8(o.price),
    qty: fmt8(o.origQty),
    executedQty: fmt8(o.executedQty),
    preventedQty: fmt8(o.preventedQuantity ?? ZERO),
    quoteOrderQty: fmt8(o.origQuoteOrderQty),
    cumulativeQuoteQty: fmt8(o.cummulativeQuoteQty),
    status: o.status,
    timeInForce: o.timeInForce,
    type: o.type,
    side: o.side,
    ...(hasStop(o) ? { stopPrice: fmt8(o.stopPrice!) } : {}),
    ...(o.isWorking ? { workingTime: o.workingTime } : {}),
    ...stpOrderFields(o),
  };
}

/** `listStatus` of an amend response: rest-api.md shows it without listStatusType and transactionTime. */
export function amendListStatusJson(list: OrderList, legs: InternalOrder[]): Record<string, unknown> {
  return {
    orderListId: list.orderListId,
    contingencyType: list.contingencyType,
    listOrderStatus: list.listOrderStatus,
    listClientOrderId: list.listClientOrderId,
    symbol: list.symbol,
    orders: legs.map((o) => ({ symbol: o.symbol, orderId: o.orderId, clientOrderId: o.clientOrderId })),
  };
}

export function amendmentJson(a: Amendment): Record<string, unknown> {
  return {
    symbol: a.symbol,
    orderId: a.orderId,
    executionId: a.executionId,
    origClientOrderId: a.origClientOrderId,
    newClientOrderId: a.newClientOrderId,
    origQty: fmt8(a.origQty),
    newQty: fmt8(a.newQty),
    time: a.time,
  };
}

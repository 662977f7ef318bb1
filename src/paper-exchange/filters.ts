/**
 * The symbol filters Binance checks before the matching engine sees an order (filters.md):
 * PRICE_FILTER, PERCENT_PRICE_BY_SIDE, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL, MAX_NUM_ORDERS,
 * MAX_NUM_ALGO_ORDERS and EXCHANGE_MAX_NUM_ORDERS. Pure: it is handed the account's open orders.
 */
import { dec, ZERO, type Dec } from '../shared/decimal';
import type { SymbolDef } from './market';
import { STOP_TYPES, type InternalOrder, type NewOrderParams } from './model';
import { filterFailure } from './wire';

export interface OpenOrderLimits {
  /** The account's open orders on every symbol. */
  openOfAccount: InternalOrder[];
  /** EXCHANGE_MAX_NUM_ORDERS. */
  maxOpenOrdersPerAccount: number;
  /** The orders the request adds (an OCO 2, an OTOCO 3), as the order-count filters count them. */
  adding: number;
}

/** Throws the filter failure Binance would for the order, or returns. */
export function checkFilters(def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, last: Dec, limits: OpenOrderLimits): void {
  const tick = dec(def.tickSize);
  for (const v of [p.price, p.stopPrice]) {
    if (v === undefined) continue;
    if (v.lt(tick) || v.gt(1_000_000) || !v.mod(tick).isZero()) throw filterFailure('PRICE_FILTER');
  }
  if (p.price !== undefined) {
    const hi = last.mul(5);
    const lo = last.mul('0.2');
    if (p.price.gt(hi) || p.price.lt(lo)) throw filterFailure('PERCENT_PRICE_BY_SIDE');
  }
  if (qty !== undefined) {
    const step = dec(def.stepSize);
    if (qty.lt(dec(def.minQty)) || qty.gt(dec(def.maxQty)) || !qty.mod(step).isZero()) throw filterFailure('LOT_SIZE');
    if (p.type === 'MARKET' && qty.gt(dec(def.marketMaxQty))) throw filterFailure('MARKET_LOT_SIZE');
  }
  const notional = p.price !== undefined && qty !== undefined ? p.price.mul(qty) : p.quoteOrderQty ?? (qty ?? ZERO).mul(p.stopPrice ?? last);
  if (notional.lt(dec(def.minNotional))) throw filterFailure('NOTIONAL');
  if (p.type !== 'MARKET' && notional.gt(dec(def.maxNotional))) throw filterFailure('NOTIONAL');
  const { openOfAccount, adding } = limits;
  const open = openOfAccount.filter((o) => o.symbol === p.symbol);
  if (open.length + adding > def.maxNumOrders) throw filterFailure('MAX_NUM_ORDERS');
  if (STOP_TYPES.has(p.type) && open.filter((o) => STOP_TYPES.has(o.type)).length + 1 > def.maxNumAlgoOrders) {
    throw filterFailure('MAX_NUM_ALGO_ORDERS');
  }
  if (openOfAccount.length + adding > limits.maxOpenOrdersPerAccount) {
    throw filterFailure('EXCHANGE_MAX_NUM_ORDERS');
  }
}

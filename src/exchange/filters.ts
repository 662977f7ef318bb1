/**
 * Symbol trading rules: round an intended order onto the symbol's grid and check every filter
 * locally, with exact decimals, so that a filter failure is found (and explained with numbers)
 * before anything is sent. Binance remains the authority; this only avoids sending orders that
 * are certain to be rejected and makes the rounding explicit and auditable.
 */
import { D, dec, floorToStep, roundToStep, toWire, type Dec } from '../shared/decimal';
import type { ExchangeFilter, ExchangeInfo, SymbolFilter } from './schemas';

export interface SymbolRules {
  symbol: string;
  status: string;
  baseAsset: string;
  quoteAsset: string;
  baseAssetPrecision: number;
  quoteAssetPrecision: number;
  orderTypes: string[];
  ocoAllowed: boolean;
  /** OTO and OTOCO order lists (absent from older exchangeInfo: false). */
  otoAllowed: boolean;
  /** OPO and OPOCO (since 2025-12; absent: false). */
  opoAllowed: boolean;
  quoteOrderQtyMarketAllowed: boolean;
  filters: SymbolFilter[];
  /** Exchange-wide filters (EXCHANGE_MAX_NUM_ORDERS...), which apply to every symbol. */
  exchangeFilters: ExchangeFilter[];
}

export class UnknownSymbolError extends Error {
  constructor(readonly symbol: string) {
    super(`symbol ${JSON.stringify(symbol)} is not in exchangeInfo`);
    this.name = 'UnknownSymbolError';
  }
}

export function symbolRules(info: ExchangeInfo, symbol: string): SymbolRules {
  const s = info.symbols.find((x) => x.symbol === symbol);
  if (!s) throw new UnknownSymbolError(symbol);
  return {
    symbol: s.symbol,
    status: s.status,
    baseAsset: s.baseAsset,
    quoteAsset: s.quoteAsset,
    baseAssetPrecision: s.baseAssetPrecision,
    quoteAssetPrecision: s.quoteAssetPrecision,
    orderTypes: [...s.orderTypes],
    ocoAllowed: s.ocoAllowed,
    otoAllowed: s.otoAllowed ?? false,
    opoAllowed: s.opoAllowed ?? false,
    quoteOrderQtyMarketAllowed: s.quoteOrderQtyMarketAllowed ?? false,
    filters: s.filters,
    exchangeFilters: info.exchangeFilters,
  };
}

export type PrepareResult =
  | { ok: true; quantity: string; price?: string; stopPrice?: string; notional: string }
  | { ok: false; filter: string; reason: string };

export interface OpenOrderCounts {
  /** Open orders on this symbol (algo orders included, as Binance counts them). */
  symbol: number;
  /** Open STOP_LOSS / STOP_LOSS_LIMIT / TAKE_PROFIT / TAKE_PROFIT_LIMIT orders on this symbol. */
  symbolAlgo: number;
  /** Open orders on the whole exchange account. */
  exchange: number;
}

export interface PrepareInput {
  side: 'BUY' | 'SELL';
  type: string;
  quantity: string;
  price?: string;
  stopPrice?: string;
  /** Last or average price; stands in for Binance's reference price in notional and percent checks. */
  marketPrice: string;
  /** When given, MAX_NUM_ORDERS / MAX_NUM_ALGO_ORDERS / EXCHANGE_MAX_NUM_ORDERS are checked too. */
  openOrders?: OpenOrderCounts;
}

const LIMIT_PRICED = new Set(['LIMIT', 'LIMIT_MAKER', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT']);
const STOP_TYPES = new Set(['STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT']);

function filterOf<T extends SymbolFilter['filterType']>(rules: SymbolRules, t: T): Extract<SymbolFilter, { filterType: T }> | undefined {
  return rules.filters.find((f): f is Extract<SymbolFilter, { filterType: T }> => f.filterType === t);
}

function ceilToStep(value: Dec, step: Dec): Dec {
  if (step.isZero()) return value;
  return value.div(step).toDecimalPlaces(0, D.ROUND_UP).mul(step);
}

/** True when `v` is a whole multiple of `step` (a zero step means no grid). */
function onGrid(v: Dec, step: Dec): boolean {
  return step.isZero() || v.mod(step).isZero();
}

/**
 * Floors to every non-zero step. With steps that are powers of ten (all real symbols) one pass
 * suffices; the loop makes it exact for any pair of steps (the value only ever decreases).
 */
function floorToSteps(v: Dec, steps: Dec[]): Dec {
  let q = v;
  for (let i = 0; i < 50; i++) {
    const before = q;
    for (const s of steps) q = floorToStep(q, s);
    if (q.eq(before)) return q;
  }
  return dec(0);
}

function fail(filter: string, reason: string): PrepareResult {
  return { ok: false, filter, reason };
}

/**
 * Rounds the order onto the symbol's grid and checks every filter.
 *
 * - quantity is rounded DOWN to the LOT_SIZE (and for MARKET also MARKET_LOT_SIZE) step, never up:
 *   the risk engine approved at most that size.
 * - price is rounded to the PRICE_FILTER tick toward the less aggressive side (BUY down, SELL up),
 *   so rounding never makes us pay more or sell for less than the decision allowed.
 * - stopPrice is rounded to the nearest tick.
 */
export function prepareOrder(rules: SymbolRules, o: PrepareInput): PrepareResult {
  const lot = filterOf(rules, 'LOT_SIZE');
  const mlot = filterOf(rules, 'MARKET_LOT_SIZE');
  const pf = filterOf(rules, 'PRICE_FILTER');
  const isMarket = o.type === 'MARKET';

  const steps: Dec[] = [];
  if (lot) steps.push(dec(lot.stepSize));
  if (isMarket && mlot) steps.push(dec(mlot.stepSize));
  const rawQty = dec(o.quantity);
  if (!rawQty.isFinite() || rawQty.lte(0)) return fail('LOT_SIZE', `quantity ${o.quantity} must be greater than 0`);
  const qty = floorToSteps(rawQty, steps.filter((s) => !s.isZero()));

  const tick = pf ? dec(pf.tickSize) : dec(0);
  let price: Dec | undefined;
  if (o.price !== undefined) {
    const p = dec(o.price);
    price = o.side === 'BUY' ? floorToStep(p, tick) : ceilToStep(p, tick);
  }
  const stopPrice = o.stopPrice === undefined ? undefined : roundToStep(dec(o.stopPrice), tick);

  return validateOrder(rules, {
    ...o,
    quantity: toWire(qty),
    ...(price === undefined ? {} : { price: toWire(price) }),
    ...(stopPrice === undefined ? {} : { stopPrice: toWire(stopPrice) }),
  }, rawQty);
}

/**
 * Checks an order exactly as given (no rounding). `requested` is only used to explain a quantity
 * that rounding took below the minimum.
 */
export function validateOrder(rules: SymbolRules, o: PrepareInput, requested?: Dec): PrepareResult {
  if (rules.status !== 'TRADING') return fail('SYMBOL_STATUS', `${rules.symbol} status is ${rules.status}, not TRADING`);
  if (!rules.orderTypes.includes(o.type)) {
    return fail('ORDER_TYPE', `${o.type} orders are not allowed on ${rules.symbol} (allowed: ${rules.orderTypes.join(', ')})`);
  }
  const isMarket = o.type === 'MARKET';
  if (LIMIT_PRICED.has(o.type) && o.price === undefined) return fail('PRICE_FILTER', `${o.type} requires a price`);
  if (STOP_TYPES.has(o.type) && o.stopPrice === undefined) return fail('PRICE_FILTER', `${o.type} requires a stopPrice`);

  const qty = dec(o.quantity);
  const price = o.price === undefined ? undefined : dec(o.price);
  const stopPrice = o.stopPrice === undefined ? undefined : dec(o.stopPrice);
  const market = dec(o.marketPrice);
  const roundedNote = requested !== undefined && !requested.eq(qty) ? ` (${toWire(requested)} rounded down to the step)` : '';

  for (const f of [filterOf(rules, 'LOT_SIZE'), isMarket ? filterOf(rules, 'MARKET_LOT_SIZE') : undefined]) {
    if (!f) continue;
    const min = dec(f.minQty);
    const max = dec(f.maxQty);
    const step = dec(f.stepSize);
    if (qty.lte(0) || qty.lt(min)) return fail(f.filterType, `quantity ${toWire(qty)}${roundedNote} is below minQty ${toWire(min)}`);
    if (max.gt(0) && qty.gt(max)) return fail(f.filterType, `quantity ${toWire(qty)} is above maxQty ${toWire(max)}`);
    if (!onGrid(qty, step)) return fail(f.filterType, `quantity ${toWire(qty)} is not a multiple of stepSize ${toWire(step)}`);
  }

  const pf = filterOf(rules, 'PRICE_FILTER');
  if (pf) {
    const min = dec(pf.minPrice);
    const max = dec(pf.maxPrice);
    const tick = dec(pf.tickSize);
    for (const [name, p] of [['price', price], ['stopPrice', stopPrice]] as const) {
      if (p === undefined) continue;
      if (p.lte(0)) return fail('PRICE_FILTER', `${name} ${toWire(p)} must be greater than 0`);
      if (min.gt(0) && p.lt(min)) return fail('PRICE_FILTER', `${name} ${toWire(p)} is below minPrice ${toWire(min)}`);
      if (max.gt(0) && p.gt(max)) return fail('PRICE_FILTER', `${name} ${toWire(p)} is above maxPrice ${toWire(max)}`);
      if (!onGrid(p, tick)) return fail('PRICE_FILTER', `${name} ${toWire(p)} is not a multiple of tickSize ${toWire(tick)}`);
    }
  }

  // A market order has no price of its own; a stop-market order executes near its stop price.
  const notionalPrice = price ?? (isMarket ? market : (stopPrice ?? market));
  const notional = qty.mul(notionalPrice);

  const mn = filterOf(rules, 'MIN_NOTIONAL');
  if (mn && (!isMarket || mn.applyToMarket) && notional.lt(dec(mn.minNotional))) {
    return fail('MIN_NOTIONAL', `notional ${toWire(notional)} (${toWire(qty)} x ${toWire(notionalPrice)}) is below minNotional ${toWire(mn.minNotional)}`);
  }
  const nf = filterOf(rules, 'NOTIONAL');
  if (nf) {
    if ((!isMarket || nf.applyMinToMarket) && notional.lt(dec(nf.minNotional))) {
      return fail('NOTIONAL', `notional ${toWire(notional)} (${toWire(qty)} x ${toWire(notionalPrice)}) is below minNotional ${toWire(nf.minNotional)}`);
    }
    const maxN = dec(nf.maxNotional);
    if ((!isMarket || nf.applyMaxToMarket) && maxN.gt(0) && notional.gt(maxN)) {
      return fail('NOTIONAL', `notional ${toWire(notional)} (${toWire(qty)} x ${toWire(notionalPrice)}) is above maxNotional ${toWire(maxN)}`);
    }
  }

  if (price !== undefined) {
    const pbs = filterOf(rules, 'PERCENT_PRICE_BY_SIDE');
    if (pbs) {
      const up = dec(o.side === 'BUY' ? pbs.bidMultiplierUp : pbs.askMultiplierUp);
      const down = dec(o.side === 'BUY' ? pbs.bidMultiplierDown : pbs.askMultiplierDown);
      const hi = market.mul(up);
      const lo = market.mul(down);
      if (price.gt(hi)) return fail('PERCENT_PRICE_BY_SIDE', `${o.side} price ${toWire(price)} is above ${toWire(hi)} (${toWire(market)} x ${toWire(up)})`);
      if (price.lt(lo)) return fail('PERCENT_PRICE_BY_SIDE', `${o.side} price ${toWire(price)} is below ${toWire(lo)} (${toWire(market)} x ${toWire(down)})`);
    }
    const pp = filterOf(rules, 'PERCENT_PRICE');
    if (pp) {
      const hi = market.mul(dec(pp.multiplierUp));
      const lo = market.mul(dec(pp.multiplierDown));
      if (price.gt(hi)) return fail('PERCENT_PRICE', `price ${toWire(price)} is above ${toWire(hi)} (${toWire(market)} x ${pp.multiplierUp})`);
      if (price.lt(lo)) return fail('PERCENT_PRICE', `price ${toWire(price)} is below ${toWire(lo)} (${toWire(market)} x ${pp.multiplierDown})`);
    }
  }

  if (o.openOrders) {
    const mno = filterOf(rules, 'MAX_NUM_ORDERS');
    if (mno && o.openOrders.symbol + 1 > mno.maxNumOrders) {
      return fail('MAX_NUM_ORDERS', `${o.openOrders.symbol} orders already open on ${rules.symbol}; maxNumOrders is ${mno.maxNumOrders}`);
    }
    const mna = filterOf(rules, 'MAX_NUM_ALGO_ORDERS');
    if (mna && STOP_TYPES.has(o.type) && o.openOrders.symbolAlgo + 1 > mna.maxNumAlgoOrders) {
      return fail('MAX_NUM_ALGO_ORDERS', `${o.openOrders.symbolAlgo} stop/take-profit orders already open on ${rules.symbol}; maxNumAlgoOrders is ${mna.maxNumAlgoOrders}`);
    }
    const emo = rules.exchangeFilters.find((f) => f.filterType === 'EXCHANGE_MAX_NUM_ORDERS');
    if (emo && emo.filterType === 'EXCHANGE_MAX_NUM_ORDERS' && o.openOrders.exchange + 1 > emo.maxNumOrders) {
      return fail('EXCHANGE_MAX_NUM_ORDERS', `${o.openOrders.exchange} orders already open on the account; maxNumOrders is ${emo.maxNumOrders}`);
    }
  }

  return {
    ok: true,
    quantity: toWire(qty),
    ...(price === undefined ? {} : { price: toWire(price) }),
    ...(stopPrice === undefined ? {} : { stopPrice: toWire(stopPrice) }),
    notional: toWire(notional),
  };
}

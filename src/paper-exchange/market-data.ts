/**
 * The market of one symbol as the public market-data endpoints see it: the synthetic book, the
 * trade tape and the prevented-match ledger, plus the statistics and JSON shapes of depth,
 * tickers, avgPrice and trades (rest-api.md, "Market Data endpoints").
 */
import { D, dec, floorToStep, ZERO, type Dec } from '../shared/decimal';
import { SyntheticBook, type BookSide, type DepthLevel } from './book';
import type { SymbolDef } from './market';
import { seededUnit } from './seeded';
import type { PreventedMatch } from './self-trade-prevention';
import { Ring, TradeTape, type AggTrade, type TapeTrade } from './tape';

const fmt8 = (d: Dec): string => d.toFixed(8, D.ROUND_DOWN);

/** Prevented matches kept per symbol for GET /api/v3/myPreventedMatches. */
export const PREVENTED_MATCHES_KEPT = 10_000;

export class SymbolMarket {
  readonly book: SyntheticBook;
  readonly tape = new TradeTape();
  readonly prevented = new Ring<PreventedMatch>(PREVENTED_MATCHES_KEPT);
  /** Binance numbers prevented matches per symbol from 0 (see the STP FAQ's examples). */
  nextPreventedMatchId = 0;

  constructor(readonly def: SymbolDef, private readonly seed: number, price: () => Dec) {
    this.book = new SyntheticBook(def, seed, price);
  }

  /**
   * The market's own trade at a price step, so the tape, klines and tickers move with the walk:
   * a seeded size of 10-100 % of levelQty (at least one lot); the buyer took when the price rose,
   * the seller when it fell, a seeded coin when it did not move.
   */
  syntheticTrade(price: Dec): { qty: Dec; isBuyerMaker: boolean } {
    const step = this.book.stepCount;
    const lot = dec(this.def.stepSize);
    const share = dec((0.1 + 0.9 * seededUnit(this.seed, this.def.symbol, step, 'trade')).toFixed(6));
    const qty = D.max(floorToStep(dec(this.def.levelQty).mul(share), lot), lot);
    const prev = this.tape.lastTrade()?.price;
    const isBuyerMaker = prev === undefined || prev.eq(price) ? seededUnit(this.seed, this.def.symbol, step, 'side') < 0.5 : price.lt(prev);
    return { qty, isBuyerMaker };
  }
}

/** Merges two best-first level lists of one side into one, adding up equal prices. */
export function mergeLevels(side: BookSide, a: DepthLevel[], b: DepthLevel[], limit: number): DepthLevel[] {
  const better = (x: Dec, y: Dec): boolean => (side === 'asks' ? x.lt(y) : x.gt(y));
  const out: DepthLevel[] = [];
  let i = 0;
  let j = 0;
  while (out.length < limit && (i < a.length || j < b.length)) {
    const x = a[i];
    const y = b[j];
    let next: DepthLevel;
    if (x && (!y || better(x.price, y.price))) {
      next = x;
      i++;
    } else if (y && (!x || better(y.price, x.price))) {
      next = y;
      j++;
    } else {
      next = { price: (x as DepthLevel).price, qty: (x as DepthLevel).qty.plus((y as DepthLevel).qty) };
      i++;
      j++;
    }
    out.push({ price: next.price, qty: next.qty });
  }
  return out;
}

/** Resting orders' remaining quantities summed per price, best first. */
export function levelsOf(orders: { price: Dec; qty: Dec }[], side: BookSide): DepthLevel[] {
  const byPrice = new Map<string, DepthLevel>();
  for (const o of orders) {
    const k = o.price.toFixed();
    const l = byPrice.get(k);
    if (l) l.qty = l.qty.plus(o.qty);
    else byPrice.set(k, { price: o.price, qty: o.qty });
  }
  return [...byPrice.values()].sort((x, y) => (side === 'asks' ? x.price.cmp(y.price) : y.price.cmp(x.price)));
}

export function depthJson(lastUpdateId: number, bids: DepthLevel[], asks: DepthLevel[]): Record<string, unknown> {
  const row = (l: DepthLevel): [string, string] => [fmt8(l.price), fmt8(l.qty)];
  return { lastUpdateId, bids: bids.map(row), asks: asks.map(row) };
}

export interface Touch {
  bid: DepthLevel | undefined;
  ask: DepthLevel | undefined;
}

export function bookTickerJson(symbol: string, t: Touch): Record<string, unknown> {
  return {
    symbol,
    bidPrice: fmt8(t.bid?.price ?? ZERO),
    bidQty: fmt8(t.bid?.qty ?? ZERO),
    askPrice: fmt8(t.ask?.price ?? ZERO),
    askQty: fmt8(t.ask?.qty ?? ZERO),
  };
}

/** Price statistics over a window of the tape's 1m bars. */
export interface WindowStats {
  open: Dec;
  high: Dec;
  low: Dec;
  last: Dec;
  prevClose: Dec;
  volume: Dec;
  quoteVolume: Dec;
  firstId: number;
  lastId: number;
  count: number;
}

/**
 * Statistics of the trades in the 1m bars opening at or after `from`. A window without trades
 * reports the last price as open, high, low and close, no volume and ids -1 (as Binance does for
 * a symbol that did not trade).
 */
export function windowStats(tape: TradeTape, from: number, lastPrice: Dec): WindowStats {
  const bars = tape.minutes.bars.toArray();
  const inside = bars.filter((b) => b.openTime >= from);
  const before = bars.filter((b) => b.openTime < from);
  const prev = before[before.length - 1];
  const first = inside[0];
  if (!first) {
    return { open: lastPrice, high: lastPrice, low: lastPrice, last: lastPrice, prevClose: prev?.close ?? lastPrice, volume: ZERO, quoteVolume: ZERO, firstId: -1, lastId: -1, count: 0 };
  }
  const s: WindowStats = { open: first.open, high: first.high, low: first.low, last: first.close, prevClose: prev?.close ?? first.open, volume: ZERO, quoteVolume: ZERO, firstId: first.firstId, lastId: first.lastId, count: 0 };
  for (const b of inside) {
    s.high = D.max(s.high, b.high);
    s.low = D.min(s.low, b.low);
    s.last = b.close;
    s.volume = s.volume.plus(b.volume);
    s.quoteVolume = s.quoteVolume.plus(b.quoteVolume);
    s.firstId = Math.min(s.firstId, b.firstId);
    s.lastId = Math.max(s.lastId, b.lastId);
    s.count += b.count;
  }
  return s;
}

/** Binance prints the change in percent with 3 decimals. */
function changePercent(s: WindowStats): string {
  if (s.open.isZero()) return '0.000';
  return s.last.minus(s.open).div(s.open).mul(100).toFixed(3, D.ROUND_HALF_UP);
}

function weightedAvg(s: WindowStats): Dec {
  return s.volume.isZero() ? ZERO : s.quoteVolume.div(s.volume);
}

export type TickerType = 'FULL' | 'MINI';

/** GET /api/v3/ticker/24hr, FULL or MINI. */
export function ticker24hrJson(symbol: string, s: WindowStats, type: TickerType, touch: Touch, lastQty: Dec, openTime: number, closeTime: number): Record<string, unknown> {
  if (type === 'MINI') return miniJson(symbol, s, openTime, closeTime);
  return {
    symbol,
    priceChange: fmt8(s.last.minus(s.open)),
    priceChangePercent: changePercent(s),
    weightedAvgPrice: fmt8(weightedAvg(s)),
    prevClosePrice: fmt8(s.prevClose),
    lastPrice: fmt8(s.last),
    lastQty: fmt8(lastQty),
    bidPrice: fmt8(touch.bid?.price ?? ZERO),
    bidQty: fmt8(touch.bid?.qty ?? ZERO),
    askPrice: fmt8(touch.ask?.price ?? ZERO),
    askQty: fmt8(touch.ask?.qty ?? ZERO),
    openPrice: fmt8(s.open),
    highPrice: fmt8(s.high),
    lowPrice: fmt8(s.low),
    ...windowTotals(s, openTime, closeTime),
  };
}

/** The window's volumes, times and trade ids: the last fields of both ticker types, in Binance's order. */
function windowTotals(s: WindowStats, openTime: number, closeTime: number) {
  return {
    volume: fmt8(s.volume),
    quoteVolume: fmt8(s.quoteVolume),
    openTime,
    closeTime,
    firstId: s.firstId,
    lastId: s.lastId,
    count: s.count,
  };
}

function miniJson(symbol: string, s: WindowStats, openTime: number, closeTime: number): Record<string, unknown> {
  return {
    symbol,
    openPrice: fmt8(s.open),
    highPrice: fmt8(s.high),
    lowPrice: fmt8(s.low),
    lastPrice: fmt8(s.last),
    ...windowTotals(s, openTime, closeTime),
  };
}

/** GET /api/v3/ticker (rolling window), FULL or MINI: FULL is MINI with the change and the average first. */
export function rollingTickerJson(symbol: string, s: WindowStats, type: TickerType, openTime: number, closeTime: number): Record<string, unknown> {
  const mini = miniJson(symbol, s, openTime, closeTime);
  if (type === 'MINI') return mini;
  return { symbol, priceChange: fmt8(s.last.minus(s.open)), priceChangePercent: changePercent(s), weightedAvgPrice: fmt8(weightedAvg(s)), ...mini };
}

/** rolling windowSize: 1m..59m, 1h..23h, 1d..7d; undefined when not one of those. */
export function windowSizeMs(raw: string): number | undefined {
  const m = /^([1-9]\d?)([mhd])$/.exec(raw);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2];
  if (unit === 'm' && n <= 59) return n * 60_000;
  if (unit === 'h' && n <= 23) return n * 3_600_000;
  if (unit === 'd' && n <= 7) return n * 86_400_000;
  return undefined;
}

/** Binance's average price window (avgPrice's `mins`, the PERCENT_PRICE_BY_SIDE/NOTIONAL avgPriceMins). */
export const AVG_PRICE_MINS = 5;

/**
 * GET /api/v3/avgPrice: the volume-weighted average price of the trades of the last 5 minutes;
 * closeTime is the last trade's time. Without a trade in the window the last price stands in.
 */
export function avgPriceJson(tape: TradeTape, now: number, lastPrice: Dec): Record<string, unknown> {
  const from = now - AVG_PRICE_MINS * 60_000;
  let qty = ZERO;
  let quote = ZERO;
  for (let i = tape.trades.length - 1; i >= 0; i--) {
    const t = tape.trades.at(i) as TapeTrade;
    if (t.time < from) break;
    qty = qty.plus(t.qty);
    quote = quote.plus(t.quoteQty);
  }
  const price = qty.isZero() ? lastPrice : quote.div(qty);
  return { mins: AVG_PRICE_MINS, price: fmt8(price), closeTime: tape.lastTrade()?.time ?? now };
}

export function publicTradeJson(t: TapeTrade): Record<string, unknown> {
  return { id: t.id, price: fmt8(t.price), qty: fmt8(t.qty), quoteQty: fmt8(t.quoteQty), time: t.time, isBuyerMaker: t.isBuyerMaker, isBestMatch: true };
}

export function aggTradeJson(a: AggTrade): Record<string, unknown> {
  return { a: a.aggId, p: fmt8(a.price), q: fmt8(a.qty), f: a.firstId, l: a.lastId, T: a.time, m: a.isBuyerMaker, M: true };
}

/** The tape's trades from `fromId` on (or the most recent), at most `limit`. */
export function tradesFrom(tape: TradeTape, fromId: number | undefined, limit: number): TapeTrade[] {
  const all = tape.trades.toArray();
  if (fromId === undefined) return all.slice(-limit);
  return all.filter((t) => t.id >= fromId).slice(0, limit);
}

/** aggTrades: by fromId, by time range, or the most recent. */
export function aggTradesFrom(tape: TradeTape, fromId: number | undefined, startTime: number | undefined, endTime: number | undefined, limit: number): AggTrade[] {
  return pageFrom(tape.aggs.toArray(), (a) => a.aggId, fromId, startTime, endTime, limit);
}

/**
 * Binance's paging of a history (aggTrades, allOrders, myTrades): those with an id from
 * `fromId` on and a time in [startTime, endTime]; the first `limit` of them when paged from an
 * id or a start time, else the most recent `limit`.
 */
export function pageFrom<T extends { time: number }>(all: T[], id: (t: T) => number, fromId: number | undefined, startTime: number | undefined, endTime: number | undefined, limit: number): T[] {
  let list = all;
  if (fromId !== undefined) list = list.filter((t) => id(t) >= fromId);
  if (startTime !== undefined) list = list.filter((t) => t.time >= startTime);
  if (endTime !== undefined) list = list.filter((t) => t.time <= endTime);
  return fromId !== undefined || startTime !== undefined ? list.slice(0, limit) : list.slice(-limit);
}

/**
 * The paper market: symbol definitions with realistic Binance filters and a seeded random-walk
 * price per symbol (or a replayed kline path). The book around that price is in book.ts.
 */
import { readFileSync } from 'node:fs';
import { D, dec, floorToStep, toWire, type Dec } from '../shared/decimal';
import { fnv1a, mulberry32 } from '../shared/prng';
import { allowedStpModes, defaultStpMode, type StpMode } from './self-trade-prevention';

export interface SymbolDef {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  status: string;
  initialPrice: string;
  tickSize: string;
  stepSize: string;
  minQty: string;
  maxQty: string;
  marketMaxQty: string;
  minNotional: string;
  maxNotional: string;
  /**
   * Typical quantity of the book's best level; deeper levels hold more, each drawn around it
   * (book.ts). A resting order at the touch fills this much per price step.
   */
  levelQty: string;
  /** Levels per side of the synthetic book; default 5000 (book.ts DEFAULT_BOOK_LEVELS). */
  bookLevels?: number;
  /** exchangeInfo's defaultSelfTradePreventionMode; default EXPIRE_MAKER, as on Binance. */
  defaultSelfTradePreventionMode?: StpMode;
  /** exchangeInfo's allowedSelfTradePreventionModes; default all six (TRANSFER since 2026-04-02). */
  allowedSelfTradePreventionModes?: StpMode[];
  orderTypes: string[];
  maxNumOrders: number;
  maxNumAlgoOrders: number;
  /** exchangeInfo's amendAllowed (order amend keep priority); default true, as on Binance since 2025. */
  amendAllowed?: boolean;
  /** MAX_NUM_ORDER_AMENDS: amendments allowed per order; default 10, Binance's. */
  maxNumOrderAmends?: number;
}

const ALL_TYPES = ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT'];

/** What the default symbols have alike: trading, every order type, the same notional cap and order limits. */
const DEFAULT_LISTING = { status: 'TRADING', maxNotional: '9000000', orderTypes: ALL_TYPES, maxNumOrders: 200, maxNumAlgoOrders: 5 } as const;

export const DEFAULT_SYMBOLS: SymbolDef[] = [
  {
    ...DEFAULT_LISTING, symbol: 'BTCUSDT', baseAsset: 'BTC', quoteAsset: 'USDT', initialPrice: '60000.00',
    tickSize: '0.01', stepSize: '0.00001', minQty: '0.00001', maxQty: '9000', marketMaxQty: '120', minNotional: '5', levelQty: '0.5',
  },
  {
    ...DEFAULT_LISTING, symbol: 'ETHUSDT', baseAsset: 'ETH', quoteAsset: 'USDT', initialPrice: '3000.00',
    tickSize: '0.01', stepSize: '0.0001', minQty: '0.0001', maxQty: '9000', marketMaxQty: '2500', minNotional: '5', levelQty: '8',
  },
  {
    ...DEFAULT_LISTING, symbol: 'BNBUSDT', baseAsset: 'BNB', quoteAsset: 'USDT', initialPrice: '600.00',
    tickSize: '0.01', stepSize: '0.001', minQty: '0.001', maxQty: '9000', marketMaxQty: '5000', minNotional: '5', levelQty: '40',
  },
  {
    ...DEFAULT_LISTING, symbol: 'ETHBTC', baseAsset: 'ETH', quoteAsset: 'BTC', initialPrice: '0.05000',
    tickSize: '0.00001', stepSize: '0.0001', minQty: '0.0001', maxQty: '100000', marketMaxQty: '2000', minNotional: '0.0001', levelQty: '8',
  },
];

/** Binance prints decimals with 8 places in REST responses. */
export function fmt8(d: Dec): string {
  return d.toFixed(8, D.ROUND_DOWN);
}

/** The exchangeInfo entry for a symbol, shaped exactly like Binance's. */
export function symbolInfoJson(s: SymbolDef): Record<string, unknown> {
  return {
    symbol: s.symbol,
    status: s.status,
    baseAsset: s.baseAsset,
    baseAssetPrecision: 8,
    quoteAsset: s.quoteAsset,
    quotePrecision: 8,
    quoteAssetPrecision: 8,
    baseCommissionPrecision: 8,
    quoteCommissionPrecision: 8,
    orderTypes: s.orderTypes,
    // The order routes refuse icebergQty (-1020), so the symbol must not say it allows icebergs.
    icebergAllowed: false,
    ocoAllowed: true,
    otoAllowed: true,
    opoAllowed: true,
    quoteOrderQtyMarketAllowed: true,
    allowTrailingStop: false,
    cancelReplaceAllowed: true,
    amendAllowed: s.amendAllowed !== false,
    pegInstructionsAllowed: false,
    isSpotTradingAllowed: true,
    isMarginTradingAllowed: false,
    filters: [
      { filterType: 'PRICE_FILTER', minPrice: fmt8(dec(s.tickSize)), maxPrice: fmt8(dec(1_000_000)), tickSize: fmt8(dec(s.tickSize)) },
      { filterType: 'LOT_SIZE', minQty: fmt8(dec(s.minQty)), maxQty: fmt8(dec(s.maxQty)), stepSize: fmt8(dec(s.stepSize)) },
      { filterType: 'ICEBERG_PARTS', limit: 10 },
      { filterType: 'MARKET_LOT_SIZE', minQty: fmt8(dec(0)), maxQty: fmt8(dec(s.marketMaxQty)), stepSize: fmt8(dec(0)) },
      { filterType: 'TRAILING_DELTA', minTrailingAboveDelta: 10, maxTrailingAboveDelta: 2000, minTrailingBelowDelta: 10, maxTrailingBelowDelta: 2000 },
      { filterType: 'PERCENT_PRICE_BY_SIDE', bidMultiplierUp: '5', bidMultiplierDown: '0.2', askMultiplierUp: '5', askMultiplierDown: '0.2', avgPriceMins: 5 },
      { filterType: 'NOTIONAL', minNotional: fmt8(dec(s.minNotional)), applyMinToMarket: true, maxNotional: fmt8(dec(s.maxNotional)), applyMaxToMarket: false, avgPriceMins: 5 },
      { filterType: 'MAX_NUM_ORDERS', maxNumOrders: s.maxNumOrders },
      { filterType: 'MAX_NUM_ALGO_ORDERS', maxNumAlgoOrders: s.maxNumAlgoOrders },
      { filterType: 'MAX_NUM_ORDER_LISTS', maxNumOrderLists: 20 },
      { filterType: 'MAX_NUM_ORDER_AMENDS', maxNumOrderAmends: s.maxNumOrderAmends ?? 10 },
    ],
    permissions: [],
    permissionSets: [['SPOT']],
    defaultSelfTradePreventionMode: defaultStpMode(s),
    allowedSelfTradePreventionModes: [...allowedStpModes(s)],
  };
}

/**
 * One symbol's price path. The random walk is the only place a JS number touches a price: it
 * draws a relative move, which is turned into an exact decimal and snapped to the tick.
 */
export class PricePath {
  private readonly rand: () => number;
  private replay: string[] | undefined;
  private replayIndex = 0;
  price: Dec;

  /** `seed` also seeds the symbol's book (book.ts), so one seed reproduces price and book. */
  constructor(readonly def: SymbolDef, readonly seed: number, private readonly volatility = 0.0005) {
    this.rand = mulberry32(seed ^ fnv1a(def.symbol));
    this.price = dec(def.initialPrice);
  }

  /** Replays close prices (Binance kline arrays: index 4 is the close) instead of walking. */
  loadKlines(closes: string[]): void {
    if (closes.length === 0) throw new Error(`no klines for ${this.def.symbol}`);
    this.replay = closes;
    this.replayIndex = 0;
    this.price = dec(closes[0] as string);
  }

  step(): Dec {
    if (this.replay) {
      this.replayIndex = (this.replayIndex + 1) % this.replay.length;
      this.price = dec(this.replay[this.replayIndex] as string);
      return this.price;
    }
    // Box-Muller normal draw, clipped so a path can never reach zero.
    const u = Math.max(this.rand(), 1e-12);
    const v = this.rand();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    const move = Math.max(-0.05, Math.min(0.05, z * this.volatility));
    const tick = dec(this.def.tickSize);
    const next = floorToStep(this.price.mul(dec(1).plus(dec(move.toFixed(8)))), tick);
    this.price = next.lte(0) ? tick : next;
    return this.price;
  }
}

/** Reads a kline file: a JSON array of Binance kline arrays ([openTime, open, high, low, close, ...]). */
export function readKlineCloses(path: string): string[] {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(raw)) throw new Error(`${path}: expected a JSON array of klines`);
  return raw.map((k, i) => {
    if (!Array.isArray(k) || typeof k[4] !== 'string') throw new Error(`${path}: kline ${i} has no close price string at index 4`);
    return toWire(dec(k[4]));
  });
}

export type { DepthLevel } from './book';

/**
 * The public trade tape of one symbol: every trade that happens on it (user fills and the one
 * synthetic market trade per price step), kept in bounded rings, plus the aggregate trades and
 * the 1-second and 1-minute bars klines and tickers are computed from. All bounded: a paper
 * exchange that runs for weeks must not grow without limit.
 */
import { D, ZERO, type Dec } from '../shared/decimal';

/** A fixed-capacity ring: pushing onto a full ring drops the oldest entry. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(v: T): void {
    if (this.count < this.capacity) {
      this.items[(this.start + this.count) % this.capacity] = v;
      this.count++;
    } else {
      this.items[this.start] = v;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Entry `i`, oldest first. */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    return this.items[(this.start + i) % this.capacity];
  }

  last(): T | undefined {
    return this.at(this.count - 1);
  }

  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.at(i) as T);
    return out;
  }
}

export interface TapeTrade {
  id: number;
  price: Dec;
  qty: Dec;
  quoteQty: Dec;
  time: number;
  isBuyerMaker: boolean;
}

export interface AggTrade {
  aggId: number;
  price: Dec;
  qty: Dec;
  firstId: number;
  lastId: number;
  time: number;
  isBuyerMaker: boolean;
  /** The taker order the trades came from; undefined for trades that aggregate with nothing. */
  taker: string | undefined;
}

export interface Bar {
  openTime: number;
  open: Dec;
  high: Dec;
  low: Dec;
  close: Dec;
  volume: Dec;
  quoteVolume: Dec;
  count: number;
  takerBuyVolume: Dec;
  takerBuyQuoteVolume: Dec;
  firstId: number;
  lastId: number;
}

/** Bars of one fixed width; a trade goes into the bar its time falls in (or the newest, if time went back). */
export class BarSeries {
  readonly bars: Ring<Bar>;

  constructor(readonly widthMs: number, capacity: number) {
    this.bars = new Ring(capacity);
  }

  add(t: TapeTrade): void {
    const openTime = Math.floor(t.time / this.widthMs) * this.widthMs;
    const lastBar = this.bars.last();
    const takerBuy = !t.isBuyerMaker;
    // A skewed clock can step back; the trade still counts, in the newest bar.
    if (lastBar && openTime <= lastBar.openTime) {
      lastBar.high = D.max(lastBar.high, t.price);
      lastBar.low = D.min(lastBar.low, t.price);
      lastBar.close = t.price;
      lastBar.volume = lastBar.volume.plus(t.qty);
      lastBar.quoteVolume = lastBar.quoteVolume.plus(t.quoteQty);
      lastBar.count++;
      if (takerBuy) {
        lastBar.takerBuyVolume = lastBar.takerBuyVolume.plus(t.qty);
        lastBar.takerBuyQuoteVolume = lastBar.takerBuyQuoteVolume.plus(t.quoteQty);
      }
      lastBar.lastId = Math.max(lastBar.lastId, t.id);
      return;
    }
    this.bars.push({
      openTime,
      open: t.price,
      high: t.price,
      low: t.price,
      close: t.price,
      volume: t.qty,
      quoteVolume: t.quoteQty,
      count: 1,
      takerBuyVolume: takerBuy ? t.qty : ZERO,
      takerBuyQuoteVolume: takerBuy ? t.quoteQty : ZERO,
      firstId: t.id,
      lastId: t.id,
    });
  }
}

/** Trades kept per symbol for /trades, /historicalTrades, /aggTrades and avgPrice. */
export const TAPE_CAPACITY = 10_000;
/** One hour of 1s bars (the 1s klines) and seven days of 1m bars (every other interval, the tickers' 7d maximum window). */
export const SECOND_BARS = 3_600;
export const MINUTE_BARS = 7 * 24 * 60;

export class TradeTape {
  readonly trades = new Ring<TapeTrade>(TAPE_CAPACITY);
  readonly aggs = new Ring<AggTrade>(TAPE_CAPACITY);
  readonly seconds = new BarSeries(1_000, SECOND_BARS);
  readonly minutes = new BarSeries(60_000, MINUTE_BARS);
  private nextAggId = 1;

  /**
   * Records a trade. Trades of one taker order at one price and time aggregate into one
   * aggTrade (Binance: "Trades that fill at the time, from the same taker order, with the same
   * price will have the quantity aggregated").
   */
  record(t: TapeTrade, taker: string | undefined): void {
    this.trades.push(t);
    this.seconds.add(t);
    this.minutes.add(t);
    const prev = this.aggs.last();
    if (prev && taker !== undefined && prev.taker === taker && prev.price.eq(t.price) && prev.time === t.time && prev.lastId < t.id) {
      prev.qty = prev.qty.plus(t.qty);
      prev.lastId = t.id;
      return;
    }
    this.aggs.push({ aggId: this.nextAggId++, price: t.price, qty: t.qty, firstId: t.id, lastId: t.id, time: t.time, isBuyerMaker: t.isBuyerMaker, taker });
  }

  lastTrade(): TapeTrade | undefined {
    return this.trades.last();
  }
}

/**
 * The market side of each symbol: its price path (market.ts), its synthetic book, public tape
 * and prevented matches (market-data.ts), and its trade ids, which the tape's own trades and
 * the users' fills share. The depth it shows merges the users' resting orders into the book.
 */
import type { Dec } from '../shared/decimal';
import type { BookSide, DepthLevel } from './book';
import { PricePath, type SymbolDef } from './market';
import { levelsOf, mergeLevels, SymbolMarket } from './market-data';
import type { InternalOrder } from './model';
import { availableQty, type PreventedMatch } from './self-trade-prevention';
import { badRequest, MSG } from './wire';

export class SymbolMarkets {
  /** By symbol; the engine hands this very map out as `Engine.paths`. */
  readonly paths = new Map<string, PricePath>();
  /** Book, tape and prevented matches per symbol, created on first use. */
  private readonly markets = new Map<string, SymbolMarket>();
  private readonly nextTradeId = new Map<string, number>();

  constructor(
    private readonly seed: number,
    /** The users' resting orders on one side, best first (OrderRegistry.resting). */
    private readonly restingOrders: (symbol: string, side: BookSide) => InternalOrder[],
  ) {}

  addSymbol(def: SymbolDef): void {
    this.paths.set(def.symbol, new PricePath(def, this.seed));
    this.nextTradeId.set(def.symbol, 1);
  }

  lastPrice(symbol: string): Dec {
    const p = this.paths.get(symbol);
    if (!p) throw badRequest(-1121, MSG.invalidSymbol);
    return p.price;
  }

  marketOf(symbol: string): SymbolMarket {
    let m = this.markets.get(symbol);
    if (!m) {
      const path = this.paths.get(symbol);
      if (!path) throw badRequest(-1121, MSG.invalidSymbol);
      m = new SymbolMarket(path.def, path.seed, () => path.price);
      this.markets.set(symbol, m);
    }
    return m;
  }

  allocateTradeId(symbol: string): number {
    const id = this.nextTradeId.get(symbol) ?? 1;
    this.nextTradeId.set(symbol, id + 1);
    return id;
  }

  /** A price step: a fresh book, and the market's own trade at the new price on the tape. */
  step(symbol: string, now: number): void {
    const m = this.marketOf(symbol);
    m.book.redraw();
    const price = this.lastPrice(symbol);
    const t = m.syntheticTrade(price);
    m.tape.record({ id: this.allocateTradeId(symbol), price, qty: t.qty, quoteQty: price.mul(t.qty), time: now, isBuyerMaker: t.isBuyerMaker }, undefined);
  }

  /** The book as GET /api/v3/depth shows it: synthetic levels and resting orders, `limit` levels a side. */
  depthOf(symbol: string, limit: number): { lastUpdateId: number; bids: DepthLevel[]; asks: DepthLevel[] } {
    const m = this.marketOf(symbol);
    const side = (s: BookSide): DepthLevel[] => {
      const resting = levelsOf(this.restingOrders(symbol, s).map((o) => ({ price: o.price, qty: availableQty(o) })), s);
      return mergeLevels(s, resting, m.book.top(s, limit), limit);
    };
    return { lastUpdateId: m.book.updateId, bids: side('bids'), asks: side('asks') };
  }

  /** GET /api/v3/myPreventedMatches: the account's prevented matches on a symbol, oldest first. */
  preventedMatchesOf(apiKey: string, symbol: string): PreventedMatch[] {
    return this.marketOf(symbol).prevented.toArray().filter((m) => m.account === apiKey);
  }
}

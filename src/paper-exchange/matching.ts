/**
 * Matching: a working order takes liquidity from the book (the synthetic levels and the users'
 * resting orders, walked by taker-walk.ts) or rests; a resting order fills when the price
 * crosses it; each fill moves both balances, pays its commission (the FeeModel, fees.ts) and
 * goes on the public tape; self-trade prevention takes quantity instead of trading it. It also
 * estimates from the book what a MARKET order will need (quantity by quote, funds to hold).
 */
import { D, dec, floorToStep, ZERO, type Dec } from '../shared/decimal';
import type { Accounts, FundsLock } from './accounts';
import type { BookSide } from './book';
import type { FeeModel } from './fees';
import type { SymbolDef } from './market';
import { isOpen, type ExecType, type InternalOrder, type InternalTrade, type NewOrderParams, type Side } from './model';
import type { OrderLists } from './order-lists';
import type { OrderRegistry } from './order-registry';
import { availableQty, defaultStpMode, type PreventedMatch, type PreventionDetail } from './self-trade-prevention';
import type { SymbolMarkets } from './symbol-markets';
import { planWalk, type WalkPlan, type WalkRequest, type WalkStep } from './taker-walk';

/** What matching needs from the rest of the engine. */
export interface MatchingVenue {
  symbolDef(symbol: string): SymbolDef;
  accounts: Accounts;
  orders: OrderRegistry;
  markets: SymbolMarkets;
  fees: FeeModel;
  /** Told of each fill and close of an order that belongs to a list. */
  lists: Pick<OrderLists, 'adoptListLock' | 'onListLegFilled' | 'onWorkingOrderClosed'>;
  /** Closes an open order (Engine.finish): its lock back, its report, its list told. */
  finish(order: InternalOrder, status: 'EXPIRED', now: number, expiryReason: string): void;
  emitExec(order: InternalOrder, execType: ExecType, trade: InternalTrade | undefined): number;
  emitPrevention(order: InternalOrder, prevention: PreventionDetail, now: number): void;
}

/** Whether a limit order at `price` would trade at once at the last price (LIMIT_MAKER refuses it). */
export function marketable(side: Side, price: Dec, last: Dec): boolean {
  return side === 'BUY' ? price.gte(last) : price.lte(last);
}

/** The trades of a planned walk as price levels (STP events left out). */
function tradedLevels(plan: WalkPlan<InternalOrder>): { price: Dec; qty: Dec }[] {
  return plan.steps.flatMap((st) => (st.kind === 'prevent' ? [] : [{ price: st.price, qty: st.qty }]));
}

export class Matching {
  /** The users' trades per symbol, in trade order. */
  private readonly tradesBySymbol = new Map<string, InternalTrade[]>();

  constructor(private readonly venue: MatchingVenue) {}

  addSymbol(symbol: string): void {
    this.tradesBySymbol.set(symbol, []);
  }

  tradesOf(symbol?: string): InternalTrade[] {
    if (symbol !== undefined) return [...(this.tradesBySymbol.get(symbol) ?? [])];
    return [...this.tradesBySymbol.values()].flat();
  }

  // ---- estimates from the book ----

  /** For MARKET by quoteOrderQty the quantity is only known by walking the book. */
  resolveQuantity(def: SymbolDef, p: NewOrderParams): Dec | undefined {
    if (p.quantity !== undefined) return p.quantity;
    if (p.quoteOrderQty === undefined) return undefined;
    const plan = this.planQuote(def, p.side, p.quoteOrderQty);
    return plan.reduce((a, l) => a.plus(l.qty), ZERO);
  }

  /** The funds an order needs: locked while it is open; for MARKET, only checked to be there. */
  lockFor(def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, last: Dec): FundsLock | undefined {
    if (p.type === 'MARKET') {
      // Not locked, but funds must be there: estimate by walking the book.
      if (p.side === 'SELL') return { asset: def.baseAsset, amount: qty ?? ZERO };
      const cost = p.quoteOrderQty ?? this.planQty(def, 'BUY', qty ?? ZERO, undefined).reduce((a, l) => a.plus(l.price.mul(l.qty)), ZERO);
      return { asset: def.quoteAsset, amount: cost };
    }
    if (p.side === 'SELL') return { asset: def.baseAsset, amount: qty ?? ZERO };
    // Stop-market BUY has no price; lock at the stop price as the best estimate.
    const px = p.price ?? p.stopPrice ?? last;
    return { asset: def.quoteAsset, amount: px.mul(qty ?? ZERO) };
  }

  /**
   * Levels a quantity would take, best first, optionally bounded by a limit price: an estimate
   * (for locks and quoteOrderQty) that counts every resting order as liquidity, STP aside.
   */
  private planQty(def: SymbolDef, side: Side, qty: Dec, limit: Dec | undefined): { price: Dec; qty: Dec }[] {
    return tradedLevels(this.walkFor(def.symbol, { side, account: '', mode: 'NONE', remaining: qty, quote: undefined, limit, lotStep: dec(def.stepSize) }));
  }

  /** Levels a quote amount buys (or a SELL needs to raise), quantities floored to the lot step. */
  private planQuote(def: SymbolDef, side: Side, quote: Dec): { price: Dec; qty: Dec }[] {
    const all = dec(def.maxQty).plus(dec(def.marketMaxQty));
    return tradedLevels(this.walkFor(def.symbol, { side, account: '', mode: 'NONE', remaining: all, quote, limit: undefined, lotStep: dec(def.stepSize) }));
  }

  private walkFor(symbol: string, req: WalkRequest): WalkPlan<InternalOrder> {
    const m = this.venue.markets.marketOf(symbol);
    const side: BookSide = req.side === 'BUY' ? 'asks' : 'bids';
    const resting = this.venue.orders.resting(symbol, side).map((o) => ({
      order: o,
      account: o.account,
      price: o.price,
      available: availableQty(o),
      mode: o.selfTradePreventionMode ?? defaultStpMode(m.def),
    }));
    return planWalk(req, m.book.levels(side), resting);
  }

  // ---- taking and resting ----

  /**
   * Matches a working order as taker against the book (the synthetic levels and the users'
   * resting orders, taker-walk.ts), then rests or expires the rest.
   */
  takeLiquidity(order: InternalOrder, now: number): InternalTrade[] {
    const def = this.venue.symbolDef(order.symbol);
    const remaining = availableQty(order);
    const isMarket = order.type === 'MARKET' || order.type === 'STOP_LOSS' || order.type === 'TAKE_PROFIT';
    const byQuote = isMarket && order.origQuoteOrderQty.gt(0);
    const plan = this.walkFor(order.symbol, {
      side: order.side,
      account: order.account,
      mode: order.selfTradePreventionMode ?? defaultStpMode(def),
      remaining,
      quote: byQuote ? order.origQuoteOrderQty.minus(order.cummulativeQuoteQty) : undefined,
      limit: isMarket ? undefined : order.price,
      lotStep: dec(def.stepSize),
    });

    if (!isMarket && order.timeInForce === 'FOK' && plan.filled.lt(remaining)) {
      this.venue.finish(order, 'EXPIRED', now, 'UNFILLED_FOK_ORDER_EXPIRED');
      return [];
    }
    const book = this.venue.markets.marketOf(order.symbol).book;
    const bookSide: BookSide = order.side === 'BUY' ? 'asks' : 'bids';
    const fills: InternalTrade[] = [];
    for (const step of plan.steps) {
      if (!isOpen(order)) break;
      if (step.kind === 'prevent') {
        this.preventMatch(order, step, now);
        continue;
      }
      // A resting order can close during the walk (its OCO sibling traded, say): skip it.
      if (step.kind === 'order' && !isOpen(step.maker)) continue;
      const tradeId = this.venue.markets.allocateTradeId(order.symbol);
      const t = this.fill(order, step.price, step.qty, false, now, tradeId);
      if (!t) break;
      fills.push(t);
      if (step.kind === 'book') book.take(bookSide, step.index, step.qty);
      // The resting side of the same trade: same trade id, as maker, on the tape once.
      else this.fill(step.maker, step.price, step.qty, true, now, tradeId, false);
    }
    if (isOpen(order)) {
      if (isMarket) this.venue.finish(order, 'EXPIRED', now, 'INSUFFICIENT_LIQUIDITY');
      else if (order.timeInForce === 'IOC') this.venue.finish(order, 'EXPIRED', now, 'UNFILLED_IOC_QUANTITY_EXPIRED');
      // GTC: rests on the book; fillResting() fills it when the price crosses.
    }
    return fills;
  }

  /**
   * A resting order at a new last price: through its price it fills in full; at the touch only
   * the best level's worth trades, shared in priority order by the resting orders of a side
   * (`touchLeft`, per side, for one price step: a deterministic partial fill).
   */
  fillResting(order: InternalOrder, last: Dec, now: number, touchLeft: Map<Side, Dec>): void {
    const def = this.venue.symbolDef(order.symbol);
    const remaining = availableQty(order);
    if (remaining.lte(0)) return;
    const through = order.side === 'BUY' ? last.lt(order.price) : last.gt(order.price);
    const touch = last.eq(order.price);
    if (through) this.fill(order, order.price, remaining, true, now);
    else if (touch) {
      const left = touchLeft.get(order.side) ?? dec(def.levelQty);
      const qty = floorToStep(D.min(remaining, left), dec(def.stepSize));
      if (qty.gt(0) && this.fill(order, order.price, qty, true, now)) touchLeft.set(order.side, left.minus(qty));
    }
  }

  /**
   * Applies one fill to the order and both balances. Returns undefined if funds ran out.
   * `tradeId`: the id both sides of a match share (default: a new one); `onTape`: false for the
   * second side of a match between two user orders, so the public tape has each trade once.
   */
  fill(order: InternalOrder, price: Dec, qty: Dec, isMaker: boolean, now: number, tradeId?: number, onTape = true): InternalTrade | undefined {
    const { accounts, markets } = this.venue;
    const def = this.venue.symbolDef(order.symbol);
    const acct = accounts.get(order.account);
    const quote = price.mul(qty);
    const base = accounts.balance(acct, def.baseAsset);
    const quoteBal = accounts.balance(acct, def.quoteAsset);
    this.venue.lists.adoptListLock(order);

    // Release the share of the lock this fill consumes; the debit below then comes from free.
    accounts.releaseLockShare(order, qty, price);
    if (order.side === 'BUY' ? quoteBal.free.lt(quote) : base.free.lt(qty)) return undefined;

    const fee = this.venue.fees.commission({ account: acct, symbol: def, side: order.side, liquidity: isMaker ? 'MAKER' : 'TAKER', price, qty, quote });
    if (order.side === 'BUY') {
      quoteBal.free = quoteBal.free.minus(quote);
      base.free = base.free.plus(qty);
    } else {
      base.free = base.free.minus(qty);
      quoteBal.free = quoteBal.free.plus(quote);
    }
    const feeBal = accounts.balance(acct, fee.asset);
    feeBal.free = feeBal.free.minus(fee.amount);
    acct.updateTime = now;

    const id = tradeId ?? markets.allocateTradeId(def.symbol);
    const trade: InternalTrade = {
      account: acct.apiKey,
      symbol: def.symbol,
      id,
      orderId: order.orderId,
      orderListId: order.orderListId,
      price,
      qty,
      quoteQty: quote,
      commission: fee.amount,
      commissionAsset: fee.asset,
      time: now,
      isBuyer: order.side === 'BUY',
      isMaker,
    };
    this.tradesBySymbol.get(def.symbol)?.push(trade);
    if (onTape) {
      // The buyer made the market when a resting BUY filled, or when a taker SELL hit a bid.
      const isBuyerMaker = isMaker === (order.side === 'BUY');
      markets.marketOf(def.symbol).tape.record({ id, price, qty, quoteQty: quote, time: now, isBuyerMaker }, isMaker ? undefined : `${order.orderId}`);
    }
    order.executedQty = order.executedQty.plus(qty);
    order.cummulativeQuoteQty = order.cummulativeQuoteQty.plus(quote);
    order.updateTime = now;
    // Done when nothing is left to execute; quantity STP took (DECREMENT) counts as gone.
    const done = availableQty(order).lte(0) && order.origQty.gt(0);
    if (done) {
      order.status = 'FILLED';
      accounts.releaseLock(order);
      this.venue.orders.trackOpen(order);
    } else {
      order.status = 'PARTIALLY_FILLED';
    }
    this.venue.emitExec(order, 'TRADE', trade);
    this.venue.lists.onListLegFilled(order, now);
    return trade;
  }

  // ---- self-trade prevention (the modes and quantities: self-trade-prevention.ts) ----

  /** One prevented match between a taker and a resting order of its account. */
  private preventMatch(taker: InternalOrder, step: Extract<WalkStep<InternalOrder>, { kind: 'prevent' }>, now: number): void {
    const m = this.venue.markets.marketOf(taker.symbol);
    const maker = step.maker;
    const match: PreventedMatch = {
      symbol: taker.symbol,
      preventedMatchId: m.nextPreventedMatchId++,
      account: taker.account,
      takerOrderId: taker.orderId,
      makerOrderId: maker.orderId,
      selfTradePreventionMode: step.mode,
      price: step.price,
      takerPreventedQuantity: step.takerQty,
      makerPreventedQuantity: step.makerQty,
      transactTime: now,
    };
    m.prevented.push(match);
    taker.takerPreventedMatches = [...(taker.takerPreventedMatches ?? []), match];
    const wouldHaveTraded = D.min(availableQty(taker), availableQty(maker));
    if (step.makerQty.gt(0)) this.preventQuantity(maker, step.makerQty, match, taker, wouldHaveTraded, now);
    if (step.takerQty.gt(0)) this.preventQuantity(taker, step.takerQty, match, maker, wouldHaveTraded, now);
  }

  /** STP takes `qty` from an order: its lock shrinks with it; with nothing left it is EXPIRED_IN_MATCH. */
  private preventQuantity(o: InternalOrder, qty: Dec, match: PreventedMatch, counter: InternalOrder, wouldHaveTraded: Dec, now: number): void {
    o.preventedQuantity = (o.preventedQuantity ?? ZERO).plus(qty);
    o.preventedMatchId = match.preventedMatchId;
    o.updateTime = now;
    const closes = availableQty(o).lte(0);
    if (closes) {
      o.status = 'EXPIRED_IN_MATCH';
      this.venue.accounts.releaseLock(o);
      this.venue.orders.trackOpen(o);
    } else {
      this.venue.accounts.releaseLockShare(o, qty, match.price);
    }
    const prevention: PreventionDetail = { preventedMatchId: match.preventedMatchId, lastPreventedQuantity: qty, counterOrderId: counter.orderId, counterSymbol: counter.symbol, price: match.price, qty: wouldHaveTraded };
    this.venue.emitPrevention(o, prevention, now);
    if (closes) {
      // An order list loses a leg as if it had expired: its siblings go (OCO), its pending orders too (OTO).
      this.venue.lists.onListLegFilled(o, now);
      this.venue.lists.onWorkingOrderClosed(o, now);
    }
  }
}

/**
 * The paper matching engine: accounts and balances, placing orders against the filters, fills
 * against the book (book.ts, walked by taker-walk.ts), resting orders that fill when the price
 * crosses, stop/take-profit triggers and self-trade prevention. Beside it, each in its own
 * module and told of the fills and closes that concern it: order lists (order-lists.ts),
 * amend keep-priority (amend.ts), commissions (fees.ts, the FeeModel seam); the objects
 * themselves are in model.ts. It knows nothing about HTTP; it throws ApiError with Binance's
 * codes and messages.
 */
import { EventEmitter } from 'node:events';
import { D, dec, floorToStep, ZERO, type Dec } from '../shared/decimal';
import type { BookSide, DepthLevel } from './book';
import { BinanceFeeModel, type FeeModel } from './fees';
import { fmt8, PricePath, type SymbolDef } from './market';
import { Amendments } from './amend';
import { OrderLists } from './order-lists';
import { levelsOf, mergeLevels, SymbolMarket } from './market-data';
import { availableQty, defaultStpMode, resolveStpMode, type PreventedMatch, type PreventionDetail } from './self-trade-prevention';
import { planWalk, type WalkPlan, type WalkRequest, type WalkStep } from './taker-walk';
import { ApiError, badRequest, filterFailure, MSG, newOrderRejected } from './wire';
import { DEFAULT_BALANCES, EXCHANGE_MAX_NUM_ORDERS, LIMIT_PRICED, STOP_TYPES, TYPE_NOT_SUPPORTED, isOpen, type Account, type AccountConfig, type AmendParams, type AmendResult, type Amendment, type EngineLimits, type ExecType, type ExecutionEvent, type InjectedFill, type InternalOrder, type InternalTrade, type NewOrderParams, type OcoParams, type OrderList, type OrderTypeName, type OtoParams, type PlaceResult, type Side } from './model';

// Everything the engine's callers name comes from here, as before the split.
export * from './model';


function positiveInt(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1) throw new Error(`limits.${name} must be a positive integer, got ${String(v)}`);
  return v;
}

/** The trades of a planned walk as price levels (STP events left out). */
function tradedLevels(plan: WalkPlan<InternalOrder>): { price: Dec; qty: Dec }[] {
  return plan.steps.flatMap((st) => (st.kind === 'prevent' ? [] : [{ price: st.price, qty: st.qty }]));
}

export class Engine extends EventEmitter {
  readonly symbols = new Map<string, SymbolDef>();
  readonly paths = new Map<string, PricePath>();
  readonly accounts = new Map<string, Account>();
  private readonly orders = new Map<string, InternalOrder[]>(); // by symbol, in orderId order
  private readonly byId = new Map<string, InternalOrder>(); // `${symbol}:${orderId}`
  private readonly tradesBySymbol = new Map<string, InternalTrade[]>();
  /** Open orders per account, so limit checks do not scan the whole order history. */
  private readonly openByAccount = new Map<string, Set<InternalOrder>>();
  private nextOrderId = new Map<string, number>();
  private nextTradeId = new Map<string, number>();
  private nextUid = 1000;
  private nextExecutionId = 1;
  /** EXCHANGE_MAX_NUM_ORDERS as enforced and published in exchangeInfo. */
  readonly maxOpenOrdersPerAccount: number;
  /** What fills cost (fees.ts); Binance's rule unless a test or another venue says otherwise. */
  fees: FeeModel = new BinanceFeeModel({ lastPrice: (symbol) => this.paths.get(symbol)?.price, free: (acct, asset) => this.bal(acct, asset).free });

  constructor(
    symbols: SymbolDef[],
    accounts: AccountConfig[],
    readonly now: () => number,
    seed: number,
    limits: EngineLimits = {},
  ) {
    super();
    this.maxOpenOrdersPerAccount = positiveInt('maxOpenOrdersPerAccount', limits.maxOpenOrdersPerAccount) ?? EXCHANGE_MAX_NUM_ORDERS;
    const perSymbol = positiveInt('maxNumOrdersPerSymbol', limits.maxNumOrdersPerSymbol);
    for (const def of symbols) {
      // The symbol's MAX_NUM_ORDERS filter lives in its definition, so exchangeInfo shows it too.
      const s = perSymbol === undefined ? def : { ...def, maxNumOrders: perSymbol };
      this.symbols.set(s.symbol, s);
      this.paths.set(s.symbol, new PricePath(s, seed));
      this.orders.set(s.symbol, []);
      this.tradesBySymbol.set(s.symbol, []);
      this.nextOrderId.set(s.symbol, 1);
      this.nextTradeId.set(s.symbol, 1);
    }
    for (const a of accounts) this.addAccount(a);
  }

  addAccount(cfg: AccountConfig): Account {
    const balances = new Map<string, { free: Dec; locked: Dec }>();
    for (const [asset, amount] of Object.entries(cfg.balances ?? DEFAULT_BALANCES)) balances.set(asset, { free: dec(amount), locked: ZERO });
    const acct: Account = {
      apiKey: cfg.apiKey,
      uid: this.nextUid++,
      config: cfg,
      canTrade: (cfg.permissions ?? ['SPOT', 'TRADE']).includes('TRADE'),
      balances,
      commission: dec(cfg.commissionRate ?? '0.001'),
      updateTime: this.now(),
    };
    this.accounts.set(cfg.apiKey, acct);
    return acct;
  }

  symbolDef(symbol: string): SymbolDef {
    const s = this.symbols.get(symbol);
    if (!s) throw badRequest(-1121, MSG.invalidSymbol);
    return s;
  }

  lastPrice(symbol: string): Dec {
    const p = this.paths.get(symbol);
    if (!p) throw badRequest(-1121, MSG.invalidSymbol);
    return p.price;
  }

  setPrice(symbol: string, price: Dec): void {
    const p = this.paths.get(symbol);
    if (!p) throw new Error(`unknown symbol ${symbol}`);
    if (price.lte(0)) throw new Error(`price must be positive, got ${price.toString()}`);
    p.price = price;
    this.onPrice(symbol);
  }

  stepPrices(): void {
    for (const [symbol, path] of this.paths) {
      path.step();
      this.onPrice(symbol);
    }
  }

  // ---- balances ----

  /** Engine-internal: also used by the order lists (order-lists.ts) and amend.ts. */
  bal(acct: Account, asset: string): { free: Dec; locked: Dec } {
    let b = acct.balances.get(asset);
    if (!b) {
      b = { free: ZERO, locked: ZERO };
      acct.balances.set(asset, b);
    }
    return b;
  }

  /** Engine-internal: also used by the order lists (order-lists.ts) and amend.ts. */
  account(apiKey: string): Account {
    const a = this.accounts.get(apiKey);
    if (!a) throw new Error(`no account ${apiKey}`);
    return a;
  }

  // ---- queries ----

  ordersOf(symbol?: string): InternalOrder[] {
    if (symbol !== undefined) return [...(this.orders.get(symbol) ?? [])];
    return [...this.orders.values()].flat();
  }

  tradesOf(symbol?: string): InternalTrade[] {
    if (symbol !== undefined) return [...(this.tradesBySymbol.get(symbol) ?? [])];
    return [...this.tradesBySymbol.values()].flat();
  }

  findOrder(account: string, symbol: string, orderId: number | undefined, clientOrderId: string | undefined): InternalOrder | undefined {
    this.symbolDef(symbol);
    let o: InternalOrder | undefined;
    if (orderId !== undefined) {
      o = this.byId.get(`${symbol}:${orderId}`);
      if (o && clientOrderId !== undefined && o.clientOrderId !== clientOrderId) return undefined;
    } else if (clientOrderId !== undefined) {
      // The newest order with that id: an id may be reused once the earlier order is closed.
      const list = this.orders.get(symbol) ?? [];
      for (let i = list.length - 1; i >= 0; i--) {
        const c = list[i] as InternalOrder;
        if (c.account === account && c.clientOrderId === clientOrderId) {
          o = c;
          break;
        }
      }
    }
    return o && o.account === account ? o : undefined;
  }

  // ---- placing ----

  /** Validates and (unless `test`) places an order. Throws ApiError exactly as Binance would. */
  place(apiKey: string, p: NewOrderParams, test = false): PlaceResult {
    const acct = this.account(apiKey);
    const def = this.symbolDef(p.symbol);
    const now = this.now();
    if (!acct.canTrade) throw new ApiError(401, -2015, MSG.invalidApiKey);
    if (def.status !== 'TRADING') throw newOrderRejected(MSG.marketClosed);
    if (!def.orderTypes.includes(p.type)) throw newOrderRejected(TYPE_NOT_SUPPORTED[p.type]);
    const last = this.lastPrice(p.symbol);
    const qty = this.resolveQuantity(def, p, last);
    this.checkFilters(acct, def, p, qty, last);
    const stpMode = resolveStpMode(def, p.selfTradePreventionMode);

    if (this.openOrderWithClientId(apiKey, p.symbol, p.newClientOrderId)) throw newOrderRejected(MSG.duplicateOrder);
    if (p.stopPrice !== undefined && STOP_TYPES.has(p.type) && this.triggered(p.type, p.side, p.stopPrice, last)) {
      throw newOrderRejected(MSG.wouldTriggerImmediately);
    }
    if (p.type === 'LIMIT_MAKER' && p.price !== undefined && this.marketable(p.side, p.price, last)) {
      throw newOrderRejected(MSG.wouldMatchAndTake);
    }
    const lock = this.lockFor(def, p, qty, last);
    if (lock && this.bal(acct, lock.asset).free.lt(lock.amount)) throw newOrderRejected(MSG.insufficientBalance);
    if (test) return { order: this.newOrderObject(acct, def, p, qty, now, -1), fills: [] };

    const order = this.newOrderObject(acct, def, p, qty, now, -1);
    order.selfTradePreventionMode = stpMode;
    this.insert(order, lock);
    const fills = this.activate(order, now);
    return { order, fills };
  }

  /** Binance checks these before the matching engine sees the order. */
  /** `adding`: the orders the request adds (an OCO 2, an OTOCO 3), as the order-count filters count them. */
  checkFilters(acct: Account, def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, last: Dec, adding = 1): void {
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
    const openAll = [...(this.openByAccount.get(acct.apiKey) ?? [])];
    const open = openAll.filter((o) => o.symbol === p.symbol);
    if (open.length + adding > def.maxNumOrders) throw filterFailure('MAX_NUM_ORDERS');
    if (STOP_TYPES.has(p.type) && open.filter((o) => STOP_TYPES.has(o.type)).length + 1 > def.maxNumAlgoOrders) {
      throw filterFailure('MAX_NUM_ALGO_ORDERS');
    }
    if (openAll.length + adding > this.maxOpenOrdersPerAccount) {
      throw filterFailure('EXCHANGE_MAX_NUM_ORDERS');
    }
  }

  /** For MARKET by quoteOrderQty the quantity is only known by walking the book. */
  private resolveQuantity(def: SymbolDef, p: NewOrderParams, last: Dec): Dec | undefined {
    if (p.quantity !== undefined) return p.quantity;
    if (p.quoteOrderQty === undefined) return undefined;
    const plan = this.planQuote(def, p.side, p.quoteOrderQty, last);
    return plan.reduce((a, l) => a.plus(l.qty), ZERO);
  }

  /** Engine-internal: also used by the order lists (order-lists.ts) and amend.ts. */
  lockFor(def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, last: Dec): { asset: string; amount: Dec } | undefined {
    if (p.type === 'MARKET') {
      // Not locked, but funds must be there: estimate by walking the book.
      if (p.side === 'SELL') return { asset: def.baseAsset, amount: qty ?? ZERO };
      const cost = p.quoteOrderQty ?? this.planQty(def, 'BUY', qty ?? ZERO, last, undefined).reduce((a, l) => a.plus(l.price.mul(l.qty)), ZERO);
      return { asset: def.quoteAsset, amount: cost };
    }
    if (p.side === 'SELL') return { asset: def.baseAsset, amount: qty ?? ZERO };
    // Stop-market BUY has no price; lock at the stop price as the best estimate.
    const px = p.price ?? p.stopPrice ?? last;
    return { asset: def.quoteAsset, amount: px.mul(qty ?? ZERO) };
  }

  /** Engine-internal: also used by the order lists (order-lists.ts) and amend.ts. */
  openOrderWithClientId(apiKey: string, symbol: string, clientOrderId: string): boolean {
    for (const o of this.openByAccount.get(apiKey) ?? []) if (o.symbol === symbol && o.clientOrderId === clientOrderId && isOpen(o)) return true;
    return false;
  }

  /** Engine-internal: also used by the order lists (order-lists.ts) and amend.ts. */
  trackOpen(order: InternalOrder): void {
    let set = this.openByAccount.get(order.account);
    if (!set) {
      set = new Set();
      this.openByAccount.set(order.account, set);
    }
    if (isOpen(order)) set.add(order);
    else set.delete(order);
  }

  /** Engine-internal: also used by the order lists (order-lists.ts) and amend.ts. */
  newOrderObject(acct: Account, def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, now: number, orderListId: number): InternalOrder {
    const stop = STOP_TYPES.has(p.type);
    return {
      account: acct.apiKey,
      symbol: def.symbol,
      orderId: this.nextOrderId.get(def.symbol) ?? 1,
      orderListId,
      clientOrderId: p.newClientOrderId,
      side: p.side,
      type: p.type,
      timeInForce: p.timeInForce ?? 'GTC',
      price: p.price ?? ZERO,
      origQty: qty ?? ZERO,
      executedQty: ZERO,
      cummulativeQuoteQty: ZERO,
      origQuoteOrderQty: p.quoteOrderQty ?? ZERO,
      stopPrice: p.stopPrice,
      status: 'NEW',
      time: now,
      updateTime: now,
      isWorking: !stop,
      workingTime: stop ? -1 : now,
      lockAsset: undefined,
      locked: ZERO,
      expiryReason: undefined,
    };
  }

  /** Registers the order (assigning its id) and locks its funds. */
  insert(order: InternalOrder, lock: { asset: string; amount: Dec } | undefined): void {
    order.orderId = this.nextOrderId.get(order.symbol) ?? 1;
    this.nextOrderId.set(order.symbol, order.orderId + 1);
    this.orders.get(order.symbol)?.push(order);
    this.byId.set(`${order.symbol}:${order.orderId}`, order);
    this.trackOpen(order);
    if (lock && order.type !== 'MARKET') {
      const b = this.bal(this.account(order.account), lock.asset);
      b.free = b.free.minus(lock.amount);
      b.locked = b.locked.plus(lock.amount);
      order.lockAsset = lock.asset;
      order.locked = lock.amount;
    }
    this.emitExec(order, 'NEW', undefined);
  }

  /** Runs a freshly placed order: market/taker matching, resting, or waiting for its trigger. */
  activate(order: InternalOrder, now: number): InternalTrade[] {
    if (!order.isWorking) return [];
    return this.takeLiquidity(order, now);
  }

  /** Engine-internal: also used by the order lists (order-lists.ts) and amend.ts. */
  marketable(side: Side, price: Dec, last: Dec): boolean {
    return side === 'BUY' ? price.gte(last) : price.lte(last);
  }

  triggered(type: OrderTypeName, side: Side, stop: Dec, last: Dec): boolean {
    const isStopLoss = type === 'STOP_LOSS' || type === 'STOP_LOSS_LIMIT';
    // STOP_LOSS BUY / TAKE_PROFIT SELL fire when the price rises to the stop; the others when it falls.
    const firesOnRise = (isStopLoss && side === 'BUY') || (!isStopLoss && side === 'SELL');
    return firesOnRise ? last.gte(stop) : last.lte(stop);
  }

  // ---- matching ----

  /**
   * Levels a quantity would take, best first, optionally bounded by a limit price: an estimate
   * (for locks and quoteOrderQty) that counts every resting order as liquidity, STP aside.
   */
  private planQty(def: SymbolDef, side: Side, qty: Dec, _last: Dec, limit: Dec | undefined): { price: Dec; qty: Dec }[] {
    return tradedLevels(this.walkFor(def.symbol, { side, account: '', mode: 'NONE', remaining: qty, quote: undefined, limit, lotStep: dec(def.stepSize) }));
  }

  /** Levels a quote amount buys (or a SELL needs to raise), quantities floored to the lot step. */
  private planQuote(def: SymbolDef, side: Side, quote: Dec, _last: Dec): { price: Dec; qty: Dec }[] {
    const all = dec(def.maxQty).plus(dec(def.marketMaxQty));
    return tradedLevels(this.walkFor(def.symbol, { side, account: '', mode: 'NONE', remaining: all, quote, limit: undefined, lotStep: dec(def.stepSize) }));
  }

  /**
   * Matches a working order as taker against the book (the synthetic levels and the users'
   * resting orders, taker-walk.ts), then rests or expires the rest.
   */
  private takeLiquidity(order: InternalOrder, now: number): InternalTrade[] {
    const def = this.symbolDef(order.symbol);
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
      this.finish(order, 'EXPIRED', now, 'UNFILLED_FOK_ORDER_EXPIRED');
      return [];
    }
    const book = this.marketOf(order.symbol).book;
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
      const tradeId = this.allocateTradeId(order.symbol);
      const t = this.fill(order, step.price, step.qty, false, now, tradeId);
      if (!t) break;
      fills.push(t);
      if (step.kind === 'book') book.take(bookSide, step.index, step.qty);
      // The resting side of the same trade: same trade id, as maker, on the tape once.
      else this.fill(step.maker, step.price, step.qty, true, now, tradeId, false);
    }
    if (isOpen(order)) {
      if (isMarket) this.finish(order, 'EXPIRED', now, 'INSUFFICIENT_LIQUIDITY');
      else if (order.timeInForce === 'IOC') this.finish(order, 'EXPIRED', now, 'UNFILLED_IOC_QUANTITY_EXPIRED');
      // GTC: rests on the book; onPrice() fills it when the price crosses.
    }
    return fills;
  }

  /** Applies one fill to the order and both balances. Returns undefined if funds ran out. */
  /**
   * Applies one fill to the order and both balances. Returns undefined if funds ran out.
   * `tradeId`: the id both sides of a match share (default: a new one); `onTape`: false for the
   * second side of a match between two user orders, so the public tape has each trade once.
   */
  private fill(order: InternalOrder, price: Dec, qty: Dec, isMaker: boolean, now: number, tradeId?: number, onTape = true): InternalTrade | undefined {
    const def = this.symbolDef(order.symbol);
    const acct = this.account(order.account);
    const quote = price.mul(qty);
    const base = this.bal(acct, def.baseAsset);
    const quoteBal = this.bal(acct, def.quoteAsset);
    this.orderLists.adoptListLock(order);

    // Release the share of the lock this fill consumes; the debit below then comes from free.
    if (order.lockAsset !== undefined && order.locked.gt(0)) {
      const lockPrice = order.price.gt(0) ? order.price : (order.stopPrice ?? price);
      const release = D.min(order.locked, order.side === 'BUY' ? lockPrice.mul(qty) : qty);
      const b = this.bal(acct, order.lockAsset);
      b.locked = b.locked.minus(release);
      b.free = b.free.plus(release);
      order.locked = order.locked.minus(release);
    }
    if (order.side === 'BUY' ? quoteBal.free.lt(quote) : base.free.lt(qty)) return undefined;

    const fee = this.fees.commission({ account: acct, symbol: def, side: order.side, qty, quote });
    if (order.side === 'BUY') {
      quoteBal.free = quoteBal.free.minus(quote);
      base.free = base.free.plus(qty);
    } else {
      base.free = base.free.minus(qty);
      quoteBal.free = quoteBal.free.plus(quote);
    }
    const feeBal = this.bal(acct, fee.asset);
    feeBal.free = feeBal.free.minus(fee.amount);
    acct.updateTime = now;

    const id = tradeId ?? this.allocateTradeId(def.symbol);
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
      this.marketOf(def.symbol).tape.record({ id, price, qty, quoteQty: quote, time: now, isBuyerMaker }, isMaker ? undefined : `${order.orderId}`);
    }
    order.executedQty = order.executedQty.plus(qty);
    order.cummulativeQuoteQty = order.cummulativeQuoteQty.plus(quote);
    order.updateTime = now;
    // Done when nothing is left to execute; quantity STP took (DECREMENT) counts as gone.
    const done = availableQty(order).lte(0) && order.origQty.gt(0);
    if (done) {
      order.status = 'FILLED';
      this.releaseLock(order);
      this.trackOpen(order);
    } else {
      order.status = 'PARTIALLY_FILLED';
    }
    this.emitExec(order, 'TRADE', trade);
    this.orderLists.onListLegFilled(order, now);
    return trade;
  }

  /** Engine-internal: also used by amend.ts. */
  releaseLock(order: InternalOrder): void {
    if (order.lockAsset === undefined || order.locked.lte(0)) return;
    const b = this.bal(this.account(order.account), order.lockAsset);
    b.locked = b.locked.minus(order.locked);
    b.free = b.free.plus(order.locked);
    order.locked = ZERO;
  }

  /** Closes an open order (cancel or expiry), releasing what it still had locked. */
  finish(order: InternalOrder, status: 'CANCELED' | 'EXPIRED', now: number, expiryReason?: string, cancelClientOrderId?: string): void {
    order.status = status;
    order.updateTime = now;
    if (expiryReason !== undefined) order.expiryReason = expiryReason;
    this.releaseLock(order);
    this.trackOpen(order);
    this.emitExec(order, status, undefined, cancelClientOrderId);
    this.orderLists.onWorkingOrderClosed(order, now);
  }

  cancel(apiKey: string, symbol: string, orderId: number | undefined, clientOrderId: string | undefined, cancelClientOrderId: string): InternalOrder {
    const o = this.findOrder(apiKey, symbol, orderId, clientOrderId);
    if (!o || !isOpen(o)) throw badRequest(-2011, MSG.unknownOrderSent);
    const now = this.now();
    if (o.orderListId !== -1) {
      // Cancelling one leg of an order list cancels the whole list, as on Binance.
      this.cancelList(o.orderListId, now, cancelClientOrderId);
      return o;
    }
    this.finish(o, 'CANCELED', now, undefined, cancelClientOrderId);
    return o;
  }

  /**
   * A new price: the book is drawn afresh and the market trades once at the price (the tape),
   * then stops trigger and resting orders the price has crossed fill.
   */
  private onPrice(symbol: string): void {
    const last = this.lastPrice(symbol);
    const def = this.symbolDef(symbol);
    const now = this.now();
    this.marketStep(symbol, now);
    const open: InternalOrder[] = [];
    for (const set of this.openByAccount.values()) for (const o of set) if (o.symbol === symbol) open.push(o);
    // Time priority: orderId order. An amend (keep priority) keeps the orderId, so it keeps its
    // place; a cancel-replace gets a new, later orderId, so it goes behind.
    open.sort((a, b) => a.orderId - b.orderId);
    // At the touch the best level's quantity is shared by the resting orders at that price, in
    // priority order, per side: the first in the queue fills first, later ones get what is left.
    const touchLeft = new Map<Side, Dec>();
    for (const o of open) {
      // A pending order of an OTO list is not on the book until its working order fills.
      if (!isOpen(o) || o.status === 'PENDING_NEW') continue;
      if (!o.isWorking) {
        if (o.stopPrice !== undefined && this.triggered(o.type, o.side, o.stopPrice, last)) {
          o.isWorking = true;
          o.workingTime = now;
          o.updateTime = now;
          this.orderLists.onListLegTriggered(o, now);
          if (isOpen(o)) this.takeLiquidity(o, now);
        }
        continue;
      }
      if (!LIMIT_PRICED.has(o.type)) continue;
      const remaining = availableQty(o);
      if (remaining.lte(0)) continue;
      const through = o.side === 'BUY' ? last.lt(o.price) : last.gt(o.price);
      const touch = last.eq(o.price);
      if (through) this.fill(o, o.price, remaining, true, now);
      else if (touch) {
        // Only the best level's worth trades at the touch: a deterministic partial fill.
        const left = touchLeft.get(o.side) ?? dec(def.levelQty);
        const qty = floorToStep(D.min(remaining, left), dec(def.stepSize));
        if (qty.gt(0) && this.fill(o, o.price, qty, true, now)) touchLeft.set(o.side, left.minus(qty));
      }
    }
  }

  // ---- the book, the tape and self-trade prevention ----

  /** Book, tape and prevented matches per symbol, created on first use. */
  private readonly markets = new Map<string, SymbolMarket>();

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

  private allocateTradeId(symbol: string): number {
    const id = this.nextTradeId.get(symbol) ?? 1;
    this.nextTradeId.set(symbol, id + 1);
    return id;
  }

  /** A price step: a fresh book, and the market's own trade at the new price on the tape. */
  private marketStep(symbol: string, now: number): void {
    const m = this.marketOf(symbol);
    m.book.redraw();
    const price = this.lastPrice(symbol);
    const t = m.syntheticTrade(price);
    m.tape.record({ id: this.allocateTradeId(symbol), price, qty: t.qty, quoteQty: price.mul(t.qty), time: now, isBuyerMaker: t.isBuyerMaker }, undefined);
  }

  /** The users' working orders resting on one side of the book: best price first, then time priority. */
  restingOrders(symbol: string, side: BookSide): InternalOrder[] {
    const want: Side = side === 'bids' ? 'BUY' : 'SELL';
    const out: InternalOrder[] = [];
    for (const set of this.openByAccount.values()) {
      for (const o of set) {
        // An OTO's pending order (PENDING_NEW) and an untriggered stop are not on the book.
        if (o.symbol !== symbol || o.side !== want || !o.isWorking || o.status === 'PENDING_NEW' || !LIMIT_PRICED.has(o.type)) continue;
        if (availableQty(o).gt(0)) out.push(o);
      }
    }
    return out.sort((a, b) => (side === 'asks' ? a.price.cmp(b.price) : b.price.cmp(a.price)) || a.orderId - b.orderId);
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

  private walkFor(symbol: string, req: WalkRequest): WalkPlan<InternalOrder> {
    const m = this.marketOf(symbol);
    const side: BookSide = req.side === 'BUY' ? 'asks' : 'bids';
    const resting = this.restingOrders(symbol, side).map((o) => ({
      order: o,
      account: o.account,
      price: o.price,
      available: availableQty(o),
      mode: o.selfTradePreventionMode ?? defaultStpMode(m.def),
    }));
    return planWalk(req, m.book.levels(side), resting);
  }

  /** One prevented match between a taker and a resting order of its account (self-trade-prevention.ts). */
  private preventMatch(taker: InternalOrder, step: Extract<WalkStep<InternalOrder>, { kind: 'prevent' }>, now: number): void {
    const m = this.marketOf(taker.symbol);
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
      this.releaseLock(o);
      this.trackOpen(o);
    } else if (o.lockAsset !== undefined && o.locked.gt(0)) {
      const lockPrice = o.price.gt(0) ? o.price : (o.stopPrice ?? match.price);
      const release = D.min(o.locked, o.side === 'BUY' ? lockPrice.mul(qty) : qty);
      const b = this.bal(this.account(o.account), o.lockAsset);
      b.locked = b.locked.minus(release);
      b.free = b.free.plus(release);
      o.locked = o.locked.minus(release);
    }
    const prevention: PreventionDetail = { preventedMatchId: match.preventedMatchId, lastPreventedQuantity: qty, counterOrderId: counter.orderId, counterSymbol: counter.symbol, price: match.price, qty: wouldHaveTraded };
    const ev: ExecutionEvent = { account: o.account, order: o, execType: 'TRADE_PREVENTION', trade: undefined, cancelClientOrderId: undefined, eventTime: now, executionId: this.nextExecutionId++, prevention };
    this.emit('execution', ev);
    if (closes) {
      // An order list loses a leg as if it had expired: its siblings go (OCO), its pending orders too (OTO).
      this.orderLists.onListLegFilled(o, now);
      this.orderLists.onWorkingOrderClosed(o, now);
    }
  }

  /** GET /api/v3/myPreventedMatches: the account's prevented matches on a symbol, oldest first. */
  preventedMatchesOf(apiKey: string, symbol: string): PreventedMatch[] {
    return this.marketOf(symbol).prevented.toArray().filter((m) => m.account === apiKey);
  }

  // ---- order lists (order-lists.ts) ----

  readonly orderLists = new OrderLists(this);

  get lists(): Map<number, OrderList> {
    return this.orderLists.lists;
  }

  placeOco(apiKey: string, p: OcoParams): { list: OrderList; legs: InternalOrder[] } {
    return this.orderLists.placeOco(apiKey, p);
  }

  placeOto(apiKey: string, p: OtoParams): { list: OrderList; orders: InternalOrder[]; fills: InternalTrade[] } {
    return this.orderLists.placeOto(apiKey, p);
  }

  findList(account: string, orderListId: number | undefined, listClientOrderId: string | undefined): OrderList | undefined {
    return this.orderLists.findList(account, orderListId, listClientOrderId);
  }

  cancelList(orderListId: number, now: number, cancelClientOrderId?: string): OrderList {
    return this.orderLists.cancelList(orderListId, now, cancelClientOrderId);
  }

  listLegs(list: OrderList): InternalOrder[] {
    return this.orderLists.listLegs(list);
  }

  orderById(symbol: string, orderId: number): InternalOrder | undefined {
    return this.byId.get(`${symbol}:${orderId}`);
  }

  // ---- events ----

  /** Engine-internal: also used by the order lists (order-lists.ts) and amend.ts. */
  emitExec(order: InternalOrder, execType: ExecType, trade: InternalTrade | undefined, cancelClientOrderId?: string, origClientOrderId?: string): number {
    const executionId = this.nextExecutionId++;
    const ev: ExecutionEvent = { account: order.account, order, execType, trade, cancelClientOrderId, origClientOrderId, eventTime: this.now(), executionId };
    this.emit('execution', ev);
    return executionId;
  }

  // ---- amend keep priority (amend.ts) ----

  private readonly amendments = new Amendments(this);

  amend(apiKey: string, p: AmendParams): AmendResult {
    return this.amendments.amend(apiKey, p);
  }

  amendmentsOf(apiKey: string, symbol: string, orderId: number): Amendment[] | undefined {
    return this.amendments.amendmentsOf(apiKey, symbol, orderId);
  }

  // ---- admin: a counterparty fill ----

  /** See FillInputSchema (faults.ts): a maker fill of an exact quantity on one resting order. */
  injectFill(f: { symbol: string; orderId?: number | undefined; origClientOrderId?: string | undefined; quantity: string; price?: string | undefined; apiKey?: string | undefined }): InjectedFill {
    const def = this.symbols.get(f.symbol);
    if (!def) throw new Error(`symbol: unknown symbol ${f.symbol}`);
    const candidates = f.apiKey !== undefined ? [f.apiKey] : [...this.accounts.keys()];
    let o: InternalOrder | undefined;
    for (const key of candidates) {
      o = this.findOrder(key, f.symbol, f.orderId, f.origClientOrderId);
      if (o) break;
    }
    const which = f.orderId !== undefined ? `orderId ${f.orderId}` : `origClientOrderId ${String(f.origClientOrderId)}`;
    if (!o) throw new Error(`no order with ${which} on ${f.symbol}`);
    if (!isOpen(o)) throw new Error(`order ${which} is ${o.status}, not open: nothing can fill it`);
    if (!o.isWorking) throw new Error(`order ${which} is not working yet (its stop has not triggered): it is not on the book`);
    const qty = dec(f.quantity);
    const remaining = o.origQty.minus(o.executedQty);
    if (qty.lte(0)) throw new Error('quantity: must be above 0');
    if (qty.gt(remaining)) throw new Error(`quantity: ${f.quantity} is more than the order's remaining ${fmt8(remaining)}`);
    if (!qty.mod(dec(def.stepSize)).isZero()) throw new Error(`quantity: ${f.quantity} is not a multiple of stepSize ${def.stepSize}`);
    const price = f.price !== undefined ? dec(f.price) : o.price.gt(0) ? o.price : this.lastPrice(o.symbol);
    if (price.lte(0)) throw new Error('price: must be above 0');
    if (o.price.gt(0) && (o.side === 'BUY' ? price.gt(o.price) : price.lt(o.price))) {
      throw new Error(`price: ${f.price ?? ''} is worse than the order's limit ${fmt8(o.price)} for a ${o.side}`);
    }
    const t = this.fill(o, price, qty, true, this.now());
    if (!t) throw new Error('the account no longer holds the funds for this fill');
    return { symbol: o.symbol, orderId: o.orderId, clientOrderId: o.clientOrderId, tradeId: t.id, price: fmt8(t.price), qty: fmt8(t.qty), executedQty: fmt8(o.executedQty), status: o.status };
  }

  balancesView(apiKey: string): Record<string, { free: string; locked: string }> {
    const acct = this.account(apiKey);
    const out: Record<string, { free: string; locked: string }> = {};
    for (const [asset, b] of acct.balances) out[asset] = { free: fmt8(b.free), locked: fmt8(b.locked) };
    return out;
  }
}

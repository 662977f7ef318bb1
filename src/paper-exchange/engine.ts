/**
 * The paper matching engine, a façade over one module per concept: accounts and their locked
 * funds (accounts.ts), the orders and their ids (order-registry.ts), the symbol filters
 * (filters.ts), each symbol's price path, book and tape (symbol-markets.ts), matching and fills
 * (matching.ts, walking the book with taker-walk.ts), stop/take-profit triggers (triggers.ts),
 * order lists (order-lists.ts), amend keep-priority (amend.ts), the admin's counterparty fill
 * (injected-fill.ts) and commissions (fees.ts, the FeeModel seam, injected). The engine wires
 * them, runs placement and price steps, and emits the 'execution' and 'listStatus' events. The objects themselves are in model.ts. It knows nothing
 * about HTTP; it throws ApiError with Binance's codes and messages.
 */
import { EventEmitter } from 'node:events';
import type { Dec } from '../shared/decimal';
import { Accounts, type FundsLock } from './accounts';
import type { BookSide, DepthLevel } from './book';
import { binanceFees, type FeeModel, type FeeModelFactory } from './fees';
import { checkFilters } from './filters';
import { injectFill, type InjectedFillRequest } from './injected-fill';
import type { PricePath, SymbolDef } from './market';
import type { SymbolMarket } from './market-data';
import { Amendments } from './amend';
import { marketable, Matching } from './matching';
import { OrderLists } from './order-lists';
import { OrderRegistry } from './order-registry';
import { resolveStpMode, type PreventedMatch, type PreventionDetail } from './self-trade-prevention';
import { SymbolMarkets } from './symbol-markets';
import { startWorking, stopReached, triggered } from './triggers';
import { ApiError, badRequest, MSG, newOrderRejected } from './wire';
import { EXCHANGE_MAX_NUM_ORDERS, LIMIT_PRICED, STOP_TYPES, TYPE_NOT_SUPPORTED, isOpen, type Account, type AccountConfig, type AmendParams, type AmendResult, type Amendment, type EngineLimits, type ExecType, type ExecutionEvent, type InjectedFill, type InternalOrder, type InternalTrade, type NewOrderParams, type OcoParams, type OrderList, type OtoParams, type PlaceResult, type Side } from './model';

// Everything the engine's callers name comes from here, as before the split.
export * from './model';

function positiveInt(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1) throw new Error(`limits.${name} must be a positive integer, got ${String(v)}`);
  return v;
}

export class Engine extends EventEmitter {
  readonly symbols = new Map<string, SymbolDef>();
  private readonly accountBook = new Accounts(() => this.now());
  private readonly registry = new OrderRegistry();
  private readonly markets: SymbolMarkets;
  readonly paths: Map<string, PricePath>;
  readonly accounts: Map<string, Account> = this.accountBook.byApiKey;
  private nextExecutionId = 1;
  /** EXCHANGE_MAX_NUM_ORDERS as enforced and published in exchangeInfo. */
  readonly maxOpenOrdersPerAccount: number;
  /** What fills cost (fees.ts); Binance's rule unless a test or another venue says otherwise. */
  readonly fees: FeeModel;
  readonly orderLists = new OrderLists(this);
  private readonly amendments = new Amendments(this);
  private readonly matching: Matching;

  constructor(
    symbols: SymbolDef[],
    accounts: AccountConfig[],
    readonly now: () => number,
    seed: number,
    limits: EngineLimits = {},
    feeModel: FeeModelFactory = binanceFees,
  ) {
    super();
    this.markets = new SymbolMarkets(seed, (symbol, side) => this.registry.resting(symbol, side));
    this.paths = this.markets.paths;
    this.maxOpenOrdersPerAccount = positiveInt('maxOpenOrdersPerAccount', limits.maxOpenOrdersPerAccount) ?? EXCHANGE_MAX_NUM_ORDERS;
    this.fees = feeModel({ lastPrice: (symbol) => this.paths.get(symbol)?.price, free: (acct, asset) => this.bal(acct, asset).free });
    this.matching = new Matching({
      symbolDef: (symbol) => this.symbolDef(symbol),
      accounts: this.accountBook,
      orders: this.registry,
      markets: this.markets,
      fees: this.fees,
      lists: this.orderLists,
      finish: (order, status, now, expiryReason) => this.finish(order, status, now, expiryReason),
      emitExec: (order, execType, trade) => this.emitExec(order, execType, trade),
      emitPrevention: (order, prevention, now) => this.emitPrevention(order, prevention, now),
    });
    const perSymbol = positiveInt('maxNumOrdersPerSymbol', limits.maxNumOrdersPerSymbol);
    for (const def of symbols) {
      // The symbol's MAX_NUM_ORDERS filter lives in its definition, so exchangeInfo shows it too.
      const s = perSymbol === undefined ? def : { ...def, maxNumOrders: perSymbol };
      this.symbols.set(s.symbol, s);
      this.markets.addSymbol(s);
      this.registry.addSymbol(s.symbol);
      this.matching.addSymbol(s.symbol);
    }
    for (const a of accounts) this.addAccount(a);
  }

  addAccount(cfg: AccountConfig): Account {
    return this.accountBook.add(cfg);
  }

  symbolDef(symbol: string): SymbolDef {
    const s = this.symbols.get(symbol);
    if (!s) throw badRequest(-1121, MSG.invalidSymbol);
    return s;
  }

  lastPrice(symbol: string): Dec {
    return this.markets.lastPrice(symbol);
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

  // ---- accounts (accounts.ts); bal, account and the lock moves also serve order-lists.ts and amend.ts ----

  bal(acct: Account, asset: string): { free: Dec; locked: Dec } {
    return this.accountBook.balance(acct, asset);
  }

  account(apiKey: string): Account {
    return this.accountBook.get(apiKey);
  }

  lockFunds(order: InternalOrder, lock: FundsLock): void {
    this.accountBook.lockFunds(order, lock);
  }

  releasePart(order: InternalOrder, amount: Dec): void {
    this.accountBook.releasePart(order, amount);
  }

  releaseLock(order: InternalOrder): void {
    this.accountBook.releaseLock(order);
  }

  balancesView(apiKey: string): Record<string, { free: string; locked: string }> {
    return this.accountBook.view(apiKey);
  }

  // ---- orders and trades (order-registry.ts, matching.ts) ----

  ordersOf(symbol?: string): InternalOrder[] {
    return this.registry.ordersOf(symbol);
  }

  tradesOf(symbol?: string): InternalTrade[] {
    return this.matching.tradesOf(symbol);
  }

  findOrder(account: string, symbol: string, orderId: number | undefined, clientOrderId: string | undefined): InternalOrder | undefined {
    this.symbolDef(symbol);
    return this.registry.find(account, symbol, orderId, clientOrderId);
  }

  orderById(symbol: string, orderId: number): InternalOrder | undefined {
    return this.registry.byOrderId(symbol, orderId);
  }

  /** Also used by the order lists (order-lists.ts) and amend.ts. */
  openOrderWithClientId(apiKey: string, symbol: string, clientOrderId: string): boolean {
    return this.registry.hasOpenWithClientId(apiKey, symbol, clientOrderId);
  }

  /** Also used by the order lists (order-lists.ts) and amend.ts. */
  trackOpen(order: InternalOrder): void {
    this.registry.trackOpen(order);
  }

  /** Also used by the order lists (order-lists.ts). */
  newOrderObject(acct: Account, def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, now: number, orderListId: number): InternalOrder {
    return this.registry.newOrder(acct, def, p, qty, now, orderListId);
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
    const qty = this.matching.resolveQuantity(def, p);
    this.checkFilters(acct, def, p, qty, last);
    const stpMode = resolveStpMode(def, p.selfTradePreventionMode);

    if (this.openOrderWithClientId(apiKey, p.symbol, p.newClientOrderId)) throw newOrderRejected(MSG.duplicateOrder);
    if (p.stopPrice !== undefined && STOP_TYPES.has(p.type) && triggered(p.type, p.side, p.stopPrice, last)) {
      throw newOrderRejected(MSG.wouldTriggerImmediately);
    }
    if (p.type === 'LIMIT_MAKER' && p.price !== undefined && marketable(p.side, p.price, last)) {
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

  /**
   * Binance checks these before the matching engine sees the order (filters.ts). `adding`: the
   * orders the request adds (an OCO 2, an OTOCO 3), as the order-count filters count them.
   */
  checkFilters(acct: Account, def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, last: Dec, adding = 1): void {
    checkFilters(def, p, qty, last, { openOfAccount: this.registry.openOf(acct.apiKey), maxOpenOrdersPerAccount: this.maxOpenOrdersPerAccount, adding });
  }

  /** The funds the order needs (matching.ts). Also used by the order lists (order-lists.ts). */
  lockFor(def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, last: Dec): FundsLock | undefined {
    return this.matching.lockFor(def, p, qty, last);
  }

  /** Also used by the order lists (order-lists.ts). */
  marketable(side: Side, price: Dec, last: Dec): boolean {
    return marketable(side, price, last);
  }

  /** Registers the order (assigning its id) and locks its funds. */
  insert(order: InternalOrder, lock: FundsLock | undefined): void {
    this.registry.register(order);
    if (lock && order.type !== 'MARKET') this.accountBook.lockFunds(order, lock);
    this.emitExec(order, 'NEW', undefined);
  }

  /** Runs a freshly placed order: market/taker matching, resting, or waiting for its trigger. */
  activate(order: InternalOrder, now: number): InternalTrade[] {
    if (!order.isWorking) return [];
    return this.matching.takeLiquidity(order, now);
  }

  // ---- closing ----

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

  // ---- price steps ----

  /**
   * A new price: the book is drawn afresh and the market trades once at the price (the tape),
   * then stops trigger and resting orders the price has crossed fill.
   */
  private onPrice(symbol: string): void {
    const last = this.lastPrice(symbol);
    const now = this.now();
    this.markets.step(symbol, now);
    const open = this.registry.openOn(symbol);
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
        if (stopReached(o, last)) {
          startWorking(o, now);
          this.orderLists.onListLegTriggered(o, now);
          if (isOpen(o)) this.matching.takeLiquidity(o, now);
        }
        continue;
      }
      if (LIMIT_PRICED.has(o.type)) this.matching.fillResting(o, last, now, touchLeft);
    }
  }

  // ---- the book, the tape and self-trade prevention (symbol-markets.ts) ----

  marketOf(symbol: string): SymbolMarket {
    return this.markets.marketOf(symbol);
  }

  /** The users' working orders resting on one side of the book: best price first, then time priority. */
  restingOrders(symbol: string, side: BookSide): InternalOrder[] {
    return this.registry.resting(symbol, side);
  }

  /** The book as GET /api/v3/depth shows it: synthetic levels and resting orders, `limit` levels a side. */
  depthOf(symbol: string, limit: number): { lastUpdateId: number; bids: DepthLevel[]; asks: DepthLevel[] } {
    return this.markets.depthOf(symbol, limit);
  }

  /** GET /api/v3/myPreventedMatches: the account's prevented matches on a symbol, oldest first. */
  preventedMatchesOf(apiKey: string, symbol: string): PreventedMatch[] {
    return this.markets.preventedMatchesOf(apiKey, symbol);
  }

  // ---- order lists (order-lists.ts) ----

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

  // ---- amend keep priority (amend.ts) ----

  amend(apiKey: string, p: AmendParams): AmendResult {
    return this.amendments.amend(apiKey, p);
  }

  amendmentsOf(apiKey: string, symbol: string, orderId: number): Amendment[] | undefined {
    return this.amendments.amendmentsOf(apiKey, symbol, orderId);
  }

  // ---- events ----

  /** Also used by the order lists (order-lists.ts) and amend.ts. */
  emitExec(order: InternalOrder, execType: ExecType, trade: InternalTrade | undefined, cancelClientOrderId?: string, origClientOrderId?: string): number {
    const executionId = this.nextExecutionId++;
    const ev: ExecutionEvent = { account: order.account, order, execType, trade, cancelClientOrderId, origClientOrderId, eventTime: this.now(), executionId };
    this.emit('execution', ev);
    return executionId;
  }

  /** Self-trade prevention took quantity from the order (matching.ts): its TRADE_PREVENTION report. */
  private emitPrevention(order: InternalOrder, prevention: PreventionDetail, now: number): void {
    const ev: ExecutionEvent = { account: order.account, order, execType: 'TRADE_PREVENTION', trade: undefined, cancelClientOrderId: undefined, eventTime: now, executionId: this.nextExecutionId++, prevention };
    this.emit('execution', ev);
  }

  // ---- admin: a counterparty fill ----

  /** POST /admin/fill (injected-fill.ts): a maker fill of an exact quantity on one resting order. */
  injectFill(f: InjectedFillRequest): InjectedFill {
    return injectFill(
      {
        symbols: this.symbols,
        apiKeys: () => [...this.accounts.keys()],
        findOrder: (apiKey, symbol, orderId, clientOrderId) => this.findOrder(apiKey, symbol, orderId, clientOrderId),
        lastPrice: (symbol) => this.lastPrice(symbol),
        fill: (order, price, qty) => this.matching.fill(order, price, qty, true, this.now()),
      },
      f,
    );
  }
}

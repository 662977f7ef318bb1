/**
 * The paper matching engine: accounts and balances, orders, fills against the depth model,
 * resting orders that fill when the price crosses, stop/take-profit triggers and OCO lists.
 * It knows nothing about HTTP; it throws ApiError with Binance's codes and messages.
 */
import { EventEmitter } from 'node:events';
import { D, dec, floorToStep, ZERO, type Dec } from '../shared/decimal';
import type { BookSide, DepthLevel } from './book';
import { fmt8, PricePath, type SymbolDef } from './market';
import { levelsOf, mergeLevels, SymbolMarket } from './market-data';
import { availableQty, defaultStpMode, resolveStpMode, type PreventedMatch, type PreventionDetail, type StpMode } from './self-trade-prevention';
import { planWalk, type WalkPlan, type WalkRequest, type WalkStep } from './taker-walk';
import { ApiError, badRequest, filterFailure, MSG, newOrderRejected } from './wire';

export type Side = 'BUY' | 'SELL';
export type OrderTypeName = 'MARKET' | 'LIMIT' | 'LIMIT_MAKER' | 'STOP_LOSS' | 'STOP_LOSS_LIMIT' | 'TAKE_PROFIT' | 'TAKE_PROFIT_LIMIT';
export type Tif = 'GTC' | 'IOC' | 'FOK';
/** EXPIRED_IN_MATCH: expired by self-trade prevention (enums.md). */
export type Status = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'EXPIRED' | 'REJECTED' | 'PENDING_NEW' | 'EXPIRED_IN_MATCH';

export interface AccountConfig {
  apiKey: string;
  apiSecret?: string;
  ed25519PublicKeyPem?: string;
  permissions?: ('SPOT' | 'TRADE')[];
  balances?: Record<string, string>;
  /** Commission rate for maker and taker fills, default "0.001" (0.1 %). */
  commissionRate?: string;
  /** Pay commissions in BNB at a 25 % discount when the account holds enough BNB. */
  payFeesInBnb?: boolean;
}

export interface Account {
  apiKey: string;
  uid: number;
  config: AccountConfig;
  canTrade: boolean;
  balances: Map<string, { free: Dec; locked: Dec }>;
  commission: Dec;
  updateTime: number;
}

export interface InternalOrder {
  account: string;
  symbol: string;
  orderId: number;
  orderListId: number;
  clientOrderId: string;
  side: Side;
  type: OrderTypeName;
  timeInForce: Tif;
  price: Dec;
  origQty: Dec;
  executedQty: Dec;
  cummulativeQuoteQty: Dec;
  origQuoteOrderQty: Dec;
  stopPrice: Dec | undefined;
  status: Status;
  time: number;
  updateTime: number;
  isWorking: boolean;
  workingTime: number;
  /** Asset and amount still locked for this order. */
  lockAsset: string | undefined;
  locked: Dec;
  expiryReason: string | undefined;
  /** STP (self-trade-prevention.ts): the order's mode (unset: the default) and what STP took from it. */
  selfTradePreventionMode?: StpMode | undefined;
  preventedQuantity?: Dec | undefined;
  preventedMatchId?: number | undefined;
  /** As a taker: the matches STP prevented, for its FULL response's preventedMatches. */
  takerPreventedMatches?: PreventedMatch[] | undefined;
}

export interface InternalTrade {
  account: string;
  symbol: string;
  id: number;
  orderId: number;
  orderListId: number;
  price: Dec;
  qty: Dec;
  quoteQty: Dec;
  commission: Dec;
  commissionAsset: string;
  time: number;
  isBuyer: boolean;
  isMaker: boolean;
}

export interface OrderList {
  account: string;
  symbol: string;
  orderListId: number;
  /** Binance reports OTO, OTOCO, OPO and OPOCO lists all as contingencyType OTO. */
  contingencyType: 'OCO' | 'OTO';
  listStatusType: 'EXEC_STARTED' | 'UPDATED' | 'ALL_DONE';
  listOrderStatus: 'EXECUTING' | 'ALL_DONE' | 'REJECT';
  listClientOrderId: string;
  transactionTime: number;
  orderIds: number[];
  /** OTO lists: the working order; the other orders wait (PENDING_NEW) until it is fully filled. */
  workingOrderId?: number;
  /** OPO: the pending orders get what the working order received, net of commission (faqs/opo.md). */
  pays?: boolean;
}

/** REPLACED: the order was amended in place (order amend keep priority), enums.md. */
export type ExecType = 'NEW' | 'CANCELED' | 'REJECTED' | 'TRADE' | 'EXPIRED' | 'REPLACED' | 'TRADE_PREVENTION';

export interface ExecutionEvent {
  account: string;
  order: InternalOrder;
  execType: ExecType;
  trade: InternalTrade | undefined;
  /** For CANCELED: the cancel request's client id (Binance reports it in `c`, the original in `C`). */
  cancelClientOrderId: string | undefined;
  /** For REPLACED: the client id the order had before the amend (reported in `C`). */
  origClientOrderId?: string | undefined;
  eventTime: number;
  /** Binance's execution id (`I`), unique per event; an amend's response carries its event's id. */
  executionId: number;
  /** For TRADE_PREVENTION: the prevented match (self-trade-prevention.ts preventionReportFields). */
  prevention?: PreventionDetail | undefined;
}

export interface AmendParams {
  symbol: string;
  orderId: number | undefined;
  origClientOrderId: string | undefined;
  newClientOrderId: string;
  newQty: Dec;
}

/** One amendment, as GET /api/v3/order/amendments lists it. */
export interface Amendment {
  symbol: string;
  orderId: number;
  executionId: number;
  origClientOrderId: string;
  newClientOrderId: string;
  origQty: Dec;
  newQty: Dec;
  time: number;
}

export interface AmendResult {
  order: InternalOrder;
  origClientOrderId: string;
  executionId: number;
  transactTime: number;
  list: OrderList | undefined;
  legs: InternalOrder[];
}

export interface InjectedFill {
  symbol: string;
  orderId: number;
  clientOrderId: string;
  tradeId: number;
  price: string;
  qty: string;
  executedQty: string;
  status: Status;
}

export interface NewOrderParams {
  symbol: string;
  side: Side;
  type: OrderTypeName;
  timeInForce: Tif | undefined;
  quantity: Dec | undefined;
  quoteOrderQty: Dec | undefined;
  price: Dec | undefined;
  stopPrice: Dec | undefined;
  newClientOrderId: string;
  /** Unset: the symbol's defaultSelfTradePreventionMode. */
  selfTradePreventionMode?: StpMode | undefined;
}

export interface OcoLeg {
  type: OrderTypeName;
  price: Dec | undefined;
  stopPrice: Dec | undefined;
  timeInForce: Tif | undefined;
  newClientOrderId: string;
}

export interface OcoParams {
  symbol: string;
  side: Side;
  quantity: Dec;
  listClientOrderId: string;
  above: OcoLeg;
  below: OcoLeg;
  /** Applies to both legs. */
  selfTradePreventionMode?: StpMode | undefined;
}

/** POST /api/v3/orderList/oto, /otoco, /opo and /opoco. */
export interface OtoParams {
  symbol: string;
  listClientOrderId: string;
  /** OPO / OPOCO. */
  pays: boolean;
  working: { type: OrderTypeName; side: Side; price: Dec; quantity: Dec; timeInForce: Tif | undefined; newClientOrderId: string };
  pendingSide: Side;
  /** Undefined for OPO: the quantity is what the working order received. */
  pendingQuantity: Dec | undefined;
  /** One order (OTO, OPO) or the pending above and below orders (OTOCO, OPOCO), in that order. */
  pending: OcoLeg[];
  /** Applies to every order of the list. */
  selfTradePreventionMode?: StpMode | undefined;
}

export interface PlaceResult {
  order: InternalOrder;
  fills: InternalTrade[];
}

const STOP_TYPES = new Set<OrderTypeName>(['STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT']);
const LIMIT_PRICED = new Set<OrderTypeName>(['LIMIT', 'LIMIT_MAKER', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT']);
const OPEN = new Set<Status>(['NEW', 'PARTIALLY_FILLED', 'PENDING_NEW']);

const TYPE_NOT_SUPPORTED: Record<OrderTypeName, string> = {
  MARKET: 'Market orders are not supported for this symbol.',
  LIMIT: 'Unsupported order combination',
  LIMIT_MAKER: 'Unsupported order combination',
  STOP_LOSS: 'Stop loss orders are not supported for this symbol.',
  STOP_LOSS_LIMIT: 'Stop loss limit orders are not supported for this symbol.',
  TAKE_PROFIT: 'Take profit orders are not supported for this symbol.',
  TAKE_PROFIT_LIMIT: 'Take profit limit orders are not supported for this symbol.',
};

/**
 * Binance's default for EXCHANGE_MAX_NUM_ORDERS: open orders an account may hold across all
 * symbols. Published in exchangeInfo.exchangeFilters and enforced; see EngineLimits to change it.
 */
export const EXCHANGE_MAX_NUM_ORDERS = 1000;

/** Binance's MAX_NUM_ORDER_AMENDS (CHANGELOG: "limiting each order to a maximum of 10 amendments"). */
export const DEFAULT_MAX_NUM_ORDER_AMENDS = 10;

const amendRejected = (msg: string): ApiError => badRequest(-2038, msg);

/**
 * Open-order limits that differ from Binance's. Leave them out to behave like Binance: 1000 open
 * orders per account (EXCHANGE_MAX_NUM_ORDERS) and each symbol's own MAX_NUM_ORDERS filter
 * (SymbolDef.maxNumOrders). Raise them only to load-test a service beyond one Binance account.
 */
export interface EngineLimits {
  /** EXCHANGE_MAX_NUM_ORDERS: open orders per account across all symbols. Default 1000. */
  maxOpenOrdersPerAccount?: number;
  /** MAX_NUM_ORDERS for every symbol, replacing each symbol's own value. Default: the symbol's. */
  maxNumOrdersPerSymbol?: number;
}

function positiveInt(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1) throw new Error(`limits.${name} must be a positive integer, got ${String(v)}`);
  return v;
}

export const DEFAULT_BALANCES: Record<string, string> = { USDT: '100000', BTC: '1', ETH: '10', BNB: '100' };
const BNB_DISCOUNT = dec('0.25');

export function isOpen(o: InternalOrder): boolean {
  return OPEN.has(o.status);
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
  readonly lists = new Map<number, OrderList>();
  /** Open orders per account, so limit checks do not scan the whole order history. */
  private readonly openByAccount = new Map<string, Set<InternalOrder>>();
  private nextOrderId = new Map<string, number>();
  private nextTradeId = new Map<string, number>();
  private nextListId = 1;
  private nextUid = 1000;
  private nextExecutionId = 1;
  /** Amendments per `${symbol}:${orderId}`, in execution order. */
  private readonly amendments = new Map<string, Amendment[]>();
  /** EXCHANGE_MAX_NUM_ORDERS as enforced and published in exchangeInfo. */
  readonly maxOpenOrdersPerAccount: number;

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

  private bal(acct: Account, asset: string): { free: Dec; locked: Dec } {
    let b = acct.balances.get(asset);
    if (!b) {
      b = { free: ZERO, locked: ZERO };
      acct.balances.set(asset, b);
    }
    return b;
  }

  private account(apiKey: string): Account {
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

  private lockFor(def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, last: Dec): { asset: string; amount: Dec } | undefined {
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

  private openOrderWithClientId(apiKey: string, symbol: string, clientOrderId: string): boolean {
    for (const o of this.openByAccount.get(apiKey) ?? []) if (o.symbol === symbol && o.clientOrderId === clientOrderId && isOpen(o)) return true;
    return false;
  }

  private trackOpen(order: InternalOrder): void {
    let set = this.openByAccount.get(order.account);
    if (!set) {
      set = new Set();
      this.openByAccount.set(order.account, set);
    }
    if (isOpen(order)) set.add(order);
    else set.delete(order);
  }

  private newOrderObject(acct: Account, def: SymbolDef, p: NewOrderParams, qty: Dec | undefined, now: number, orderListId: number): InternalOrder {
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

  private marketable(side: Side, price: Dec, last: Dec): boolean {
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

  private commissionFor(acct: Account, def: SymbolDef, side: Side, qty: Dec, quote: Dec): { amount: Dec; asset: string } {
    const rate = acct.commission;
    if (acct.config.payFeesInBnb === true) {
      const bnbPerQuote = this.bnbPer(def.quoteAsset);
      if (bnbPerQuote) {
        const amount = quote.mul(rate).mul(dec(1).minus(BNB_DISCOUNT)).mul(bnbPerQuote).toDecimalPlaces(8, D.ROUND_UP);
        if (this.bal(acct, 'BNB').free.gte(amount)) return { amount, asset: 'BNB' };
      }
    }
    return side === 'BUY'
      ? { amount: qty.mul(rate).toDecimalPlaces(8, D.ROUND_UP), asset: def.baseAsset }
      : { amount: quote.mul(rate).toDecimalPlaces(8, D.ROUND_UP), asset: def.quoteAsset };
  }

  /** How many BNB one unit of `asset` is worth, if a market says so. */
  private bnbPer(asset: string): Dec | undefined {
    if (asset === 'BNB') return dec(1);
    const direct = this.paths.get(`BNB${asset}`);
    if (direct) return dec(1).div(direct.price);
    const inverse = this.paths.get(`${asset}BNB`);
    if (inverse) return inverse.price;
    return undefined;
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
    this.adoptListLock(order);

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

    const fee = this.commissionFor(acct, def, order.side, qty, quote);
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
    this.onListLegFilled(order, now);
    return trade;
  }

  private releaseLock(order: InternalOrder): void {
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
    this.onWorkingOrderClosed(order, now);
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
          this.onListLegTriggered(o, now);
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
      this.onListLegFilled(o, now);
      this.onWorkingOrderClosed(o, now);
    }
  }

  /** GET /api/v3/myPreventedMatches: the account's prevented matches on a symbol, oldest first. */
  preventedMatchesOf(apiKey: string, symbol: string): PreventedMatch[] {
    return this.marketOf(symbol).prevented.toArray().filter((m) => m.account === apiKey);
  }

  // ---- order lists (OCO) ----

  /**
   * An OCO locks its funds once, on one leg. Whichever leg becomes active takes the lock over,
   * so the expiring sibling does not hand the funds back to `free` mid-trade.
   */
  private adoptListLock(order: InternalOrder): void {
    if (order.orderListId === -1) return;
    const list = this.lists.get(order.orderListId);
    if (!list) return;
    for (const leg of this.legs(list)) {
      if (leg === order || leg.locked.lte(0)) continue;
      order.lockAsset = leg.lockAsset;
      order.locked = order.locked.plus(leg.locked);
      leg.locked = ZERO;
    }
  }

  findList(account: string, orderListId: number | undefined, listClientOrderId: string | undefined): OrderList | undefined {
    let list: OrderList | undefined;
    if (orderListId !== undefined) {
      list = this.lists.get(orderListId);
      if (list && listClientOrderId !== undefined && list.listClientOrderId !== listClientOrderId) return undefined;
    } else if (listClientOrderId !== undefined) {
      for (const l of this.lists.values()) if (l.account === account && l.listClientOrderId === listClientOrderId) list = l;
    }
    return list && list.account === account ? list : undefined;
  }

  /**
   * Places an OCO: validates both legs and the price relationship against the last price,
   * locks the funds once (the larger of the two legs' needs) and starts both legs.
   */
  placeOco(apiKey: string, p: OcoParams): { list: OrderList; legs: InternalOrder[] } {
    const acct = this.account(apiKey);
    const def = this.symbolDef(p.symbol);
    if (!acct.canTrade) throw new ApiError(401, -2015, MSG.invalidApiKey);
    if (def.status !== 'TRADING') throw newOrderRejected(MSG.marketClosed);
    const last = this.lastPrice(p.symbol);
    const isStopLoss = (t: OrderTypeName): boolean => t === 'STOP_LOSS' || t === 'STOP_LOSS_LIMIT';
    const isTakeProfit = (t: OrderTypeName): boolean => t === 'TAKE_PROFIT' || t === 'TAKE_PROFIT_LIMIT';
    if (p.side === 'SELL') {
      if (isStopLoss(p.above.type)) throw badRequest(-1197, 'A stop loss order in a sell OCO must be below.');
      if (isTakeProfit(p.below.type)) throw badRequest(-1199, 'A take profit order in a sell OCO must be above.');
    } else {
      if (p.above.type === 'LIMIT_MAKER') throw badRequest(-1165, 'A limit order in a buy OCO must be below.');
      if (isTakeProfit(p.above.type)) throw badRequest(-1198, 'A take profit order in a buy OCO must be below.');
      if (isStopLoss(p.below.type)) throw badRequest(-1196, 'A stop loss order in a buy OCO must be above.');
    }
    for (const leg of [p.above, p.below]) {
      if (!def.orderTypes.includes(leg.type)) throw newOrderRejected(TYPE_NOT_SUPPORTED[leg.type]);
      this.checkFilters(acct, def, { ...leg, symbol: p.symbol, side: p.side, quantity: p.quantity, quoteOrderQty: undefined }, p.quantity, last, 2);
    }
    // The above leg's reference price must be above the last price, the below leg's below it.
    const ref = (l: OcoLeg): Dec => (l.type === 'LIMIT_MAKER' ? (l.price as Dec) : (l.stopPrice as Dec));
    if (!(ref(p.above).gt(last) && ref(p.below).lt(last))) throw newOrderRejected(MSG.priceRelationship);
    for (const leg of [p.above, p.below]) {
      if (this.openOrderWithClientId(apiKey, p.symbol, leg.newClientOrderId)) throw newOrderRejected(MSG.duplicateOrder);
    }
    if ([...this.lists.values()].some((l) => l.account === apiKey && l.listClientOrderId === p.listClientOrderId && l.listOrderStatus === 'EXECUTING')) {
      throw newOrderRejected(MSG.duplicateOrder);
    }
    const stpMode = resolveStpMode(def, p.selfTradePreventionMode);
    const needPrice = D.max(...[p.above, p.below].map((l) => l.price ?? l.stopPrice ?? last));
    const lock = p.side === 'SELL' ? { asset: def.baseAsset, amount: p.quantity } : { asset: def.quoteAsset, amount: needPrice.mul(p.quantity) };
    if (this.bal(acct, lock.asset).free.lt(lock.amount)) throw newOrderRejected(MSG.insufficientBalance);

    const now = this.now();
    const list: OrderList = {
      account: apiKey,
      symbol: p.symbol,
      orderListId: this.nextListId++,
      contingencyType: 'OCO',
      listStatusType: 'EXEC_STARTED',
      listOrderStatus: 'EXECUTING',
      listClientOrderId: p.listClientOrderId,
      transactionTime: now,
      orderIds: [],
    };
    // Binance lists the stop-type leg first in the response; keep the legs in that order.
    const legParams = isStopLoss(p.below.type) ? [p.below, p.above] : [p.above, p.below];
    const legs = legParams.map((l, i) => {
      const o = this.newOrderObject(acct, def, { ...l, symbol: p.symbol, side: p.side, quantity: p.quantity, quoteOrderQty: undefined }, p.quantity, now, list.orderListId);
      o.selfTradePreventionMode = stpMode;
      this.insert(o, i === 0 ? lock : undefined);
      list.orderIds.push(o.orderId);
      return o;
    });
    this.lists.set(list.orderListId, list);
    this.emit('listStatus', list, legs);
    return { list, legs };
  }

  /**
   * Places an OTO-family list (OTO, OTOCO, OPO, OPOCO; rest-api.md "New Order list - OTO"): only
   * the working order (LIMIT or LIMIT_MAKER) goes on the book; the pending orders wait as
   * PENDING_NEW and are placed, in the same matching step, the moment it is fully filled. A
   * working order that ends otherwise (cancelled, expired, IOC rest) takes its pending orders
   * with it.
   *
   * Assumptions where the docs are silent, stated here: the pending above/below pair must sit
   * above and below the working price (where the market is when they are placed); funds for
   * the pending orders are checked and locked when they are placed, not before (OPO's doc says
   * only the working order's balance is required); pending orders that cannot be funded then
   * expire.
   */
  placeOto(apiKey: string, p: OtoParams): { list: OrderList; orders: InternalOrder[]; fills: InternalTrade[] } {
    const acct = this.account(apiKey);
    const def = this.symbolDef(p.symbol);
    if (!acct.canTrade) throw new ApiError(401, -2015, MSG.invalidApiKey);
    if (def.status !== 'TRADING') throw newOrderRejected(MSG.marketClosed);
    if (p.pays && (p.working.side !== 'BUY' || p.pendingSide !== 'SELL')) {
      throw newOrderRejected('OPO order lists need a BUY working order and SELL pending orders.');
    }
    const last = this.lastPrice(p.symbol);
    const working: NewOrderParams = { symbol: p.symbol, side: p.working.side, type: p.working.type, timeInForce: p.working.timeInForce, quantity: p.working.quantity, quoteOrderQty: undefined, price: p.working.price, stopPrice: undefined, newClientOrderId: p.working.newClientOrderId };
    for (const type of [working.type, ...p.pending.map((l) => l.type)]) if (!def.orderTypes.includes(type)) throw newOrderRejected(TYPE_NOT_SUPPORTED[type]);
    this.checkFilters(acct, def, working, working.quantity, last, 1 + p.pending.length);
    if (working.type === 'LIMIT_MAKER' && this.marketable(working.side, p.working.price, last)) throw newOrderRejected(MSG.wouldMatchAndTake);
    // OPO: the received quantity is not known yet; the working quantity stands in for the filters.
    const pendingQty = p.pendingQuantity ?? p.working.quantity;
    const pendingParams = p.pending.map((l): NewOrderParams => ({ ...l, symbol: p.symbol, side: p.pendingSide, quantity: pendingQty, quoteOrderQty: undefined }));
    for (const leg of pendingParams) this.checkFilters(acct, def, leg, pendingQty, p.working.price, 1 + p.pending.length);
    if (p.pending.length === 2) {
      const [above, below] = p.pending as [OcoLeg, OcoLeg];
      const ref = (l: OcoLeg): Dec => (l.type === 'LIMIT_MAKER' ? (l.price as Dec) : (l.stopPrice as Dec));
      if (!(ref(above).gt(p.working.price) && ref(below).lt(p.working.price))) throw newOrderRejected(MSG.priceRelationship);
    }
    for (const cid of [working.newClientOrderId, ...p.pending.map((l) => l.newClientOrderId)]) {
      if (this.openOrderWithClientId(apiKey, p.symbol, cid)) throw newOrderRejected(MSG.duplicateOrder);
    }
    if ([...this.lists.values()].some((l) => l.account === apiKey && l.listClientOrderId === p.listClientOrderId && l.listOrderStatus === 'EXECUTING')) {
      throw newOrderRejected(MSG.duplicateOrder);
    }
    const stpMode = resolveStpMode(def, p.selfTradePreventionMode);
    const lock = this.lockFor(def, working, working.quantity, last);
    if (lock && this.bal(acct, lock.asset).free.lt(lock.amount)) throw newOrderRejected(MSG.insufficientBalance);

    const now = this.now();
    const list: OrderList = {
      account: apiKey,
      symbol: p.symbol,
      orderListId: this.nextListId++,
      contingencyType: 'OTO',
      listStatusType: 'EXEC_STARTED',
      listOrderStatus: 'EXECUTING',
      listClientOrderId: p.listClientOrderId,
      transactionTime: now,
      orderIds: [],
      pays: p.pays,
    };
    this.lists.set(list.orderListId, list);
    const workingOrder = this.newOrderObject(acct, def, working, working.quantity, now, list.orderListId);
    workingOrder.selfTradePreventionMode = stpMode;
    this.insert(workingOrder, lock);
    list.orderIds.push(workingOrder.orderId);
    list.workingOrderId = workingOrder.orderId;
    // As in an OCO, the stop-type pending order comes first.
    const ordered = pendingParams.length === 2 && !STOP_TYPES.has(pendingParams[0]!.type) ? [pendingParams[1]!, pendingParams[0]!] : pendingParams;
    const pendingOrders = ordered.map((leg) => {
      const o = this.newOrderObject(acct, def, leg, p.pendingQuantity ?? ZERO, now, list.orderListId);
      o.status = 'PENDING_NEW';
      o.selfTradePreventionMode = stpMode;
      o.isWorking = false;
      o.workingTime = -1;
      this.insert(o, undefined);
      list.orderIds.push(o.orderId);
      return o;
    });
    this.emit('listStatus', list, this.legs(list));
    // Binance's placement response shows the pending orders as placed (PENDING_NEW), even when
    // the working order filled at once and they are on the book already: report them as such.
    const asPlaced = pendingOrders.map((o) => ({ ...o }));
    const fills = this.activate(workingOrder, now);
    return { list, orders: [workingOrder, ...asPlaced], fills };
  }

  /** The working order of an OTO list filled completely: its pending orders go on the book now. */
  private placePending(list: OrderList, workingOrder: InternalOrder, now: number): void {
    const def = this.symbolDef(list.symbol);
    const acct = this.account(list.account);
    const pending = this.legs(list).filter((o) => o.status === 'PENDING_NEW');
    if (pending.length === 0) return;
    let qty = pending[0]!.origQty;
    if (list.pays === true) {
      // What the working order received, less the commission taken from it (faqs/opo.md), to the lot step.
      const trades = (this.tradesBySymbol.get(list.symbol) ?? []).filter((t) => t.orderId === workingOrder.orderId);
      const commission = trades.filter((t) => t.commissionAsset === def.baseAsset).reduce((a, t) => a.plus(t.commission), ZERO);
      qty = floorToStep(workingOrder.executedQty.minus(commission), dec(def.stepSize));
    }
    const side = pending[0]!.side;
    const price = D.max(...pending.map((o) => (o.price.gt(0) ? o.price : (o.stopPrice ?? this.lastPrice(list.symbol)))));
    const lock = side === 'SELL' ? { asset: def.baseAsset, amount: qty } : { asset: def.quoteAsset, amount: price.mul(qty) };
    if (qty.lte(0) || this.bal(acct, lock.asset).free.lt(lock.amount)) {
      for (const o of pending) {
        o.origQty = qty;
        this.finish(o, 'EXPIRED', now, 'INSUFFICIENT_BALANCE');
      }
      this.maybeCloseList(list, now);
      return;
    }
    pending.forEach((o, i) => {
      o.origQty = qty;
      o.status = 'NEW';
      o.updateTime = now;
      const stop = STOP_TYPES.has(o.type);
      o.isWorking = !stop;
      o.workingTime = stop ? -1 : now;
      if (i === 0) {
        const b = this.bal(acct, lock.asset);
        b.free = b.free.minus(lock.amount);
        b.locked = b.locked.plus(lock.amount);
        o.lockAsset = lock.asset;
        o.locked = lock.amount;
      }
      this.trackOpen(o);
      this.emitExec(o, 'NEW', undefined);
    });
    list.transactionTime = now;
    this.emit('listStatus', list, this.legs(list));
  }

  /** A working order that ended without filling completely: its pending orders expire with it. */
  private onWorkingOrderClosed(order: InternalOrder, now: number): void {
    if (order.orderListId === -1 || order.status === 'FILLED') return;
    const list = this.lists.get(order.orderListId);
    if (!list || list.workingOrderId !== order.orderId || list.listOrderStatus !== 'EXECUTING') return;
    const pending = this.legs(list).filter((leg) => leg.status === 'PENDING_NEW');
    // None left when the list as a whole is being cancelled (cancelList closes them first and reports the list itself).
    if (pending.length === 0) return;
    for (const leg of pending) this.finish(leg, 'EXPIRED', now);
    this.maybeCloseList(list, now);
  }

  private legs(list: OrderList): InternalOrder[] {
    return list.orderIds.map((id) => this.byId.get(`${list.symbol}:${id}`)).filter((o): o is InternalOrder => o !== undefined);
  }

  /** One leg traded (even partially): the other legs expire and the list is done. */
  private onListLegFilled(order: InternalOrder, now: number): void {
    if (order.orderListId === -1) return;
    const list = this.lists.get(order.orderListId);
    if (!list || list.listOrderStatus !== 'EXECUTING') return;
    if (list.workingOrderId === order.orderId) {
      // An OTO's working order: its pending orders are placed once it is fully filled, not before.
      if (order.status === 'FILLED') this.placePending(list, order, now);
      return;
    }
    for (const leg of this.legs(list)) if (leg !== order && isOpen(leg)) this.finish(leg, 'EXPIRED', now, 'OCO_TRIGGER');
    this.maybeCloseList(list, now);
  }

  /** A stop leg triggered: the other legs expire (Binance's OCO semantics). */
  private onListLegTriggered(order: InternalOrder, now: number): void {
    if (order.orderListId === -1) return;
    const list = this.lists.get(order.orderListId);
    if (!list || list.listOrderStatus !== 'EXECUTING') return;
    this.adoptListLock(order);
    for (const leg of this.legs(list)) if (leg !== order && isOpen(leg)) this.finish(leg, 'EXPIRED', now, 'OCO_TRIGGER');
    this.maybeCloseList(list, now);
  }

  maybeCloseList(list: OrderList, now: number): void {
    const all = this.legs(list);
    const working = list.workingOrderId === undefined ? undefined : all.find((o) => o.orderId === list.workingOrderId);
    if (working && isOpen(working)) return;
    // An OTO is done when its working order ended unfilled, or as an OCO of its placed pending orders.
    const legs = working ? all.filter((o) => o !== working) : all;
    if (working && working.status !== 'FILLED' && legs.every((l) => !isOpen(l)) && list.listOrderStatus === 'EXECUTING') {
      list.listStatusType = 'ALL_DONE';
      list.listOrderStatus = 'ALL_DONE';
      list.transactionTime = now;
      this.emit('listStatus', list, all);
      return;
    }
    const anyDone = legs.some((l) => !isOpen(l) || l.executedQty.gt(0) || (l.stopPrice !== undefined && l.isWorking));
    if (!anyDone || list.listOrderStatus !== 'EXECUTING') return;
    list.listStatusType = 'ALL_DONE';
    list.listOrderStatus = 'ALL_DONE';
    list.transactionTime = now;
    this.emit('listStatus', list, all);
  }

  cancelList(orderListId: number, now: number, cancelClientOrderId?: string): OrderList {
    const list = this.lists.get(orderListId);
    if (!list) throw badRequest(-2011, MSG.orderListDoesNotExist);
    // An OTO's working order last: closing it first would expire its pending orders instead of cancelling them.
    const legs = this.legs(list).sort((a, b) => Number(a.orderId === list.workingOrderId) - Number(b.orderId === list.workingOrderId));
    for (const leg of legs) if (isOpen(leg)) this.finish(leg, 'CANCELED', now, undefined, cancelClientOrderId);
    list.listStatusType = 'ALL_DONE';
    list.listOrderStatus = 'ALL_DONE';
    list.transactionTime = now;
    this.emit('listStatus', list, this.legs(list));
    return list;
  }

  listLegs(list: OrderList): InternalOrder[] {
    return this.legs(list);
  }

  // ---- events ----

  private emitExec(order: InternalOrder, execType: ExecType, trade: InternalTrade | undefined, cancelClientOrderId?: string, origClientOrderId?: string): number {
    const executionId = this.nextExecutionId++;
    const ev: ExecutionEvent = { account: order.account, order, execType, trade, cancelClientOrderId, origClientOrderId, eventTime: this.now(), executionId };
    this.emit('execution', ev);
    return executionId;
  }

  // ---- amend keep priority ----

  /**
   * PUT /api/v3/order/amend/keepPriority: reduces an open order's quantity in place. The order
   * keeps its orderId and so its queue priority (see onPrice); its client id becomes
   * `newClientOrderId` (which may be the current one). Amending an OCO leg amends both legs
   * (they must have the same quantity). A failure leaves the order unchanged.
   *
   * newQty at or below the executed quantity: Binance's docs only say newQty must be above 0 and
   * below the order's quantity; its CHANGELOG (2026-04-02) speaks of "orders that expire because
   * of the amendment". The paper exchange therefore lets such an amend succeed and the order end
   * EXPIRED with what it executed (nothing more can fill); an assumption, stated here.
   */
  amend(apiKey: string, p: AmendParams): AmendResult {
    const acct = this.account(apiKey);
    const def = this.symbolDef(p.symbol);
    if (!acct.canTrade) throw new ApiError(401, -2015, MSG.invalidApiKey);
    if (def.amendAllowed === false) throw amendRejected('Order amend is not supported for this symbol.');
    const step = dec(def.stepSize);
    if (p.newQty.lt(dec(def.minQty)) || p.newQty.gt(dec(def.maxQty)) || !p.newQty.mod(step).isZero()) throw filterFailure('LOT_SIZE');
    const o = this.findOrder(apiKey, p.symbol, p.orderId, p.origClientOrderId);
    if (!o || !isOpen(o)) throw amendRejected(MSG.unknownOrderSent);
    if (p.newQty.gt(o.origQty)) throw amendRejected('Order amend (quantity increase) is not supported.');
    if (p.newQty.eq(o.origQty)) throw amendRejected('The requested action would change no state; rejecting');
    if (LIMIT_PRICED.has(o.type) && o.price.mul(p.newQty).lt(dec(def.minNotional))) throw filterFailure('NOTIONAL');
    const key = `${o.symbol}:${o.orderId}`;
    if ((this.amendments.get(key)?.length ?? 0) >= (def.maxNumOrderAmends ?? DEFAULT_MAX_NUM_ORDER_AMENDS)) {
      throw amendRejected('Filter failure: MAX_NUM_ORDER_AMENDS');
    }
    if (p.newClientOrderId !== o.clientOrderId && this.openOrderWithClientId(apiKey, p.symbol, p.newClientOrderId)) throw amendRejected(MSG.duplicateOrder);

    const now = this.now();
    const list = o.orderListId === -1 ? undefined : this.lists.get(o.orderListId);
    const legs = list ? this.legs(list).filter(isOpen) : [o];
    const origClientOrderId = o.clientOrderId;
    // An OCO locks once, on one leg, for the list's quantity: shrink that lock once.
    this.shrinkLock(list ? legs.find((l) => l.locked.gt(0)) : o, o, p.newQty);
    let executionId = 0;
    for (const leg of legs) {
      const before = { clientOrderId: leg.clientOrderId, qty: leg.origQty };
      leg.origQty = p.newQty;
      if (leg === o) leg.clientOrderId = p.newClientOrderId;
      leg.updateTime = now;
      if (leg.executedQty.gte(p.newQty)) {
        leg.status = 'EXPIRED';
        this.releaseLock(leg);
        this.trackOpen(leg);
      }
      const id = this.emitExec(leg, 'REPLACED', undefined, undefined, before.clientOrderId);
      if (leg === o) executionId = id;
      const k = `${leg.symbol}:${leg.orderId}`;
      const record: Amendment = {
        symbol: leg.symbol,
        orderId: leg.orderId,
        executionId: id,
        origClientOrderId: before.clientOrderId,
        newClientOrderId: leg.clientOrderId,
        origQty: before.qty,
        newQty: p.newQty,
        time: now,
      };
      this.amendments.set(k, [...(this.amendments.get(k) ?? []), record]);
    }
    if (list) {
      if (origClientOrderId !== o.clientOrderId) {
        // Binance: a listStatus with listStatusType UPDATED when an amended leg's client id changed.
        list.listStatusType = 'UPDATED';
        list.transactionTime = now;
        this.emit('listStatus', list, this.legs(list));
      }
      this.maybeCloseList(list, now);
    }
    return { order: o, origClientOrderId, executionId, transactTime: now, list, legs: list ? this.legs(list) : [o] };
  }

  /** Keeps locked only what the remaining quantity after the amend still needs (pro rata, rounded up). */
  private shrinkLock(holder: InternalOrder | undefined, order: InternalOrder, newQty: Dec): void {
    if (!holder || holder.lockAsset === undefined || holder.locked.lte(0)) return;
    const before = order.origQty.minus(order.executedQty);
    const after = D.max(newQty.minus(order.executedQty), ZERO);
    if (before.lte(0)) return;
    const keep = D.min(holder.locked, holder.locked.mul(after).div(before).toDecimalPlaces(8, D.ROUND_UP));
    const release = holder.locked.minus(keep);
    const b = this.bal(this.account(holder.account), holder.lockAsset);
    b.locked = b.locked.minus(release);
    b.free = b.free.plus(release);
    holder.locked = keep;
  }

  /** GET /api/v3/order/amendments for one order; undefined when the order does not exist. */
  amendmentsOf(apiKey: string, symbol: string, orderId: number): Amendment[] | undefined {
    const o = this.findOrder(apiKey, symbol, orderId, undefined);
    if (!o) return undefined;
    return [...(this.amendments.get(`${symbol}:${orderId}`) ?? [])];
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

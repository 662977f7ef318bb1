/**
 * A scripted stand-in for BinanceSpotClient: the methods the trade activities call, answering
 * with Binance's field names and exact-decimal strings ("0.00100000"), and recording every call.
 *
 * By default it is a tiny venue: a LIMIT order rests (NEW), a MARKET order fills at `price`, a
 * cancel of an open order answers CANCELED, a cancel of a finished one -2011, a query of an
 * unknown id -2013. A test scripts anything else by replacing a handler (`on.newOrder = ...`)
 * or by moving an order on the venue (`fill`, `setStatus`). Requests go through the hooks the
 * real client calls (beforeSend, onSent with the recvWindow deadline), so the activities'
 * exactly-once bookkeeping runs as it does against Binance.
 */
import type { BinanceSpotClient, ExchangeInfo, NewOrderRequest, Order, OrderQuery, OrderResponse, RequestHooks, Trade, TradeQuery } from '../../../src/exchange';
import { BinanceError } from '../../../src/exchange/errors';
import type { AmendKeepPriorityRequest } from '../../../src/exchange/requests';
import { ExchangeInfoSchema, type AmendOrderResponse } from '../../../src/exchange/schemas';
import { dec } from '../../../src/shared/decimal';

export interface StubCall {
  method: string;
  args: Record<string, unknown>;
  at: number;
}

/** Binance's wire form: 8 decimals. */
export const q8 = (v: string | number): string => dec(v).toFixed(8);

export function binanceError(kind: BinanceError['kind'], code: number | undefined, msg: string, endpoint: string, extra: { httpStatus?: number; retryAfterMs?: number } = {}): BinanceError {
  return new BinanceError({ httpStatus: extra.httpStatus, code, msg, kind, endpoint, ...(extra.retryAfterMs !== undefined ? { retryAfterMs: extra.retryAfterMs } : {}) });
}

export const noSuchOrder = (endpoint = 'GET /api/v3/order') => binanceError('not_found', -2013, 'Order does not exist.', endpoint, { httpStatus: 400 });
/** What the client throws when a request timed out after it may have been sent. */
export const timedOut = (endpoint = 'POST /api/v3/order') =>
  binanceError('unknown_outcome', undefined, 'request timed out after the request may have been sent; execution status unknown: stub', endpoint);
/** An outage of reads: 5xx without execution is retry_later in the client's table only for some codes; -1008 SERVER_BUSY is. */
export const serverBusy = (endpoint = 'GET /api/v3/order') => binanceError('retry_later', -1008, 'Server is currently overloaded with other requests. Please try again in a few minutes.', endpoint, { httpStatus: 503, retryAfterMs: 100 });

export const EXCHANGE_INFO: ExchangeInfo = ExchangeInfoSchema.parse({
  timezone: 'UTC',
  serverTime: 0,
  rateLimits: [],
  exchangeFilters: [],
  symbols: [
    {
      symbol: 'BTCUSDT',
      status: 'TRADING',
      baseAsset: 'BTC',
      baseAssetPrecision: 8,
      quoteAsset: 'USDT',
      quoteAssetPrecision: 8,
      orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'],
      ocoAllowed: true,
      otoAllowed: false,
      opoAllowed: false,
      amendAllowed: true,
      filters: [
        { filterType: 'PRICE_FILTER', minPrice: '0.01000000', maxPrice: '1000000.00000000', tickSize: '0.01000000' },
        { filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '9000.00000000', stepSize: '0.00001000' },
        { filterType: 'MARKET_LOT_SIZE', minQty: '0.00000000', maxQty: '100.00000000', stepSize: '0.00000000' },
        { filterType: 'NOTIONAL', minNotional: '5.00000000', applyMinToMarket: true, maxNotional: '9000000.00000000', applyMaxToMarket: false, avgPriceMins: 5 },
        { filterType: 'PERCENT_PRICE_BY_SIDE', bidMultiplierUp: '5', bidMultiplierDown: '0.2', askMultiplierUp: '5', askMultiplierDown: '0.2', avgPriceMins: 5 },
      ],
    },
  ],
});

type Handler<A, R> = (args: A, hooks: RequestHooks | undefined, venue: StubExchange) => Promise<R> | R;

export interface StubHandlers {
  newOrder: Handler<NewOrderRequest, OrderResponse>;
  getOrder: Handler<OrderQuery, Order>;
  cancelOrder: Handler<OrderQuery, Order>;
  amendOrderKeepPriority: Handler<AmendKeepPriorityRequest, AmendOrderResponse>;
  myTrades: Handler<TradeQuery, Trade[]>;
  tickerPrice: Handler<{ symbol: string }, { symbol: string; price: string }>;
}

const OPEN = new Set(['NEW', 'PARTIALLY_FILLED', 'PENDING_NEW', 'PENDING_CANCEL']);

export class StubExchange {
  readonly calls: StubCall[] = [];
  /** The venue's orders by client order id, as GET /api/v3/order answers them. */
  readonly orders = new Map<string, Order>();
  readonly trades: Trade[] = [];
  price = '60000.00000000';
  private nextOrderId = 7001;
  private nextTradeId = 90001;
  /** Scripted answers; each defaults to the tiny venue's behaviour below. */
  readonly on: StubHandlers;

  constructor(private readonly recvWindowMs: number) {
    this.on = {
      newOrder: (req, hooks) => this.accept(req, hooks),
      getOrder: (q) => this.lookup(q),
      cancelOrder: (q, hooks) => this.cancel(q, hooks),
      amendOrderKeepPriority: (req, hooks) => this.amend(req, hooks),
      myTrades: (q) => this.trades.filter((t) => t.symbol === q.symbol && (q.orderId === undefined || t.orderId === q.orderId) && t.id >= (q.fromId ?? 0)),
      tickerPrice: ({ symbol }) => ({ symbol, price: this.price }),
    };
  }

  /** The only cast: what the activities are given as their exchange client. */
  client(): BinanceSpotClient {
    const call = async <A extends object, R>(method: keyof StubHandlers, args: A, hooks?: RequestHooks): Promise<R> => {
      this.calls.push({ method, args: { ...args } as Record<string, unknown>, at: Date.now() });
      const handler = this.on[method] as unknown as Handler<A, R>;
      return handler(args, hooks, this);
    };
    const client = {
      cachedExchangeInfo: async () => EXCHANGE_INFO,
      exchangeInfo: async () => EXCHANGE_INFO,
      tickerPrice: (symbol: string) => call('tickerPrice', { symbol }),
      newOrder: (req: NewOrderRequest, hooks?: RequestHooks) => call('newOrder', req, hooks),
      getOrder: (q: OrderQuery, hooks?: RequestHooks) => call('getOrder', q, hooks),
      cancelOrder: (q: OrderQuery, hooks?: RequestHooks) => call('cancelOrder', q, hooks),
      amendOrderKeepPriority: (req: AmendKeepPriorityRequest, hooks?: RequestHooks) => call('amendOrderKeepPriority', req, hooks),
      myTrades: (q: TradeQuery) => call('myTrades', q),
    };
    return client as unknown as BinanceSpotClient;
  }

  /** Calls of one method, in order. */
  callsOf(method: keyof StubHandlers): StubCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** What the real client does around a request: the last check, then the signed deadline. */
  sent(hooks: RequestHooks | undefined): void {
    hooks?.beforeSend?.();
    const now = Date.now();
    hooks?.onSent?.({ timestampMs: now, acceptableUntilLocalMs: now + this.recvWindowMs });
  }

  /** Places the order on the venue (a LIMIT rests, a MARKET fills at `price`) and answers as Binance's FULL response. */
  accept(req: NewOrderRequest, hooks?: RequestHooks): OrderResponse {
    this.sent(hooks);
    const cid = req.newClientOrderId!;
    if (this.orders.has(cid) && OPEN.has(this.orders.get(cid)!.status)) {
      throw binanceError('rejected', -2010, 'Duplicate order sent.', 'POST /api/v3/order', { httpStatus: 400 });
    }
    const now = Date.now();
    const order: Order = {
      symbol: req.symbol,
      orderId: this.nextOrderId++,
      orderListId: -1,
      clientOrderId: cid,
      price: q8(req.price ?? '0'),
      origQty: q8(req.quantity!),
      executedQty: q8(0),
      cummulativeQuoteQty: q8(0),
      status: 'NEW',
      timeInForce: req.timeInForce ?? 'GTC',
      type: req.type as Order['type'],
      side: req.side,
      time: now,
      updateTime: now,
      isWorking: true,
      workingTime: now,
      selfTradePreventionMode: 'EXPIRE_MAKER',
    };
    this.orders.set(cid, order);
    let fills: OrderResponse['fills'] = [];
    if (req.type === 'MARKET') fills = this.fill(cid, req.quantity!, this.price).map((t) => ({ price: t.price, qty: t.qty, commission: t.commission, commissionAsset: t.commissionAsset, tradeId: t.id }));
    const o = this.orders.get(cid)!;
    return {
      symbol: o.symbol,
      orderId: o.orderId,
      orderListId: -1,
      clientOrderId: cid,
      transactTime: now,
      price: o.price,
      origQty: o.origQty,
      executedQty: o.executedQty,
      cummulativeQuoteQty: o.cummulativeQuoteQty,
      status: o.status,
      timeInForce: o.timeInForce,
      type: o.type,
      side: o.side,
      workingTime: now,
      selfTradePreventionMode: 'EXPIRE_MAKER',
      fills,
    };
  }

  /** Executes `qty` more of the order at `price` (default its limit): one trade, commission 0.1% in the quote asset. */
  fill(cid: string, qty: string, price?: string): Trade[] {
    const o = this.mustHave(cid);
    const px = q8(price ?? o.price);
    const executed = dec(o.executedQty).plus(qty);
    o.executedQty = q8(executed.toFixed());
    o.cummulativeQuoteQty = q8(dec(o.cummulativeQuoteQty).plus(dec(px).mul(qty)).toFixed());
    o.status = executed.gte(o.origQty) ? 'FILLED' : 'PARTIALLY_FILLED';
    o.updateTime = Date.now();
    const quote = dec(px).mul(qty);
    const trade: Trade = {
      symbol: o.symbol,
      id: this.nextTradeId++,
      orderId: o.orderId,
      orderListId: -1,
      price: px,
      qty: q8(qty),
      quoteQty: q8(quote.toFixed()),
      commission: q8(quote.mul('0.001').toFixed()),
      commissionAsset: 'USDT',
      time: o.updateTime,
      isBuyer: o.side === 'BUY',
      isMaker: o.type !== 'MARKET',
      isBestMatch: true,
    };
    this.trades.push(trade);
    return [trade];
  }

  mustHave(cid: string): Order {
    const o = this.orders.get(cid);
    if (!o) throw new Error(`stub exchange: no order ${cid}`);
    return o;
  }

  lookup(q: OrderQuery): Order {
    const o = this.orders.get(String(q.origClientOrderId));
    if (!o) throw noSuchOrder();
    return { ...o };
  }

  cancel(q: OrderQuery, hooks?: RequestHooks): Order {
    this.sent(hooks);
    const o = this.orders.get(String(q.origClientOrderId));
    if (!o) throw binanceError('not_found', -2011, 'Unknown order sent.', 'DELETE /api/v3/order', { httpStatus: 400 });
    if (!OPEN.has(o.status)) throw binanceError('rejected', -2011, 'Unknown order sent.', 'DELETE /api/v3/order', { httpStatus: 400 });
    o.status = 'CANCELED';
    o.updateTime = Date.now();
    // As Binance: clientOrderId is the cancel request's own id, origClientOrderId the order's.
    const { time: _time, isWorking: _w, workingTime: _wt, ...rest } = o;
    const answer: Order = { ...rest, clientOrderId: `stubCancel${o.orderId}`, origClientOrderId: o.clientOrderId, transactTime: o.updateTime };
    return answer;
  }

  amend(req: AmendKeepPriorityRequest, hooks?: RequestHooks): AmendOrderResponse {
    this.sent(hooks);
    const o = this.mustHave(String(req.origClientOrderId));
    if (!OPEN.has(o.status) || dec(req.newQty).lte(o.executedQty) || dec(req.newQty).gte(o.origQty)) {
      throw binanceError('rejected', -2038, 'Order amend (quantity decrease) rejected.', 'PUT /api/v3/order/amend/keepPriority', { httpStatus: 400 });
    }
    o.origQty = q8(req.newQty);
    o.updateTime = Date.now();
    return {
      transactTime: o.updateTime,
      executionId: 1,
      amendedOrder: {
        symbol: o.symbol,
        orderId: o.orderId,
        orderListId: -1,
        origClientOrderId: o.clientOrderId,
        clientOrderId: o.clientOrderId,
        price: o.price,
        qty: o.origQty,
        executedQty: o.executedQty,
        preventedQty: q8(0),
        quoteOrderQty: q8(0),
        cumulativeQuoteQty: o.cummulativeQuoteQty,
        status: o.status,
        timeInForce: o.timeInForce,
        type: o.type,
        side: o.side,
        workingTime: o.workingTime ?? o.updateTime,
        selfTradePreventionMode: 'EXPIRE_MAKER',
      },
    };
  }
}

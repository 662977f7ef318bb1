/**
 * Binance Spot REST client: one method per endpoint, each naming its method, path, weight and
 * response schema. Every one goes through BinanceTransport.call() (transport.ts): budget, sign,
 * send on one keep-alive pool, parse with zod, classify failures into BinanceError.
 */
import { z } from 'zod';
import { BinanceError } from './errors';
import type { RateLimitUsage } from './rate-limit';
import {
  AccountSchema,
  AmendOrderResponseSchema,
  OrderAmendmentSchema,
  type AmendOrderResponse,
  type OrderAmendment,
  CancelReplaceDataSchema,
  CancelReplaceErrorSchema,
  CommissionRatesSchema,
  EmptySchema,
  OrderCountSchema,
  OrderListResponseSchema,
  OrderListSchema,
  TestOrderResultSchema,
  ExchangeInfoSchema,
  OrderResponseSchema,
  OrderSchema,
  ServerTimeSchema,
  TickerPriceSchema,
  TradeSchema,
  type Account,
  type CancelReplaceResult,
  type CommissionRates,
  type ExchangeInfo,
  type OrderCount,
  type OrderList,
  type OrderListResponse,
  type TestOrderResult,
  type Order,
  type OrderResponse,
  type Trade,
} from './schemas';
import type { Params } from './signing';
import { BinanceTransport, type CallSpec, type RequestHooks, type TransportOptions } from './transport';
import { NewOrderRequestSchema, NewOcoRequestSchema, NewOtoRequestSchema, NewOtocoRequestSchema, NewOpoRequestSchema, NewOpocoRequestSchema, CancelReplaceRequestSchema, AmendKeepPriorityRequestSchema, type NewOrderRequest, type NewOcoRequest, type NewOtoRequest, type NewOtocoRequest, type NewOpoRequest, type NewOpocoRequest, type CancelReplaceRequest, type AmendKeepPriorityRequest, type OrderQuery, type TradeQuery } from './requests';

export interface BinanceClientOptions extends TransportOptions {
  /** How long a cached exchangeInfo is considered fresh, default 5 minutes. */
  exchangeInfoTtlMs?: number;
}

// The request shapes callers import from here, as before they had a module of their own.
export * from './requests';
export type { RequestHooks } from './transport';

export class BinanceSpotClient {
  private readonly transport: BinanceTransport;
  private readonly exchangeInfoTtlMs: number;
  private info: { value: ExchangeInfo; fetchedAt: number } | undefined;
  private infoRefresh: Promise<ExchangeInfo> | undefined;

  constructor(opts: BinanceClientOptions) {
    this.transport = new BinanceTransport(opts);
    this.exchangeInfoTtlMs = opts.exchangeInfoTtlMs ?? 300_000;
  }

  // ---- general ----

  async ping(): Promise<void> {
    await this.transport.call({ method: 'GET', path: '/api/v3/ping', signed: false, weight: 1, schema: EmptySchema });
  }

  async serverTime(): Promise<number> {
    const { serverTime } = await this.transport.call({ method: 'GET', path: '/api/v3/time', signed: false, weight: 1, schema: ServerTimeSchema });
    return serverTime;
  }

  /**
   * Measures the offset between the exchange clock and ours, assuming the server read its clock
   * half way through the round trip. Signed requests add the offset to their timestamp.
   */
  syncTime(): Promise<{ offsetMs: number }> {
    return this.transport.syncTime();
  }

  async exchangeInfo(symbols?: string[]): Promise<ExchangeInfo> {
    const params: Params = {};
    if (symbols !== undefined && symbols.length === 1) params.symbol = symbols[0];
    else if (symbols !== undefined && symbols.length > 1) params.symbols = JSON.stringify(symbols);
    const value = await this.transport.call({ method: 'GET', path: '/api/v3/exchangeInfo', params, signed: false, weight: 20, schema: ExchangeInfoSchema });
    this.transport.setLimits(value.rateLimits);
    if (symbols === undefined || symbols.length === 0 || this.info === undefined) {
      this.info = { value, fetchedAt: Date.now() };
    } else {
      const merged = new Map(this.info.value.symbols.map((info) => [info.symbol, info]));
      for (const info of value.symbols) merged.set(info.symbol, info);
      this.info = { value: { ...value, symbols: [...merged.values()] }, fetchedAt: this.info.fetchedAt };
    }
    return value;
  }

  /** exchangeInfo from cache, refreshed (once, for all concurrent callers) when older than the TTL. */
  async cachedExchangeInfo(maxAgeMs = this.exchangeInfoTtlMs): Promise<ExchangeInfo> {
    if (this.info && Date.now() - this.info.fetchedAt <= maxAgeMs) return this.info.value;
    if (!this.infoRefresh) {
      this.infoRefresh = this.exchangeInfo().finally(() => {
        this.infoRefresh = undefined;
      });
    }
    return this.infoRefresh;
  }

  async tickerPrice(symbol: string): Promise<{ symbol: string; price: string }> {
    return this.transport.call({ method: 'GET', path: '/api/v3/ticker/price', params: { symbol }, signed: false, weight: 2, schema: TickerPriceSchema });
  }

  // ---- trading ----

  /** Always asks for newOrderRespType=FULL so the response carries fills[]. */
  async newOrder(req: NewOrderRequest, hooks?: RequestHooks): Promise<OrderResponse> {
    const checked = this.parseRequest(NewOrderRequestSchema, req, 'POST /api/v3/order');
    return this.placeOrders({ path: '/api/v3/order', params: newOrderParams(checked), orders: 1, schema: OrderResponseSchema, hooks });
  }

  /** -2013 "Order does not exist." throws BinanceError kind 'not_found'; nothing else does. */
  async getOrder(q: OrderQuery, hooks?: RequestHooks): Promise<Order> {
    return this.transport.call({ method: 'GET', path: '/api/v3/order', params: this.orderRef(q, 'GET /api/v3/order'), signed: true, weight: 4, schema: OrderSchema, hooks });
  }

  /**
   * Cancelling an order Binance does not know answers -2011 "Unknown order sent."; that one
   * message is classified 'not_found' (other -2011s, e.g. cancel restrictions, are 'rejected').
   * An order that already finished answers the same -2011, so 'not_found' on cancel means
   * "not open": query it to learn whether it filled.
   * As on Binance, the returned `clientOrderId` is the cancel request's id and
   * `origClientOrderId` is the order's own.
   */
  async cancelOrder(q: OrderQuery, hooks?: RequestHooks): Promise<Order> {
    return this.transport.call({
      method: 'DELETE',
      path: '/api/v3/order',
      params: this.orderRef(q, 'DELETE /api/v3/order'),
      signed: true,
      weight: 1,
      schema: OrderSchema,
      isCancel: true,
      hooks,
    });
  }

  async openOrders(symbol?: string): Promise<Order[]> {
    return this.transport.call({
      method: 'GET',
      path: '/api/v3/openOrders',
      params: { symbol },
      signed: true,
      weight: symbol === undefined ? 80 : 6,
      schema: z.array(OrderSchema),
    });
  }

  async myTrades(q: TradeQuery): Promise<Trade[]> {
    return this.transport.call({
      method: 'GET',
      path: '/api/v3/myTrades',
      params: { symbol: q.symbol, orderId: q.orderId, fromId: q.fromId, startTime: q.startTime, endTime: q.endTime, limit: q.limit },
      signed: true,
      weight: q.orderId === undefined ? 20 : 5,
      schema: z.array(TradeSchema),
    });
  }

  async account(): Promise<Account> {
    return this.transport.call({ method: 'GET', path: '/api/v3/account', signed: true, weight: 20, schema: AccountSchema });
  }

  /** POST /api/v3/order/test: validated by the exchange, never sent to the matching engine. */
  async testOrder(req: NewOrderRequest, opts: { computeCommissionRates?: boolean } = {}): Promise<TestOrderResult> {
    const checked = this.parseRequest(NewOrderRequestSchema, req, 'POST /api/v3/order/test');
    return this.transport.call({
      method: 'POST',
      path: '/api/v3/order/test',
      params: { ...checked, computeCommissionRates: opts.computeCommissionRates === true ? 'true' : undefined },
      signed: true,
      weight: opts.computeCommissionRates === true ? 20 : 1,
      schema: TestOrderResultSchema,
    });
  }

  async allOrders(q: { symbol: string; orderId?: number; startTime?: number; endTime?: number; limit?: number }): Promise<Order[]> {
    return this.transport.call({
      method: 'GET',
      path: '/api/v3/allOrders',
      params: { symbol: q.symbol, orderId: q.orderId, startTime: q.startTime, endTime: q.endTime, limit: q.limit },
      signed: true,
      weight: 20,
      schema: z.array(OrderSchema),
    });
  }

  async commissionRates(symbol: string): Promise<CommissionRates> {
    return this.transport.call({ method: 'GET', path: '/api/v3/account/commission', params: { symbol }, signed: true, weight: 20, schema: CommissionRatesSchema });
  }

  /** GET /api/v3/rateLimit/order: the account's unfilled order count per interval. */
  async orderCountUsage(): Promise<OrderCount> {
    return this.transport.call({ method: 'GET', path: '/api/v3/rateLimit/order', signed: true, weight: 40, schema: OrderCountSchema });
  }

  /** POST /api/v3/orderList/oco with newOrderRespType FULL. Counts as 2 orders. */
  async newOco(req: NewOcoRequest, hooks?: RequestHooks): Promise<OrderListResponse> {
    const checked = this.parseRequest(NewOcoRequestSchema, req, 'POST /api/v3/orderList/oco');
    return this.placeOrders({ path: '/api/v3/orderList/oco', params: { ...checked, newOrderRespType: 'FULL' }, orders: 2, schema: OrderListResponseSchema, hooks });
  }

  /** POST /api/v3/orderList/oto with newOrderRespType FULL. Counts as 2 orders. */
  async newOto(req: NewOtoRequest, hooks?: RequestHooks): Promise<OrderListResponse> {
    return this.placeList('oto', this.parseRequest(NewOtoRequestSchema, req, 'POST /api/v3/orderList/oto'), 2, hooks);
  }

  /** POST /api/v3/orderList/otoco with newOrderRespType FULL. Counts as 3 orders. */
  async newOtoco(req: NewOtocoRequest, hooks?: RequestHooks): Promise<OrderListResponse> {
    return this.placeList('otoco', this.parseRequest(NewOtocoRequestSchema, req, 'POST /api/v3/orderList/otoco'), 3, hooks);
  }

  /** POST /api/v3/orderList/opo (BUY working, SELL pending) with newOrderRespType FULL. Counts as 2 orders. */
  async newOpo(req: NewOpoRequest, hooks?: RequestHooks): Promise<OrderListResponse> {
    return this.placeList('opo', this.parseRequest(NewOpoRequestSchema, req, 'POST /api/v3/orderList/opo'), 2, hooks);
  }

  /** POST /api/v3/orderList/opoco (BUY working, SELL pending pair) with newOrderRespType FULL. Counts as 3 orders. */
  async newOpoco(req: NewOpocoRequest, hooks?: RequestHooks): Promise<OrderListResponse> {
    return this.placeList('opoco', this.parseRequest(NewOpocoRequestSchema, req, 'POST /api/v3/orderList/opoco'), 3, hooks);
  }

  private placeList(kind: 'oto' | 'otoco' | 'opo' | 'opoco', params: Params, orders: number, hooks: RequestHooks | undefined): Promise<OrderListResponse> {
    return this.placeOrders({ path: `/api/v3/orderList/${kind}`, params: { ...params, newOrderRespType: 'FULL' }, orders, schema: OrderListResponseSchema, hooks });
  }

  /** A request that places orders: a signed POST of weight 1 that adds `orders` to the unfilled order count. */
  private placeOrders<S extends z.ZodType>(spec: Omit<CallSpec<S>, 'method' | 'signed' | 'weight' | 'orders'> & { orders: number }): Promise<z.infer<S>> {
    return this.transport.call({ method: 'POST', signed: true, weight: 1, ...spec });
  }

  /** GET /api/v3/orderList. An unknown list is -2013 "Order list does not exist." => 'not_found'. */
  async getOrderList(q: { orderListId?: number; origClientOrderId?: string }, hooks?: RequestHooks): Promise<OrderList> {
    if (q.orderListId === undefined && q.origClientOrderId === undefined) {
      throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'either orderListId or origClientOrderId is required', kind: 'rejected', endpoint: 'GET /api/v3/orderList' });
    }
    return this.transport.call({ method: 'GET', path: '/api/v3/orderList', params: { orderListId: q.orderListId, origClientOrderId: q.origClientOrderId }, signed: true, weight: 4, schema: OrderListSchema, hooks });
  }

  async openOrderLists(): Promise<OrderList[]> {
    return this.transport.call({ method: 'GET', path: '/api/v3/openOrderList', signed: true, weight: 6, schema: z.array(OrderListSchema) });
  }

  /** DELETE /api/v3/orderList. Like cancelOrder, -2011 "Unknown order sent." is 'not_found'. */
  async cancelOrderList(q: { symbol: string; orderListId?: number; listClientOrderId?: string }, hooks?: RequestHooks): Promise<OrderListResponse> {
    if (q.orderListId === undefined && q.listClientOrderId === undefined) {
      throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'either orderListId or listClientOrderId is required', kind: 'rejected', endpoint: 'DELETE /api/v3/orderList' });
    }
    return this.transport.call({
      method: 'DELETE',
      path: '/api/v3/orderList',
      params: { symbol: q.symbol, orderListId: q.orderListId, listClientOrderId: q.listClientOrderId },
      signed: true,
      weight: 1,
      schema: OrderListResponseSchema,
      isCancel: true,
      hooks,
    });
  }

  /**
   * POST /api/v3/order/cancelReplace. A partial or total failure that Binance reports with its
   * documented data (-2021 HTTP 409, -2022 HTTP 400) is returned, not thrown, because the caller
   * must see which half happened: after -2021 a new order may be live. Everything else throws.
   */
  async cancelReplace(req: CancelReplaceRequest, hooks?: RequestHooks): Promise<CancelReplaceResult> {
    const checked = this.parseRequest(CancelReplaceRequestSchema, req, 'POST /api/v3/order/cancelReplace');
    return this.placeOrders({
      path: '/api/v3/order/cancelReplace',
      params: newOrderParams(checked),
      orders: 1,
      schema: CancelReplaceDataSchema,
      hooks,
      acceptError: (_status, body) => {
        const partial = CancelReplaceErrorSchema.safeParse(body);
        return partial.success && (partial.data.code === -2021 || partial.data.code === -2022)
          ? { ...partial.data.data, code: partial.data.code, msg: partial.data.msg }
          : undefined;
      },
    });
  }

  /**
   * PUT /api/v3/order/amend/keepPriority: reduces an open order's quantity in place, keeping its
   * orderId and queue priority. `newQty` is the order's new total quantity (executed part
   * included), below the current one; the exchange applies it against what has really filled.
   * Costs no unfilled order count. Refusals are -2038 (e.g. "Order amend (quantity increase) is
   * not supported.", "Filter failure: MAX_NUM_ORDER_AMENDS", "Unknown order sent.") or -1013
   * (filters): kind 'rejected'. Repeating an amend that landed is refused as "would change no
   * state", so an unknown outcome is settled by reading the order back.
   */
  async amendOrderKeepPriority(req: AmendKeepPriorityRequest, hooks?: RequestHooks): Promise<AmendOrderResponse> {
    const checked = this.parseRequest(AmendKeepPriorityRequestSchema, req, 'PUT /api/v3/order/amend/keepPriority');
    return this.transport.call({
      method: 'PUT',
      path: '/api/v3/order/amend/keepPriority',
      params: { symbol: checked.symbol, orderId: checked.orderId, origClientOrderId: checked.origClientOrderId, newClientOrderId: checked.newClientOrderId, newQty: checked.newQty },
      signed: true,
      weight: 4,
      schema: AmendOrderResponseSchema,
      hooks,
    });
  }

  /** GET /api/v3/order/amendments: one order's amendments, oldest first. Unknown order: -2013 => 'not_found'. */
  async orderAmendments(q: { symbol: string; orderId: number; fromExecutionId?: number; limit?: number }, hooks?: RequestHooks): Promise<OrderAmendment[]> {
    return this.transport.call({
      method: 'GET',
      path: '/api/v3/order/amendments',
      params: { symbol: q.symbol, orderId: q.orderId, fromExecutionId: q.fromExecutionId, limit: q.limit },
      signed: true,
      weight: 4,
      schema: z.array(OrderAmendmentSchema),
      hooks,
    });
  }

  usage(): RateLimitUsage {
    return this.transport.usage();
  }

  /** Current estimate of exchange clock minus local clock. */
  timeOffsetMs(): number {
    return this.transport.timeOffsetMs();
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  // ---- request checks, before anything is sent ----

  private orderRef(q: OrderQuery, endpoint: string): Params {
    if (q.orderId === undefined && q.origClientOrderId === undefined) {
      throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'either orderId or origClientOrderId is required', kind: 'rejected', endpoint });
    }
    return { symbol: q.symbol, orderId: q.orderId, origClientOrderId: q.origClientOrderId };
  }

  private parseRequest<S extends z.ZodType>(schema: S, value: unknown, endpoint: string): z.infer<S> {
    const result = schema.safeParse(value);
    if (!result.success) {
      const msg = result.error.issues.map((issue) => `${issue.path.join('.') || '(request)'}: ${issue.message}`).join('; ');
      throw new BinanceError({ httpStatus: undefined, code: undefined, msg: `invalid request, not sent: ${msg}`, kind: 'rejected', endpoint });
    }
    return result.data as z.infer<S>;
  }
}

/**
 * A new order's signed parameters, in the order they go on the wire; a cancel-replace's cancel
 * fields go in their places (the mode after `type`, the cancel ids before `newClientOrderId`).
 * newOrderRespType is always FULL, so the response carries fills[].
 */
function newOrderParams(r: NewOrderRequest | CancelReplaceRequest): Params {
  const cancel = 'cancelReplaceMode' in r ? r : undefined;
  return {
    symbol: r.symbol,
    side: r.side,
    type: r.type,
    ...(cancel && { cancelReplaceMode: cancel.cancelReplaceMode }),
    timeInForce: r.timeInForce,
    quantity: r.quantity,
    quoteOrderQty: r.quoteOrderQty,
    price: r.price,
    stopPrice: r.stopPrice,
    ...(cancel && { cancelNewClientOrderId: cancel.cancelNewClientOrderId, cancelOrigClientOrderId: cancel.cancelOrigClientOrderId, cancelOrderId: cancel.cancelOrderId }),
    newClientOrderId: r.newClientOrderId,
    selfTradePreventionMode: r.selfTradePreventionMode,
    newOrderRespType: 'FULL',
  };
}

/**
 * Binance Spot REST client. Every endpoint goes through `call()`: budget, sign, send on one
 * keep-alive pool, parse with zod, classify failures into BinanceError.
 */
import { Pool } from 'undici';
import { z } from 'zod';
import type { Logger } from '../logging';
import { BinanceError, classifyHttpError, classifyTransportError, isBinanceError } from './errors';
import { RateBudget, weightWhenSuccessful, type RateLimitUsage } from './rate-limit';
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
  ErrorBodySchema,
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
import { ed25519Signer, encodeParams, hmacSigner, signQuery, type Params, type Signer } from './signing';
import { NewOrderRequestSchema, NewOcoRequestSchema, NewOtoRequestSchema, NewOtocoRequestSchema, NewOpoRequestSchema, NewOpocoRequestSchema, CancelReplaceRequestSchema, AmendKeepPriorityRequestSchema, type NewOrderRequest, type NewOcoRequest, type NewOtoRequest, type NewOtocoRequest, type NewOpoRequest, type NewOpocoRequest, type CancelReplaceRequest, type AmendKeepPriorityRequest, type OrderQuery, type TradeQuery } from './requests';

export interface BinanceClientOptions {
  baseUrl: string;
  apiKey?: string;
  apiSecret?: string;
  ed25519PrivateKeyPem?: string;
  /** ms, default 5000 (Binance's default); at most 60000. */
  recvWindow?: number;
  /** Whole-request timeout in ms, default 10000. */
  timeoutMs?: number;
  logger?: Logger;
  /** How long a cached exchangeInfo is considered fresh, default 5 minutes. */
  exchangeInfoTtlMs?: number;
  /** Keep-alive connections in the pool, default 8. */
  connections?: number;
}

// The request shapes callers import from here, as before they had a module of their own.
export * from './requests';

/**
 * Per-request callbacks for the caller that must know exactly when, and with which timestamp, a
 * request went out (the exactly-once rule measures recvWindow from it; a cancelled activity
 * must not send). They run inside the client's request path, after every wait it imposes.
 */
export interface RequestHooks {
  /** Called right before the request's bytes go out — after every wait for a send slot or rate budget, and before each resend (e.g. after -1021). May throw to abort: nothing is sent then. */
  beforeSend?: () => void;
  /** Called when a signed request went out, with the timestamp signed into it (exchange clock) and the local-clock instant after which the exchange can no longer accept it (timestamp - offset + recvWindow). */
  onSent?: (sent: { timestampMs: number; acceptableUntilLocalMs: number }) => void;
}

interface CallSpec<S extends z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  params?: Params;
  signed: boolean;
  weight: number;
  /** Unfilled-order-count cost (1 for a new order, 2 for an OCO). */
  orders?: number;
  schema: S;
  isCancel?: boolean;
  /** Lets an endpoint turn a documented error body into a result (cancel-replace -2021/-2022). */
  acceptError?: (status: number, body: unknown) => z.infer<S> | undefined;
  hooks?: RequestHooks;
}

const DEFAULT_BAN_MS = 120_000;
/**
 * The smallest retryAfterMs the client ever reports. A BinanceError's retryAfterMs becomes the
 * activity failure's nextRetryDelay, and a zero nextRetryDelay ends Temporal's retries at once
 * (seen on the dev server: RETRY_STATE_TIMEOUT after attempt 1 of 10). A second also gives a
 * clock that just failed a resync (-1021) time to settle before the next attempt resyncs.
 */
const MIN_RETRY_AFTER_MS = 1000;

export class BinanceSpotClient {
  private readonly pool: Pool;
  private readonly pathPrefix: string;
  private readonly signer: Signer | undefined;
  private readonly apiKey: string | undefined;
  private readonly recvWindow: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly exchangeInfoTtlMs: number;
  private readonly budget: RateBudget;
  private offsetMs = 0;
  private synced = false;
  private syncing: Promise<{ offsetMs: number }> | undefined;
  private info: { value: ExchangeInfo; fetchedAt: number } | undefined;
  private infoRefresh: Promise<ExchangeInfo> | undefined;
  private closed = false;
  /** One per pooled connection: requests past these wait here, not in the pool's queue. */
  private readonly sendSlots: Slots;

  constructor(opts: BinanceClientOptions) {
    const url = new URL(opts.baseUrl);
    this.pathPrefix = url.pathname.replace(/\/+$/, '');
    this.sendSlots = new Slots(opts.connections ?? 8);
    this.pool = new Pool(url.origin, {
      connections: opts.connections ?? 8,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      // Never trust a socket for the last second of the server's keep-alive window: a request
      // written to a socket the server is closing fails with an unknown outcome.
      keepAliveTimeoutThreshold: 1_000,
    });
    this.apiKey = opts.apiKey;
    if (opts.ed25519PrivateKeyPem !== undefined) this.signer = ed25519Signer(opts.ed25519PrivateKeyPem);
    else if (opts.apiSecret !== undefined) this.signer = hmacSigner(opts.apiSecret);
    const recvWindow = opts.recvWindow ?? 5000;
    if (!(recvWindow > 0 && recvWindow <= 60_000)) throw new Error(`recvWindow must be in (0, 60000], got ${recvWindow}`);
    this.recvWindow = recvWindow;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.logger = opts.logger;
    this.exchangeInfoTtlMs = opts.exchangeInfoTtlMs ?? 300_000;
    this.budget = new RateBudget({ now: () => Date.now() + this.offsetMs });
  }

  // ---- general ----

  async ping(): Promise<void> {
    await this.call({ method: 'GET', path: '/api/v3/ping', signed: false, weight: 1, schema: EmptySchema });
  }

  async serverTime(): Promise<number> {
    const r = await this.call({ method: 'GET', path: '/api/v3/time', signed: false, weight: 1, schema: ServerTimeSchema });
    return r.serverTime;
  }

  /**
   * Measures the offset between the exchange clock and ours, assuming the server read its clock
   * half way through the round trip. Signed requests add the offset to their timestamp.
   */
  syncTime(): Promise<{ offsetMs: number }> {
    if (this.syncing) return this.syncing;
    this.syncing = (async () => {
      try {
        // t0 is taken when the request really goes out, after any wait for a send slot or
        // rate budget: timed from before that wait, a loaded client over-estimated the round
        // trip and put the offset off by half the wait (1.5 s for a 3 s wait).
        let t0 = Date.now();
        const { serverTime: server } = await this.call({
          method: 'GET',
          path: '/api/v3/time',
          signed: false,
          weight: 1,
          schema: ServerTimeSchema,
          hooks: {
            beforeSend: () => {
              t0 = Date.now();
            },
          },
        });
        const t1 = Date.now();
        this.offsetMs = server - Math.round((t0 + t1) / 2);
        this.synced = true;
        this.logger?.debug({ offsetMs: this.offsetMs, rttMs: t1 - t0 }, 'binance time synced');
        return { offsetMs: this.offsetMs };
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  async exchangeInfo(symbols?: string[]): Promise<ExchangeInfo> {
    const params: Params = {};
    if (symbols !== undefined && symbols.length === 1) params.symbol = symbols[0];
    else if (symbols !== undefined && symbols.length > 1) params.symbols = JSON.stringify(symbols);
    const value = await this.call({ method: 'GET', path: '/api/v3/exchangeInfo', params, signed: false, weight: 20, schema: ExchangeInfoSchema });
    this.budget.setLimits(value.rateLimits);
    if (symbols === undefined || symbols.length === 0 || this.info === undefined) {
      this.info = { value, fetchedAt: Date.now() };
    } else {
      const merged = new Map(this.info.value.symbols.map((s) => [s.symbol, s]));
      for (const s of value.symbols) merged.set(s.symbol, s);
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
    return this.call({ method: 'GET', path: '/api/v3/ticker/price', params: { symbol }, signed: false, weight: 2, schema: TickerPriceSchema });
  }

  // ---- trading ----

  /** Always asks for newOrderRespType=FULL so the response carries fills[]. */
  async newOrder(req: NewOrderRequest, hooks?: RequestHooks): Promise<OrderResponse> {
    const r = this.parseRequest(NewOrderRequestSchema, req, 'POST /api/v3/order');
    return this.call({
      method: 'POST',
      path: '/api/v3/order',
      params: {
        symbol: r.symbol,
        side: r.side,
        type: r.type,
        timeInForce: r.timeInForce,
        quantity: r.quantity,
        quoteOrderQty: r.quoteOrderQty,
        price: r.price,
        stopPrice: r.stopPrice,
        newClientOrderId: r.newClientOrderId,
        selfTradePreventionMode: r.selfTradePreventionMode,
        newOrderRespType: 'FULL',
      },
      signed: true,
      weight: 1,
      orders: 1,
      schema: OrderResponseSchema,
      hooks,
    });
  }

  /** -2013 "Order does not exist." throws BinanceError kind 'not_found'; nothing else does. */
  async getOrder(q: OrderQuery, hooks?: RequestHooks): Promise<Order> {
    return this.call({ method: 'GET', path: '/api/v3/order', params: this.orderRef(q, 'GET /api/v3/order'), signed: true, weight: 4, schema: OrderSchema, hooks });
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
    return this.call({
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
    return this.call({
      method: 'GET',
      path: '/api/v3/openOrders',
      params: { symbol },
      signed: true,
      weight: symbol === undefined ? 80 : 6,
      schema: z.array(OrderSchema),
    });
  }

  async myTrades(q: TradeQuery): Promise<Trade[]> {
    return this.call({
      method: 'GET',
      path: '/api/v3/myTrades',
      params: { symbol: q.symbol, orderId: q.orderId, fromId: q.fromId, startTime: q.startTime, endTime: q.endTime, limit: q.limit },
      signed: true,
      weight: q.orderId === undefined ? 20 : 5,
      schema: z.array(TradeSchema),
    });
  }

  async account(): Promise<Account> {
    return this.call({ method: 'GET', path: '/api/v3/account', signed: true, weight: 20, schema: AccountSchema });
  }

  /** POST /api/v3/order/test: validated by the exchange, never sent to the matching engine. */
  async testOrder(req: NewOrderRequest, opts: { computeCommissionRates?: boolean } = {}): Promise<TestOrderResult> {
    const r = this.parseRequest(NewOrderRequestSchema, req, 'POST /api/v3/order/test');
    return this.call({
      method: 'POST',
      path: '/api/v3/order/test',
      params: { ...r, computeCommissionRates: opts.computeCommissionRates === true ? 'true' : undefined },
      signed: true,
      weight: opts.computeCommissionRates === true ? 20 : 1,
      schema: TestOrderResultSchema,
    });
  }

  async allOrders(q: { symbol: string; orderId?: number; startTime?: number; endTime?: number; limit?: number }): Promise<Order[]> {
    return this.call({
      method: 'GET',
      path: '/api/v3/allOrders',
      params: { symbol: q.symbol, orderId: q.orderId, startTime: q.startTime, endTime: q.endTime, limit: q.limit },
      signed: true,
      weight: 20,
      schema: z.array(OrderSchema),
    });
  }

  async commissionRates(symbol: string): Promise<CommissionRates> {
    return this.call({ method: 'GET', path: '/api/v3/account/commission', params: { symbol }, signed: true, weight: 20, schema: CommissionRatesSchema });
  }

  /** GET /api/v3/rateLimit/order: the account's unfilled order count per interval. */
  async orderCountUsage(): Promise<OrderCount> {
    return this.call({ method: 'GET', path: '/api/v3/rateLimit/order', signed: true, weight: 40, schema: OrderCountSchema });
  }

  /** POST /api/v3/orderList/oco with newOrderRespType FULL. Counts as 2 orders. */
  async newOco(req: NewOcoRequest, hooks?: RequestHooks): Promise<OrderListResponse> {
    const r = this.parseRequest(NewOcoRequestSchema, req, 'POST /api/v3/orderList/oco');
    return this.call({
      method: 'POST',
      path: '/api/v3/orderList/oco',
      params: { ...r, newOrderRespType: 'FULL' },
      signed: true,
      weight: 1,
      orders: 2,
      schema: OrderListResponseSchema,
      hooks,
    });
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
    return this.call({
      method: 'POST',
      path: `/api/v3/orderList/${kind}`,
      params: { ...params, newOrderRespType: 'FULL' },
      signed: true,
      weight: 1,
      orders,
      schema: OrderListResponseSchema,
      hooks,
    });
  }

  /** GET /api/v3/orderList. An unknown list is -2013 "Order list does not exist." => 'not_found'. */
  async getOrderList(q: { orderListId?: number; origClientOrderId?: string }, hooks?: RequestHooks): Promise<OrderList> {
    if (q.orderListId === undefined && q.origClientOrderId === undefined) {
      throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'either orderListId or origClientOrderId is required', kind: 'rejected', endpoint: 'GET /api/v3/orderList' });
    }
    return this.call({ method: 'GET', path: '/api/v3/orderList', params: { orderListId: q.orderListId, origClientOrderId: q.origClientOrderId }, signed: true, weight: 4, schema: OrderListSchema, hooks });
  }

  async openOrderLists(): Promise<OrderList[]> {
    return this.call({ method: 'GET', path: '/api/v3/openOrderList', signed: true, weight: 6, schema: z.array(OrderListSchema) });
  }

  /** DELETE /api/v3/orderList. Like cancelOrder, -2011 "Unknown order sent." is 'not_found'. */
  async cancelOrderList(q: { symbol: string; orderListId?: number; listClientOrderId?: string }, hooks?: RequestHooks): Promise<OrderListResponse> {
    if (q.orderListId === undefined && q.listClientOrderId === undefined) {
      throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'either orderListId or listClientOrderId is required', kind: 'rejected', endpoint: 'DELETE /api/v3/orderList' });
    }
    return this.call({
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
    const r = this.parseRequest(CancelReplaceRequestSchema, req, 'POST /api/v3/order/cancelReplace');
    return this.call({
      method: 'POST',
      path: '/api/v3/order/cancelReplace',
      params: {
        symbol: r.symbol,
        side: r.side,
        type: r.type,
        cancelReplaceMode: r.cancelReplaceMode,
        timeInForce: r.timeInForce,
        quantity: r.quantity,
        quoteOrderQty: r.quoteOrderQty,
        price: r.price,
        stopPrice: r.stopPrice,
        cancelNewClientOrderId: r.cancelNewClientOrderId,
        cancelOrigClientOrderId: r.cancelOrigClientOrderId,
        cancelOrderId: r.cancelOrderId,
        newClientOrderId: r.newClientOrderId,
        selfTradePreventionMode: r.selfTradePreventionMode,
        newOrderRespType: 'FULL',
      },
      signed: true,
      weight: 1,
      orders: 1,
      schema: CancelReplaceDataSchema,
      hooks,
      acceptError: (_status, body) => {
        const e = CancelReplaceErrorSchema.safeParse(body);
        return e.success && (e.data.code === -2021 || e.data.code === -2022) ? { ...e.data.data, code: e.data.code, msg: e.data.msg } : undefined;
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
    const r = this.parseRequest(AmendKeepPriorityRequestSchema, req, 'PUT /api/v3/order/amend/keepPriority');
    return this.call({
      method: 'PUT',
      path: '/api/v3/order/amend/keepPriority',
      params: { symbol: r.symbol, orderId: r.orderId, origClientOrderId: r.origClientOrderId, newClientOrderId: r.newClientOrderId, newQty: r.newQty },
      signed: true,
      weight: 4,
      schema: AmendOrderResponseSchema,
      hooks,
    });
  }

  /** GET /api/v3/order/amendments: one order's amendments, oldest first. Unknown order: -2013 => 'not_found'. */
  async orderAmendments(q: { symbol: string; orderId: number; fromExecutionId?: number; limit?: number }, hooks?: RequestHooks): Promise<OrderAmendment[]> {
    return this.call({
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
    return this.budget.usage();
  }

  /** Current estimate of exchange clock minus local clock. */
  timeOffsetMs(): number {
    return this.offsetMs;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.close();
  }

  // ---- the one request path ----

  private orderRef(q: OrderQuery, endpoint: string): Params {
    if (q.orderId === undefined && q.origClientOrderId === undefined) {
      throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'either orderId or origClientOrderId is required', kind: 'rejected', endpoint });
    }
    return { symbol: q.symbol, orderId: q.orderId, origClientOrderId: q.origClientOrderId };
  }

  private parseRequest<S extends z.ZodType>(schema: S, value: unknown, endpoint: string): z.infer<S> {
    const r = schema.safeParse(value);
    if (!r.success) {
      const msg = r.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ');
      throw new BinanceError({ httpStatus: undefined, code: undefined, msg: `invalid request, not sent: ${msg}`, kind: 'rejected', endpoint });
    }
    return r.data as z.infer<S>;
  }

  private async call<S extends z.ZodType>(spec: CallSpec<S>): Promise<z.infer<S>> {
    if (spec.signed && !this.synced) await this.syncTime();
    try {
      return await this.attempt(spec);
    } catch (e) {
      // -1021: our clock (or our offset) drifted. Re-measure once and try again; the request
      // was rejected before reaching the matching engine, so resending cannot duplicate it.
      if (spec.signed && isBinanceError(e) && e.code === -1021) {
        this.logger?.warn({ endpoint: e.endpoint, msg: e.msg }, 'binance -1021, resyncing time and retrying once');
        await this.syncTime();
        return this.attempt(spec);
      }
      throw e;
    }
  }

  private async attempt<S extends z.ZodType>(spec: CallSpec<S>): Promise<z.infer<S>> {
    const endpoint = `${spec.method} ${spec.path}`;
    if (this.closed) throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'client is closed', kind: 'retry_later', endpoint });
    this.refuseIfBanned(endpoint);
    const headers: Record<string, string> = {};
    if (spec.signed) {
      if (this.apiKey === undefined || this.signer === undefined) {
        throw new BinanceError({ httpStatus: undefined, code: undefined, msg: 'apiKey and a secret or private key are required for signed endpoints', kind: 'rejected', endpoint });
      }
      headers['X-MBX-APIKEY'] = this.apiKey;
    }
    // Reserve budget only once a connection is ours, so a request is counted in the window it
    // is sent in: reserved earlier, it could sit in the pool's queue past a window edge and land
    // in the next window on top of that window's own allowance (seen as 429s under bursts).
    await this.sendSlots.take();
    try {
      for (;;) {
        const waitUntil = this.budget.tryReserve(spec.weight, spec.orders ?? 0, spec.method === 'GET' ? 'read' : 'trade');
        if (waitUntil === 0) break;
        // Wait without holding a slot: requests another limit still admits go ahead meanwhile.
        this.sendSlots.release();
        await this.budget.sleepUntil(waitUntil);
        await this.sendSlots.take();
      }
      // The wait above may have spanned a ban that another request earned meanwhile.
      this.refuseIfBanned(endpoint);
      return await this.send(spec, endpoint, headers);
    } finally {
      this.sendSlots.release();
    }
  }

  private async send<S extends z.ZodType>(spec: CallSpec<S>, endpoint: string, headers: Record<string, string>): Promise<z.infer<S>> {
    // Every wait (send slot, rate budget, ban check) is behind us and nothing below awaits
    // before the request is handed to the socket: this is the last moment to refuse to send.
    spec.hooks?.beforeSend?.();
    let query = encodeParams(spec.params ?? {});
    let signed: { timestampMs: number; acceptableUntilLocalMs: number } | undefined;
    if (spec.signed && this.signer) {
      const localNow = Date.now();
      const timestampMs = localNow + this.offsetMs;
      signed = { timestampMs, acceptableUntilLocalMs: localNow + this.recvWindow };
      const auth = encodeParams({ recvWindow: this.recvWindow, timestamp: timestampMs });
      query = signQuery(query === '' ? auth : `${query}&${auth}`, this.signer);
    }
    const path = `${this.pathPrefix}${spec.path}${query === '' ? '' : `?${query}`}`;

    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const sentAt = Date.now() + this.offsetMs;
    let status: number;
    let text: string;
    let resHeaders: Record<string, string | string[] | undefined>;
    try {
      const pending = this.pool.request({ method: spec.method, path, headers, signal: controller.signal });
      if (signed !== undefined) this.reportSent(spec.hooks, signed, endpoint);
      const res = await pending;
      status = res.statusCode;
      resHeaders = res.headers;
      text = await res.body.text();
    } catch (e) {
      const err = classifyTransportError(e, endpoint, timedOut);
      this.logger?.warn({ endpoint, kind: err.kind, err: err.msg }, 'binance request failed without a response');
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.budget.observeHeaders(resHeaders, sentAt);

    if (status >= 200 && status < 300) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const parsed = spec.schema.safeParse(json);
      if (parsed.success) {
        // A successful order request costs no weight since 2026-04-02 (rate-limit.ts).
        this.budget.refundWeight(spec.weight - weightWhenSuccessful(endpoint, spec.weight, parsed.data), sentAt);
        return parsed.data as z.infer<S>;
      }
      // The request succeeded on the exchange but we cannot read what it did: for an order
      // that is exactly an unknown outcome.
      const msg = `unreadable ${status} response: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`;
      this.logger?.error({ endpoint, body: text.slice(0, 500) }, 'binance response failed schema validation');
      throw new BinanceError({ httpStatus: status, code: undefined, msg, kind: 'unknown_outcome', endpoint });
    }
    if (spec.acceptError) {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const accepted = spec.acceptError(status, body);
      if (accepted !== undefined) return accepted;
    }
    throw this.httpError(status, text, resHeaders, endpoint, spec.isCancel === true);
  }

  /** onSent is an observer: the request is on its way whatever it does, so its errors stay its own. */
  private reportSent(hooks: RequestHooks | undefined, sent: { timestampMs: number; acceptableUntilLocalMs: number }, endpoint: string): void {
    try {
      hooks?.onSent?.(sent);
    } catch (e) {
      this.logger?.warn({ endpoint, err: e instanceof Error ? e.message : String(e) }, 'onSent hook failed (ignored)');
    }
  }

  private refuseIfBanned(endpoint: string): void {
    const until = this.budget.bannedUntil;
    if (until === undefined) return;
    const left = until - Date.now();
    if (left <= 0) {
      this.budget.bannedUntil = undefined;
      return;
    }
    throw new BinanceError({
      httpStatus: undefined,
      code: undefined,
      msg: `IP banned by Binance (HTTP 418); not sending for another ${left} ms`,
      kind: 'banned',
      endpoint,
      retryAfterMs: left,
    });
  }

  private httpError(status: number, text: string, headers: Record<string, string | string[] | undefined>, endpoint: string, isCancel: boolean): BinanceError {
    let code: number | undefined;
    let msg = text.slice(0, 300) || `HTTP ${status}`;
    try {
      const body = ErrorBodySchema.safeParse(JSON.parse(text));
      if (body.success) {
        code = body.data.code;
        msg = body.data.msg;
      }
    } catch {
      // not JSON (a proxy or WAF page); keep the text
    }
    const kind = classifyHttpError({ httpStatus: status, code, msg, isCancel });
    const retryAfterRaw = headers['retry-after'];
    const retryAfterSec = Number(Array.isArray(retryAfterRaw) ? retryAfterRaw[0] : retryAfterRaw);
    // "Retry-After: 0" is floored too: see MIN_RETRY_AFTER_MS.
    let retryAfterMs = Number.isFinite(retryAfterSec) && retryAfterSec >= 0 ? Math.max(MIN_RETRY_AFTER_MS, retryAfterSec * 1000) : undefined;
    if (kind === 'banned') {
      retryAfterMs ??= DEFAULT_BAN_MS;
      this.budget.bannedUntil = Date.now() + retryAfterMs;
      this.logger?.error({ endpoint, retryAfterMs, msg }, 'binance banned this IP (418); refusing to send until it passes');
    } else if (kind === 'retry_later' && retryAfterMs === undefined) {
      // Including -1021 after the one resync: never 0, which Temporal reads as "stop retrying".
      retryAfterMs = MIN_RETRY_AFTER_MS;
    }
    if (status === 429) {
      // Back off every request, not just this one: more requests now are what earns a 418.
      this.budget.pauseUntil(Date.now() + this.offsetMs + (retryAfterMs ?? 1000));
      this.logger?.warn({ endpoint, retryAfterMs, code, msg }, 'binance 429; pausing requests');
    }
    return new BinanceError({ httpStatus: status, code, msg, kind, endpoint, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  }
}

/** A counting semaphore, first come first served. */
class Slots {
  private readonly waiting: Array<() => void> = [];
  constructor(private free: number) {}

  take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}


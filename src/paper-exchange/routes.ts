/**
 * The REST endpoints: same paths, parameters, weights, JSON and error codes as Binance Spot.
 */
import { dec } from '../shared/decimal';
import { isOpen, type Account, type Engine, type InternalOrder, type InternalTrade } from './engine';
import { amendedOrderJson, amendListStatusJson, amendmentJson, cancelJson, listStatusJson, orderAckJson, orderFullJson, orderQueryJson, orderResultJson, tradeJson } from './format';
import type { Limiter } from './limits';
import { addOtoRoutes } from './oto-routes';
import { fmt8, symbolInfoJson } from './market';
import { addMarketDataRoutes } from './market-data-routes';
import { pageFrom } from './market-data';
import { generatedClientId, parseNewOrder, parseOco } from './order-params';
import { knownSymbol, symbolsParam, type Params } from './params';
import type { RateLimit } from '../exchange/schemas';
import { ApiError, badRequest, clientOrderIdInvalid, mandatory, MSG } from './wire';

export type Security = 'NONE' | 'TRADE' | 'USER_DATA';

export interface Ctx {
  params: Params;
  account: Account | undefined;
  now: number;
  engine: Engine;
  limiter: Limiter;
  rateLimits: RateLimit[];
}

export interface Route {
  security: Security;
  weight: (p: Params) => number;
  /** Unfilled order count this request adds (new orders). */
  orders?: number;
  /**
   * Served by the matching engine ("Data Source: Matching Engine"): Binance checks recvWindow a
   * third time just before handing the request over (see checkRecvWindowAtMatching).
   */
  matchingEngine?: boolean;
  handler: (ctx: Ctx) => unknown;
}

function acct(ctx: Ctx): Account {
  if (!ctx.account) throw new Error('signed route without an account');
  return ctx.account;
}

/** A new order's response in the newOrderRespType asked for (FULL lists the fills). */
function orderReport(o: InternalOrder, respType: 'ACK' | 'RESULT' | 'FULL', now: number, fills: InternalTrade[] = []): Record<string, unknown> {
  if (respType === 'ACK') return orderAckJson(o, now);
  if (respType === 'RESULT') return orderResultJson(o, now);
  return orderFullJson(o, now, fills);
}

/** An order or list named by its id or its client id: one of the two must be sent (-1102). */
function idOrClientId(p: Params, idParam: string, clientIdParam: string): { id: number | undefined; clientId: string | undefined } {
  const id = p.int(idParam);
  const clientId = p.str(clientIdParam);
  if (id === undefined && clientId === undefined) {
    throw badRequest(-1102, `Param '${clientIdParam}' or '${idParam}' must be sent, but both were empty/null!`);
  }
  return { id, clientId };
}

function orderRef(p: Params): { symbol: string; orderId: number | undefined; origClientOrderId: string | undefined } {
  const symbol = p.required('symbol');
  const { id: orderId, clientId: origClientOrderId } = idOrClientId(p, 'orderId', 'origClientOrderId');
  return { symbol, orderId, origClientOrderId };
}


export function buildRoutes(): Map<string, Route> {
  const r = new Map<string, Route>();
  const add = (method: string, path: string, route: Route): void => {
    r.set(`${method} ${path}`, route);
  };

  add('GET', '/api/v3/ping', { security: 'NONE', weight: () => 1, handler: () => ({}) });
  add('GET', '/api/v3/time', { security: 'NONE', weight: () => 1, handler: (c) => ({ serverTime: c.now }) });

  add('GET', '/api/v3/exchangeInfo', {
    security: 'NONE',
    weight: () => 20,
    handler: (c) => {
      const wanted = symbolsParam(c.params);
      const defs = wanted === undefined ? [...c.engine.symbols.values()] : wanted.map((s) => c.engine.symbolDef(s));
      return {
        timezone: 'UTC',
        serverTime: c.now,
        rateLimits: c.rateLimits,
        exchangeFilters: [{ filterType: 'EXCHANGE_MAX_NUM_ORDERS', maxNumOrders: c.engine.maxOpenOrdersPerAccount }],
        symbols: defs.map(symbolInfoJson),
      };
    },
  });

  add('GET', '/api/v3/ticker/price', {
    security: 'NONE',
    weight: (p) => (p.has('symbol') ? 2 : 4),
    handler: (c) => {
      const wanted = symbolsParam(c.params);
      const one = c.params.str('symbol');
      const list = (wanted ?? [...c.engine.symbols.keys()]).map((s) => ({ symbol: s, price: fmt8(c.engine.lastPrice(s)) }));
      return one !== undefined ? list[0] : list;
    },
  });

  add('POST', '/api/v3/order', {
    security: 'TRADE',
    matchingEngine: true,
    weight: () => 1,
    orders: 1,
    handler: (c) => {
      const req = parseNewOrder(c.params, c.engine);
      const { order, fills } = c.engine.place(acct(c).apiKey, req);
      return orderReport(order, req.respType, c.now, fills);
    },
  });

  add('POST', '/api/v3/order/test', {
    security: 'TRADE',
    weight: (p) => (p.bool('computeCommissionRates') === true ? 20 : 1),
    handler: (c) => {
      const req = parseNewOrder(c.params, c.engine);
      c.engine.place(acct(c).apiKey, req, true);
      if (c.params.bool('computeCommissionRates') !== true) return {};
      const rate = fmt8(acct(c).commission);
      return {
        standardCommissionForOrder: { maker: rate, taker: rate },
        specialCommissionForOrder: { maker: fmt8(dec(0)), taker: fmt8(dec(0)) },
        taxCommissionForOrder: { maker: fmt8(dec(0)), taker: fmt8(dec(0)) },
        discount: { enabledForAccount: acct(c).config.payFeesInBnb === true, enabledForSymbol: true, discountAsset: 'BNB', discount: '0.25000000' },
      };
    },
  });

  add('GET', '/api/v3/order', {
    security: 'USER_DATA',
    weight: () => 4,
    handler: (c) => {
      const ref = orderRef(c.params);
      const o = c.engine.findOrder(acct(c).apiKey, ref.symbol, ref.orderId, ref.origClientOrderId);
      if (!o) {
        // Since 2025-04-08: an orderId whose order has another client id is -2039, not "does not exist".
        if (ref.orderId !== undefined && ref.origClientOrderId !== undefined && c.engine.findOrder(acct(c).apiKey, ref.symbol, ref.orderId, undefined)) throw clientOrderIdInvalid();
        throw badRequest(-2013, MSG.orderDoesNotExist);
      }
      return orderQueryJson(o);
    },
  });

  add('DELETE', '/api/v3/order', {
    security: 'TRADE',
    matchingEngine: true,
    weight: () => 1,
    handler: (c) => {
      const ref = orderRef(c.params);
      const cancelId = c.params.clientId('newClientOrderId') ?? generatedClientId();
      const o = c.engine.cancel(acct(c).apiKey, ref.symbol, ref.orderId, ref.origClientOrderId, cancelId);
      return cancelJson(o, cancelId, c.now);
    },
  });

  add('GET', '/api/v3/openOrders', {
    security: 'USER_DATA',
    weight: (p) => (p.has('symbol') ? 6 : 80),
    handler: (c) => {
      const symbol = c.params.str('symbol');
      if (symbol !== undefined) c.engine.symbolDef(symbol);
      return c.engine
        .ordersOf(symbol)
        .filter((o) => o.account === acct(c).apiKey && isOpen(o))
        .map(orderQueryJson);
    },
  });

  add('DELETE', '/api/v3/openOrders', {
    security: 'TRADE',
    matchingEngine: true,
    weight: () => 1,
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      const open = c.engine.ordersOf(symbol).filter((o) => o.account === acct(c).apiKey && isOpen(o) && o.orderListId === -1);
      return open.map((o) => {
        const id = generatedClientId();
        c.engine.finish(o, 'CANCELED', c.now, undefined, id);
        return cancelJson(o, id, c.now);
      });
    },
  });

  add('GET', '/api/v3/allOrders', {
    security: 'USER_DATA',
    weight: () => 20,
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      const fromId = c.params.int('orderId');
      const start = c.params.timeMs('startTime');
      const end = c.params.timeMs('endTime');
      const limit = Math.min(c.params.int('limit') ?? 500, 1000);
      const list = c.engine.ordersOf(symbol).filter((o) => o.account === acct(c).apiKey);
      return pageFrom(list, (o) => o.orderId, fromId, start, end, limit).map(orderQueryJson);
    },
  });

  add('GET', '/api/v3/myTrades', {
    security: 'USER_DATA',
    weight: (p) => (p.has('orderId') ? 5 : 20),
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      const orderId = c.params.int('orderId');
      const fromId = c.params.int('fromId');
      const start = c.params.timeMs('startTime');
      const end = c.params.timeMs('endTime');
      const limit = Math.min(c.params.int('limit') ?? 500, 1000);
      let list = c.engine.tradesOf(symbol).filter((t) => t.account === acct(c).apiKey);
      if (orderId !== undefined) list = list.filter((t) => t.orderId === orderId);
      return pageFrom(list, (t) => t.id, fromId, start, end, limit).map(tradeJson);
    },
  });

  add('GET', '/api/v3/account', {
    security: 'USER_DATA',
    weight: () => 20,
    handler: (c) => {
      const a = acct(c);
      const omitZero = c.params.bool('omitZeroBalances') === true;
      const bps = a.commission.mul(10000).toNumber();
      const rate = fmt8(a.commission);
      const balances = [...a.balances.entries()]
        .filter(([, b]) => !omitZero || !b.free.plus(b.locked).isZero())
        .map(([asset, b]) => ({ asset, free: fmt8(b.free), locked: fmt8(b.locked) }));
      return {
        makerCommission: bps,
        takerCommission: bps,
        buyerCommission: 0,
        sellerCommission: 0,
        commissionRates: { maker: rate, taker: rate, buyer: '0.00000000', seller: '0.00000000' },
        canTrade: a.canTrade,
        canWithdraw: false,
        canDeposit: false,
        brokered: false,
        requireSelfTradePrevention: false,
        preventSor: false,
        updateTime: a.updateTime,
        accountType: 'SPOT',
        balances,
        permissions: ['SPOT'],
        uid: a.uid,
      };
    },
  });

  add('GET', '/api/v3/account/commission', {
    security: 'USER_DATA',
    weight: () => 20,
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      const a = acct(c);
      const rate = fmt8(a.commission);
      const zero = '0.00000000';
      return {
        symbol,
        standardCommission: { maker: rate, taker: rate, buyer: zero, seller: zero },
        specialCommission: { maker: zero, taker: zero, buyer: zero, seller: zero },
        taxCommission: { maker: zero, taker: zero, buyer: zero, seller: zero },
        discount: { enabledForAccount: a.config.payFeesInBnb === true, enabledForSymbol: true, discountAsset: 'BNB', discount: '0.25000000' },
      };
    },
  });

  add('GET', '/api/v3/rateLimit/order', {
    security: 'USER_DATA',
    weight: () => 40,
    handler: (c) => c.limiter.orderCounts(acct(c).apiKey, c.now),
  });

  add('POST', '/api/v3/orderList/oco', {
    security: 'TRADE',
    matchingEngine: true,
    weight: () => 1,
    orders: 2,
    handler: (c) => {
      const req = parseOco(c.params, c.engine);
      const { list, legs } = c.engine.placeOco(acct(c).apiKey, req);
      return { ...listStatusJson(list, legs), orderReports: legs.map((o) => orderReport(o, req.respType === 'ACK' ? 'RESULT' : req.respType, c.now)) };
    },
  });

  addOtoRoutes(add, acct);

  add('GET', '/api/v3/orderList', {
    security: 'USER_DATA',
    weight: () => 4,
    handler: (c) => {
      const { id, clientId } = idOrClientId(c.params, 'orderListId', 'origClientOrderId');
      const list = c.engine.findList(acct(c).apiKey, id, clientId);
      if (!list) throw badRequest(-2013, MSG.orderListDoesNotExist);
      return listStatusJson(list, c.engine.listLegs(list));
    },
  });

  add('GET', '/api/v3/openOrderList', {
    security: 'USER_DATA',
    weight: () => 6,
    handler: (c) =>
      [...c.engine.lists.values()]
        .filter((l) => l.account === acct(c).apiKey && l.listOrderStatus === 'EXECUTING')
        .map((l) => listStatusJson(l, c.engine.listLegs(l))),
  });

  add('DELETE', '/api/v3/orderList', {
    security: 'TRADE',
    matchingEngine: true,
    weight: () => 1,
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      const { id, clientId } = idOrClientId(c.params, 'orderListId', 'listClientOrderId');
      const list = c.engine.findList(acct(c).apiKey, id, clientId);
      if (!list || list.symbol !== symbol || list.listOrderStatus !== 'EXECUTING') throw badRequest(-2011, MSG.unknownOrderSent);
      const cancelId = c.params.clientId('newClientOrderId') ?? generatedClientId();
      c.engine.cancelList(list.orderListId, c.now, cancelId);
      const legs = c.engine.listLegs(list);
      return { ...listStatusJson(list, legs), orderReports: legs.map((o) => cancelJson(o, cancelId, c.now)) };
    },
  });

  add('POST', '/api/v3/order/cancelReplace', {
    security: 'TRADE',
    matchingEngine: true,
    weight: () => 1,
    orders: 1,
    handler: (c) => {
      const mode = c.params.enumOf('cancelReplaceMode', ['STOP_ON_FAILURE', 'ALLOW_FAILURE'] as const, -1100, "Illegal characters found in parameter 'cancelReplaceMode'; legal range is 'STOP_ON_FAILURE, ALLOW_FAILURE'.");
      if (!mode) throw mandatory('cancelReplaceMode');
      const { id: cancelOrderId, clientId: cancelOrigClientOrderId } = idOrClientId(c.params, 'cancelOrderId', 'cancelOrigClientOrderId');
      const cancelId = c.params.clientId('cancelNewClientOrderId') ?? generatedClientId();
      const req = parseNewOrder(c.params, c.engine);
      const apiKey = acct(c).apiKey;
      // Filters are evaluated before anything is cancelled (Binance: "Filters and Order Count are
      // evaluated before the processing of the cancellation and order placement occurs").
      try {
        c.engine.place(apiKey, req, true);
      } catch (e) {
        if (e instanceof ApiError && e.code === -1013) throw e;
      }
      const errJson = (e: unknown): { code: number; msg: string } => {
        if (e instanceof ApiError) return { code: e.code, msg: e.msg };
        throw e;
      };
      let cancelResponse: Record<string, unknown> | { code: number; msg: string };
      let cancelOk = true;
      try {
        const o = c.engine.cancel(apiKey, req.symbol, cancelOrderId, cancelOrigClientOrderId, cancelId);
        cancelResponse = cancelJson(o, cancelId, c.now);
      } catch (e) {
        cancelOk = false;
        cancelResponse = errJson(e);
      }
      if (!cancelOk && mode === 'STOP_ON_FAILURE') {
        throw new CancelReplaceError(400, -2022, 'Order cancel-replace failed.', { cancelResult: 'FAILURE', newOrderResult: 'NOT_ATTEMPTED', cancelResponse, newOrderResponse: null });
      }
      let newOrderResponse: Record<string, unknown> | { code: number; msg: string };
      let newOk = true;
      try {
        const { order, fills } = c.engine.place(apiKey, req);
        newOrderResponse = orderReport(order, req.respType, c.now, fills);
      } catch (e) {
        newOk = false;
        newOrderResponse = errJson(e);
      }
      const data = { cancelResult: cancelOk ? 'SUCCESS' : 'FAILURE', newOrderResult: newOk ? 'SUCCESS' : 'FAILURE', cancelResponse, newOrderResponse };
      if (cancelOk && newOk) return data;
      if (!cancelOk && !newOk) throw new CancelReplaceError(400, -2022, 'Order cancel-replace failed.', data);
      throw new CancelReplaceError(409, -2021, 'Order cancel-replace partially failed.', data);
    },
  });

  add('PUT', '/api/v3/order/amend/keepPriority', {
    security: 'TRADE',
    weight: () => 4,
    matchingEngine: true,
    handler: (c) => {
      const ref = orderRef(c.params);
      const newQty = c.params.decimal('newQty', 8);
      if (!newQty) throw mandatory('newQty');
      const newClientOrderId = c.params.clientId('newClientOrderId') ?? generatedClientId();
      const r = c.engine.amend(acct(c).apiKey, { ...ref, newClientOrderId, newQty });
      return {
        transactTime: r.transactTime,
        executionId: r.executionId,
        amendedOrder: amendedOrderJson(r.order, r.origClientOrderId),
        ...(r.list ? { listStatus: amendListStatusJson(r.list, r.legs) } : {}),
      };
    },
  });

  add('GET', '/api/v3/order/amendments', {
    security: 'USER_DATA',
    weight: () => 4,
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      const orderId = c.params.int('orderId');
      if (orderId === undefined) throw mandatory('orderId');
      const fromExecutionId = c.params.int('fromExecutionId');
      const limit = Math.min(c.params.int('limit') ?? 500, 1000);
      const list = c.engine.amendmentsOf(acct(c).apiKey, symbol, orderId);
      if (!list) throw badRequest(-2013, MSG.orderDoesNotExist);
      return list
        .filter((a) => fromExecutionId === undefined || a.executionId >= fromExecutionId)
        .slice(0, limit)
        .map(amendmentJson);
    },
  });

  addMarketDataRoutes(add, acct);

  return r;
}

/** -2021/-2022 carry a `data` object next to code and msg. */
export class CancelReplaceError extends ApiError {
  constructor(status: number, code: number, msg: string, readonly data: unknown) {
    super(status, code, msg);
  }
  override body(): string {
    return JSON.stringify({ code: this.code, msg: this.msg, data: this.data });
  }
}

/**
 * Binance's own connector, @binance/spot (pinned, used unchanged), against the paper exchange
 * over loopback HTTP and WebSocket: the proof that the paper exchange speaks Binance Spot's wire
 * protocol (paths, parameters, JSON, error codes, HMAC signing, timestamps, headers) and not only
 * our own client's dialect of it.
 *
 * The library is configured with retries: 0 so that a failing request fails the test instead of
 * being retried into a pass, and every result is also checked on the exchange side.
 */
import { BadRequestError, Spot, SpotRestAPI, TimeUnit, UnauthorizedError } from '@binance/spot';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { awayFromMinuteEdge, stillInMinute } from './minute-window';

let seq = 0;
const cid = (): string => `tp-${process.pid}-${++seq}`;

const BUY = SpotRestAPI.NewOrderSideEnum.BUY;
const MARKET = SpotRestAPI.NewOrderTypeEnum.MARKET;

function restClient(ex: PaperExchange, extra: Partial<{ apiSecret: string; apiKey: string; timeUnit: TimeUnit }> = {}): Spot {
  return new Spot({
    configurationRestAPI: { apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, basePath: ex.url, retries: 0, timeout: 5000, ...extra },
  });
}

/** Resolves when `pred` holds; fails after `ms` (a wait bound, not a timing assertion). */
async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('@binance/spot (official connector, unchanged) against the paper exchange', () => {
  let ex: PaperExchange;
  let client: Spot;

  beforeEach(async () => {
    ex = await startPaperExchange({ port: 0, priceStepMs: 0 });
    ex.setPrice('BTCUSDT', '50000.00');
    client = restClient(ex);
  });
  afterEach(async () => {
    await ex.close();
  });

  test('ping, server time, exchangeInfo with BTCUSDT filters, weight headers parsed', async () => {
    const minute = await awayFromMinuteEdge();
    const ping = await client.restAPI.ping();
    expect(ping.status).toBe(200);
    expect(await ping.data()).toEqual({});

    const time = await (await client.restAPI.time()).data();
    expect(typeof time.serverTime).toBe('number');
    expect(Math.abs(Number(time.serverTime) - Date.now())).toBeLessThan(60_000);

    const res = await client.restAPI.exchangeInfo({ symbol: 'BTCUSDT' });
    stillInMinute(minute);
    // X-MBX-USED-WEIGHT-1M as the library reads it: ping 1 + time 1 + exchangeInfo 20.
    expect(res.rateLimits).toEqual([{ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, count: 22 }]);
    const info = await res.data();
    expect(info.timezone).toBe('UTC');
    expect(info.rateLimits).toContainEqual({ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 });
    expect(info.symbols?.map((s) => s.symbol)).toEqual(['BTCUSDT']);
    const btc = info.symbols![0]!;
    expect(btc).toMatchObject({ symbol: 'BTCUSDT', status: 'TRADING', baseAsset: 'BTC', quoteAsset: 'USDT', baseAssetPrecision: 8, quoteAssetPrecision: 8 });
    expect(btc.orderTypes).toEqual(expect.arrayContaining(['LIMIT', 'MARKET']));
    const filters = new Map((btc.filters ?? []).map((f) => [f.filterType, f]));
    expect(filters.get('PRICE_FILTER')).toEqual({ filterType: 'PRICE_FILTER', minPrice: '0.01000000', maxPrice: '1000000.00000000', tickSize: '0.01000000' });
    expect(filters.get('LOT_SIZE')).toEqual({ filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '9000.00000000', stepSize: '0.00001000' });
    expect(filters.get('NOTIONAL')).toMatchObject({ filterType: 'NOTIONAL', minNotional: '5.00000000', applyMinToMarket: true });

    // The `symbols` array parameter, JSON-encoded by the library.
    const two = await (await client.restAPI.exchangeInfo({ symbols: ['ETHBTC', 'BTCUSDT'] })).data();
    expect(two.symbols?.map((s) => s.symbol)).toEqual(['ETHBTC', 'BTCUSDT']);
  });

  test('account, MARKET BUY (FULL, fills), query by origClientOrderId, resting LIMIT, openOrders, cancel, myTrades', async () => {
    const rest = client.restAPI;
    const account = await (await rest.getAccount()).data();
    expect(account).toMatchObject({ canTrade: true, accountType: 'SPOT' });
    const usdtBefore = account.balances?.find((b) => b.asset === 'USDT');
    const btcBefore = account.balances?.find((b) => b.asset === 'BTC');
    expect(usdtBefore).toEqual({ asset: 'USDT', free: ex.balances()['USDT']!.free, locked: '0.00000000' });
    expect(btcBefore).toBeDefined();

    // The BUY fills at the best ask, a few ticks above the 50000 set (the book has a spread).
    const { askPrice } = await (await rest.tickerBookTicker({ symbol: 'BTCUSDT' })).data() as { askPrice: string };
    const cost = Number(askPrice) * 0.01;
    const buyId = cid();
    const placed = await rest.newOrder({ symbol: 'BTCUSDT', side: BUY, type: MARKET, quantity: 0.01, newClientOrderId: buyId, newOrderRespType: SpotRestAPI.NewOrderNewOrderRespTypeEnum.FULL });
    // X-MBX-ORDER-COUNT-* headers as the library reads them.
    expect(placed.rateLimits).toEqual(
      expect.arrayContaining([
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, count: 1 },
        { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, count: 1 },
      ]),
    );
    const buy = await placed.data();
    expect(buy).toMatchObject({
      symbol: 'BTCUSDT',
      clientOrderId: buyId,
      orderListId: -1,
      status: 'FILLED',
      type: 'MARKET',
      side: 'BUY',
      origQty: '0.01000000',
      executedQty: '0.01000000',
      cummulativeQuoteQty: cost.toFixed(8),
      transactTime: expect.any(Number),
    });
    expect(buy.fills).toEqual([{ price: askPrice, qty: '0.01000000', commission: '0.00001000', commissionAsset: 'BTC', tradeId: expect.any(Number) }]);
    expect(ex.findOrder('BTCUSDT', buyId)).toMatchObject({ orderId: buy.orderId, status: 'FILLED' });

    const queried = await (await rest.getOrder({ symbol: 'BTCUSDT', origClientOrderId: buyId })).data();
    expect(queried).toMatchObject({ symbol: 'BTCUSDT', orderId: buy.orderId, clientOrderId: buyId, status: 'FILLED', executedQty: '0.01000000' });

    const after = (await (await rest.getAccount()).data()).balances!;
    expect(after.find((b) => b.asset === 'USDT')!.free).toBe((Number(usdtBefore!.free) - cost).toFixed(8));
    expect(after.find((b) => b.asset === 'BTC')!.free).toBe((Number(btcBefore!.free) + 0.01 - 0.00001).toFixed(8));

    const limitId = cid();
    const limit = await (
      await rest.newOrder({
        symbol: 'BTCUSDT',
        side: BUY,
        type: SpotRestAPI.NewOrderTypeEnum.LIMIT,
        timeInForce: SpotRestAPI.NewOrderTimeInForceEnum.GTC,
        quantity: 0.002,
        price: 40000,
        newClientOrderId: limitId,
      })
    ).data();
    expect(limit).toMatchObject({ clientOrderId: limitId, status: 'NEW', timeInForce: 'GTC', price: '40000.00000000', origQty: '0.00200000', executedQty: '0.00000000', fills: [] });
    expect(ex.balances()['USDT']!.locked).toBe('80.00000000');

    const open = await (await rest.getOpenOrders({ symbol: 'BTCUSDT' })).data();
    expect(open).toEqual([expect.objectContaining({ orderId: limit.orderId, clientOrderId: limitId, status: 'NEW', isWorking: true })]);

    const canceled = await (await rest.deleteOrder({ symbol: 'BTCUSDT', orderId: Number(limit.orderId) })).data();
    expect(canceled).toMatchObject({ symbol: 'BTCUSDT', orderId: limit.orderId, origClientOrderId: limitId, status: 'CANCELED' });
    expect(ex.findOrder('BTCUSDT', limitId)?.status).toBe('CANCELED');
    expect(ex.balances()['USDT']!.locked).toBe('0.00000000');
    expect(await (await rest.getOpenOrders({ symbol: 'BTCUSDT' })).data()).toEqual([]);

    const trades = await (await rest.myTrades({ symbol: 'BTCUSDT' })).data();
    expect(trades).toEqual([
      expect.objectContaining({
        symbol: 'BTCUSDT',
        id: buy.fills![0]!.tradeId,
        orderId: buy.orderId,
        price: askPrice,
        qty: '0.01000000',
        quoteQty: cost.toFixed(8),
        commission: '0.00001000',
        commissionAsset: 'BTC',
        isBuyer: true,
        isMaker: false,
      }),
    ]);
  });

  test('unknown symbol surfaces as the library error with -1121 "Invalid symbol."; bad signature and stale timestamp too', async () => {
    const unsigned = client.restAPI.exchangeInfo({ symbol: 'NOPEUSDT' });
    await expect(unsigned).rejects.toBeInstanceOf(BadRequestError);
    await expect(unsigned).rejects.toMatchObject({ code: -1121, message: 'Invalid symbol.' });

    const signed = client.restAPI.newOrder({ symbol: 'NOPEUSDT', side: BUY, type: MARKET, quantity: 1 });
    await expect(signed).rejects.toBeInstanceOf(BadRequestError);
    await expect(signed).rejects.toMatchObject({ code: -1121, message: 'Invalid symbol.' });

    // The exchange really verifies the library's HMAC signature and API key header.
    const wrongSecret = restClient(ex, { apiSecret: 'not-the-secret' }).restAPI.newOrder({ symbol: 'BTCUSDT', side: BUY, type: MARKET, quantity: 0.01 });
    await expect(wrongSecret).rejects.toMatchObject({ name: 'BadRequestError', code: -1022, message: 'Signature for this request is not valid.' });
    const wrongKey = restClient(ex, { apiKey: 'unknown-key' }).restAPI.getAccount();
    await expect(wrongKey).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(wrongKey).rejects.toMatchObject({ code: -2015 });

    // ...and the library's timestamp against recvWindow: an exchange clock 10 s behind sees it as ahead.
    ex.faults.inject({ kind: 'clockSkew', ms: -10_000 });
    const ahead = client.restAPI.getAccount();
    await expect(ahead).rejects.toMatchObject({ name: 'BadRequestError', code: -1021, message: "Timestamp for this request was 1000ms ahead of the server's time." });
    ex.faults.clear();
    await expect(client.restAPI.getAccount({ recvWindow: 10_000 })).resolves.toMatchObject({ status: 200 });

    expect(ex.orders()).toEqual([]);
  });

  test('timeUnit MICROSECOND (X-MBX-TIME-UNIT) turns response timestamps into microseconds', async () => {
    const micro = restClient(ex, { timeUnit: TimeUnit.MICROSECOND }).restAPI;
    const t0 = Date.now();
    const { serverTime } = await (await micro.time()).data();
    expect(Number(serverTime)).toBeGreaterThan((t0 - 60_000) * 1000);
    expect(Number(serverTime)).toBeLessThan((t0 + 60_000) * 1000);

    const order = await (await micro.newOrder({ symbol: 'BTCUSDT', side: BUY, type: MARKET, quantity: 0.01, newClientOrderId: cid() })).data();
    expect(Number(order.transactTime)).toBeGreaterThan((t0 - 60_000) * 1000);
    const paper = ex.findOrder('BTCUSDT', order.clientOrderId!)!;
    const ms = paper.time;
    const queried = await (await micro.getOrder({ symbol: 'BTCUSDT', orderId: Number(order.orderId) })).data();
    expect(queried).toMatchObject({ time: ms * 1000, updateTime: paper.updateTime * 1000 });
    // A microsecond startTime is understood too (Binance accepts either unit in time parameters).
    const tradeMs = ex.trades('BTCUSDT')[0]!.time;
    const [trade] = await (await micro.myTrades({ symbol: 'BTCUSDT', startTime: tradeMs * 1000 })).data();
    expect(trade).toMatchObject({ orderId: order.orderId, time: tradeMs * 1000 });
    expect(await (await micro.myTrades({ symbol: 'BTCUSDT', startTime: (tradeMs + 1) * 1000 })).data()).toEqual([]);
    // Milliseconds remain the default for the same exchange.
    const [same] = await (await client.restAPI.myTrades({ symbol: 'BTCUSDT', startTime: tradeMs })).data();
    expect(same).toMatchObject({ orderId: order.orderId, time: tradeMs });

    // The library refuses other values itself; the exchange's answer to one is Binance's -1194.
    const res = await fetch(`${ex.url}/api/v3/time`, { headers: { 'X-MBX-TIME-UNIT': 'NANOSECOND' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: -1194, msg: 'Invalid value for time unit; expected either MICROSECOND or MILLISECOND.' });
  });

  test('order amend keep priority: orderAmendKeepPriority and orderAmendments, fields as the library types them; -2038', async () => {
    const rest = client.restAPI;
    const id = cid();
    const placed = await (
      await rest.newOrder({ symbol: 'BTCUSDT', side: BUY, type: SpotRestAPI.NewOrderTypeEnum.LIMIT, timeInForce: SpotRestAPI.NewOrderTimeInForceEnum.GTC, quantity: 0.01, price: 40000, newClientOrderId: id })
    ).data();
    const amended = await (await rest.orderAmendKeepPriority({ symbol: 'BTCUSDT', orderId: Number(placed.orderId), newClientOrderId: id, newQty: 0.006 })).data();
    // Exactly rest-api.md's fields, in its order (a single order: no listStatus).
    expect(Object.keys(amended)).toEqual(['transactTime', 'executionId', 'amendedOrder']);
    expect(Object.keys(amended.amendedOrder!)).toEqual([
      'symbol', 'orderId', 'orderListId', 'origClientOrderId', 'clientOrderId', 'price', 'qty', 'executedQty', 'preventedQty',
      'quoteOrderQty', 'cumulativeQuoteQty', 'status', 'timeInForce', 'type', 'side', 'workingTime', 'selfTradePreventionMode',
    ]);
    expect(amended.amendedOrder).toMatchObject({ orderId: placed.orderId, origClientOrderId: id, clientOrderId: id, qty: '0.00600000', status: 'NEW' });
    expect(ex.findOrder('BTCUSDT', id)).toMatchObject({ orderId: placed.orderId, origQty: '0.00600000' });

    const history = await (await rest.orderAmendments({ symbol: 'BTCUSDT', orderId: Number(placed.orderId) })).data();
    expect(history).toEqual([
      { symbol: 'BTCUSDT', orderId: placed.orderId, executionId: amended.executionId, origClientOrderId: id, newClientOrderId: id, origQty: '0.01000000', newQty: '0.00600000', time: expect.any(Number) },
    ]);

    await expect(rest.orderAmendKeepPriority({ symbol: 'BTCUSDT', orderId: Number(placed.orderId), newQty: 0.02 })).rejects.toMatchObject({
      name: 'BadRequestError',
      code: -2038,
      message: 'Order amend (quantity increase) is not supported.',
    });
    expect(ex.findOrder('BTCUSDT', id)?.origQty).toBe('0.00600000');
  });

  test('WebSocket API: userDataStream.subscribe.signature delivers executionReports for a REST order', async () => {
    const info = jest.spyOn(console, 'info').mockImplementation(() => undefined);
    const spot = new Spot({
      configurationRestAPI: { apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, basePath: ex.url, retries: 0 },
      configurationWebsocketAPI: { apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, wsURL: ex.wsUrl, timeout: 5000 },
    });
    const conn = await spot.websocketAPI!.connect();
    try {
      const ping = await conn.ping();
      expect(ping.data).toEqual({});
      const { response, stream } = await conn.userDataStreamSubscribeSignature();
      expect(response.data).toEqual({ subscriptionId: expect.any(Number) });
      expect(ex.ws.stats().subscriptions).toBe(1);
      const events: Array<Record<string, unknown>> = [];
      stream.on('message', (m) => {
        events.push(m as unknown as Record<string, unknown>);
      });

      const id = cid();
      const { askPrice } = await (await spot.restAPI!.tickerBookTicker({ symbol: 'BTCUSDT' })).data() as { askPrice: string };
      await spot.restAPI!.newOrder({ symbol: 'BTCUSDT', side: BUY, type: MARKET, quantity: 0.01, newClientOrderId: id });
      const reports = (): Array<Record<string, unknown>> => events.filter((e) => e['e'] === 'executionReport' && e['c'] === id);
      await until(() => reports().some((r) => r['X'] === 'FILLED'), 'the FILLED executionReport');
      expect(reports().map((r) => [r['x'], r['X']])).toEqual([
        ['NEW', 'NEW'],
        ['TRADE', 'FILLED'],
      ]);
      expect(reports()[1]).toMatchObject({ s: 'BTCUSDT', S: 'BUY', o: 'MARKET', l: '0.01000000', L: askPrice, n: '0.00001000', N: 'BTC' });
      expect(events.some((e) => e['e'] === 'outboundAccountPosition')).toBe(true);

      await conn.userDataStreamUnsubscribe();
      expect(ex.ws.stats().subscriptions).toBe(0);
    } finally {
      await conn.disconnect();
      info.mockRestore();
    }
  });
});

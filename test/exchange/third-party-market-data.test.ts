/**
 * Binance's own connector, @binance/spot (pinned, unchanged), reading the paper exchange's
 * market data: depth, ticker24hr, bookTicker, klines, uiKlines, avgPrice, trades,
 * historicalTrades, aggTrades and the rolling ticker, parsed with the library's own types, each
 * checked against the book and tape the paper exchange holds, and the request weight the library
 * reads from X-MBX-USED-WEIGHT-1M. Also an order with selfTradePreventionMode through the
 * library's enum.
 */
import { Spot, SpotRestAPI } from '@binance/spot';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { dec } from '../../src/shared/decimal';
import { awayFromMinuteEdge, stillInMinute } from './minute-window';

const PRICES = ['50000.00', '50200.00', '49800.00', '50100.00'];

describe('@binance/spot (official connector, unchanged) reads the paper exchange\'s market data', () => {
  let ex: PaperExchange;
  let rest: SpotRestAPI.RestAPI;
  let used = 0;
  let minute = 0;

  /** The weight a response cost, from the REQUEST_WEIGHT count the library parsed. */
  const cost = (r: { rateLimits?: { rateLimitType?: string; count?: number }[] }): number => {
    const now = r.rateLimits?.find((l) => l.rateLimitType === 'REQUEST_WEIGHT')?.count ?? 0;
    stillInMinute(minute);
    const c = now - used;
    used = now;
    return c;
  };

  beforeEach(async () => {
    // Each test keeps inside one minute, so that counts compare (see minute-window.ts).
    minute = await awayFromMinuteEdge();
    ex = await startPaperExchange({ port: 0, priceStepMs: 0, accounts: [{ apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, balances: { USDT: '10000000', BTC: '100' } }] });
    for (const p of PRICES) ex.setPrice('BTCUSDT', p);
    rest = new Spot({ configurationRestAPI: { apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, basePath: ex.url, retries: 0, timeout: 5000 } }).restAPI;
    used = 0;
  });
  afterEach(async () => {
    await ex.close();
  });

  test('depth, bookTicker and a MARKET BUY that walks exactly the levels the depth showed', async () => {
    const res = await rest.depth({ symbol: 'BTCUSDT', limit: 5 });
    expect(cost(res)).toBe(5);
    const d = await res.data();
    expect(d.bids).toHaveLength(5);
    expect(d.asks).toHaveLength(5);
    const bestBid = d.bids![0]!;
    const bestAsk = d.asks![0]!;
    expect(dec(bestBid[0]!).lt('50100') && dec(bestAsk[0]!).gt('50100')).toBe(true);
    expect(cost(await rest.depth({ symbol: 'BTCUSDT', limit: 1000 }))).toBe(50);

    const bt = await rest.tickerBookTicker({ symbol: 'BTCUSDT' });
    expect(cost(bt)).toBe(2);
    expect(await bt.data()).toEqual({ symbol: 'BTCUSDT', bidPrice: bestBid[0], bidQty: bestBid[1], askPrice: bestAsk[0], askQty: bestAsk[1] });
    const all = (await (await rest.tickerBookTicker({ symbols: ['ETHUSDT', 'BTCUSDT'] })).data()) as { symbol?: string }[];
    expect(all.map((x) => x.symbol)).toEqual(['ETHUSDT', 'BTCUSDT']);

    const qty = d.asks!.slice(0, 3).reduce((a, [, q]) => a.plus(q!), dec(0));
    const placed = await (await rest.newOrder({ symbol: 'BTCUSDT', side: SpotRestAPI.NewOrderSideEnum.BUY, type: SpotRestAPI.NewOrderTypeEnum.MARKET, quantity: qty.toNumber(), newOrderRespType: SpotRestAPI.NewOrderNewOrderRespTypeEnum.FULL })).data();
    expect(placed.status).toBe('FILLED');
    expect(placed.fills?.map((f) => [f.price, f.qty])).toEqual(d.asks!.slice(0, 3));
  });

  test('trades, historicalTrades and aggTrades: the tape, with the connector\'s field names', async () => {
    const res = await rest.getTrades({ symbol: 'BTCUSDT' });
    expect(cost(res)).toBe(25);
    const trades = await res.data();
    expect(trades.map((t) => t.price)).toEqual(PRICES.map((p) => dec(p).toFixed(8)));
    expect(trades.map((t) => t.id)).toEqual([1, 2, 3, 4]);
    expect(trades[0]).toEqual({ id: 1, price: '50000.00000000', qty: expect.stringMatching(/^\d+\.\d{8}$/), quoteQty: expect.any(String), time: expect.any(Number), isBuyerMaker: expect.any(Boolean), isBestMatch: true });

    const hist = await rest.historicalTrades({ symbol: 'BTCUSDT', fromId: 3 });
    expect(cost(hist)).toBe(25);
    expect((await hist.data()).map((t) => t.id)).toEqual([3, 4]);

    const agg = await rest.aggTrades({ symbol: 'BTCUSDT', fromId: 2, limit: 2 });
    expect(cost(agg)).toBe(4);
    const aggs = await agg.data();
    expect(aggs.map((a) => [a.a, a.p, a.f, a.l])).toEqual([
      [2, '50200.00000000', 2, 2],
      [3, '49800.00000000', 3, 3],
    ]);
    expect(aggs[0]).toMatchObject({ q: trades[1]!.qty, T: trades[1]!.time, m: trades[1]!.isBuyerMaker, M: true });
  });

  test('klines and uiKlines: OHLCV of the tape, 12 fields', async () => {
    const trades = await (await rest.getTrades({ symbol: 'BTCUSDT' })).data();
    const volume = trades.reduce((a, t) => a.plus(t.qty!), dec(0));
    for (const call of [
      () => rest.klines({ symbol: 'BTCUSDT', interval: SpotRestAPI.KlinesIntervalEnum.INTERVAL_1d }),
      () => rest.uiKlines({ symbol: 'BTCUSDT', interval: SpotRestAPI.UiKlinesIntervalEnum.INTERVAL_1d, timeZone: '0' }),
    ]) {
      const res = await call();
      cost(res);
      const ks = await res.data();
      expect(ks).toHaveLength(1);
      const k = ks[0]!;
      expect(k).toHaveLength(12);
      expect(k.slice(1, 6)).toEqual(['50000.00000000', '50200.00000000', '49800.00000000', '50100.00000000', volume.toFixed(8)]);
      expect(k[8]).toBe(4);
    }
    const minutes = await (await rest.klines({ symbol: 'BTCUSDT', interval: SpotRestAPI.KlinesIntervalEnum.INTERVAL_1m, limit: 10 })).data();
    expect(minutes.reduce((a, k) => a + Number(k[8]), 0)).toBe(4);
  });

  test('avgPrice, ticker24hr (FULL, MINI, symbols) and the rolling ticker', async () => {
    const tape = await rest.getTrades({ symbol: 'BTCUSDT' });
    cost(tape);
    const trades = await tape.data();
    const qty = trades.reduce((a, t) => a.plus(t.qty!), dec(0));
    const quote = trades.reduce((a, t) => a.plus(t.quoteQty!), dec(0));
    const avg = await rest.avgPrice({ symbol: 'BTCUSDT' });
    expect(cost(avg)).toBe(2);
    expect(await avg.data()).toEqual({ mins: 5, price: quote.div(qty).toFixed(8, 1), closeTime: trades[3]!.time });

    const t24 = await rest.ticker24hr({ symbol: 'BTCUSDT' });
    expect(cost(t24)).toBe(2);
    expect(await t24.data()).toMatchObject({
      symbol: 'BTCUSDT',
      openPrice: '50000.00000000',
      highPrice: '50200.00000000',
      lowPrice: '49800.00000000',
      lastPrice: '50100.00000000',
      priceChange: '100.00000000',
      priceChangePercent: '0.200',
      volume: qty.toFixed(8),
      quoteVolume: quote.toFixed(8),
      firstId: 1,
      lastId: 4,
      count: 4,
    });
    const miniRes = await rest.ticker24hr({ symbols: ['BTCUSDT', 'ETHBTC'], type: SpotRestAPI.Ticker24hrTypeEnum.MINI });
    expect(cost(miniRes)).toBe(2);
    const minis = (await miniRes.data()) as Record<string, unknown>[];
    expect(minis.map((m) => [m['symbol'], m['count']])).toEqual([['BTCUSDT', 4], ['ETHBTC', 0]]);
    expect(minis[0]).not.toHaveProperty('bidPrice');

    const rolling = await rest.ticker({ symbol: 'BTCUSDT', windowSize: SpotRestAPI.TickerWindowSizeEnum.WINDOW_SIZE_1h });
    expect(cost(rolling)).toBe(4);
    const r = (await rolling.data()) as Record<string, unknown>;
    expect(r).toMatchObject({ symbol: 'BTCUSDT', openPrice: '50000.00000000', lastPrice: '50100.00000000', count: 4, weightedAvgPrice: quote.div(qty).toFixed(8, 1) });
    expect((r['openTime'] as number) % 60_000).toBe(0);
    const two = await rest.ticker({ symbols: ['BTCUSDT', 'ETHUSDT'], type: SpotRestAPI.TickerTypeEnum.MINI });
    expect(cost(two)).toBe(8);
    expect(((await two.data()) as Record<string, unknown>[]).map((x) => x['symbol'])).toEqual(['BTCUSDT', 'ETHUSDT']);
  });

  test('an order with the library\'s selfTradePreventionMode enum: EXPIRE_TAKER against the account\'s own resting SELL', async () => {
    const d = await (await rest.depth({ symbol: 'BTCUSDT', limit: 1 })).data();
    const ask = d.asks![0]![0]!;
    const maker = await (await rest.newOrder({ symbol: 'BTCUSDT', side: SpotRestAPI.NewOrderSideEnum.SELL, type: SpotRestAPI.NewOrderTypeEnum.LIMIT, timeInForce: SpotRestAPI.NewOrderTimeInForceEnum.GTC, quantity: 0.1, price: Number(ask) })).data();
    const taker = await (
      await rest.newOrder({
        symbol: 'BTCUSDT',
        side: SpotRestAPI.NewOrderSideEnum.BUY,
        type: SpotRestAPI.NewOrderTypeEnum.MARKET,
        quantity: 0.05,
        selfTradePreventionMode: SpotRestAPI.NewOrderSelfTradePreventionModeEnum.EXPIRE_TAKER,
        newOrderRespType: SpotRestAPI.NewOrderNewOrderRespTypeEnum.FULL,
      })
    ).data();
    expect(taker).toMatchObject({ status: 'EXPIRED_IN_MATCH', executedQty: '0.00000000', selfTradePreventionMode: 'EXPIRE_TAKER', preventedQuantity: '0.05000000' });
    const matches = await (await rest.myPreventedMatches({ symbol: 'BTCUSDT', orderId: maker.orderId! })).data();
    expect(matches).toEqual([expect.objectContaining({ takerOrderId: taker.orderId, makerOrderId: maker.orderId, selfTradePreventionMode: 'EXPIRE_TAKER', takerPreventedQuantity: '0.05000000' })]);
  });
});

import { dec, floorToStep } from '../../src/shared/decimal';
import { bookTop, depth, qtyWithin } from './book-helpers';
import { cid, expectBinanceError, harnessEach } from './helpers';

describe('BinanceSpotClient against the paper exchange (core)', () => {
  const ref = harnessEach();

  test('ping, serverTime, syncTime, tickerPrice', async () => {
    await expect(ref.h.client.ping()).resolves.toBeUndefined();
    const t = await ref.h.client.serverTime();
    expect(Math.abs(t - Date.now())).toBeLessThan(5000);
    const { offsetMs } = await ref.h.client.syncTime();
    expect(Math.abs(offsetMs)).toBeLessThan(1000);
    await expect(ref.h.client.tickerPrice('BTCUSDT')).resolves.toEqual({ symbol: 'BTCUSDT', price: '50000.00000000' });
  });

  test('exchangeInfo parses filters as a discriminated union and is cached', async () => {
    const info = await ref.h.client.exchangeInfo();
    const btc = info.symbols.find((s) => s.symbol === 'BTCUSDT');
    expect(btc).toBeDefined();
    const lot = btc!.filters.find((f) => f.filterType === 'LOT_SIZE');
    expect(lot).toEqual({ filterType: 'LOT_SIZE', minQty: '0.00001000', maxQty: '9000.00000000', stepSize: '0.00001000' });
    expect(info.symbols.map((s) => s.symbol).sort()).toEqual(['BNBUSDT', 'BTCUSDT', 'ETHBTC', 'ETHUSDT']);
    const one = await ref.h.client.exchangeInfo(['ETHBTC']);
    expect(one.symbols.map((s) => s.symbol)).toEqual(['ETHBTC']);
    const two = await ref.h.client.exchangeInfo(['ETHBTC', 'BNBUSDT']);
    expect(two.symbols.map((s) => s.symbol)).toEqual(['ETHBTC', 'BNBUSDT']);
    const before = ref.h.client.usage().budget.find((b) => b.rateLimitType === 'REQUEST_WEIGHT')!.used;
    await ref.h.client.cachedExchangeInfo();
    const after = ref.h.client.usage().budget.find((b) => b.rateLimitType === 'REQUEST_WEIGHT')!.used;
    expect(after).toBe(before); // served from cache, nothing sent
    const { BinanceSpotClient } = await import('../../src/exchange');
    const { PAPER_DEFAULT_API_KEY } = await import('../../src/paper-exchange');
    const shortTtl = new BinanceSpotClient({ baseUrl: ref.h.ex.url, apiKey: PAPER_DEFAULT_API_KEY, exchangeInfoTtlMs: 30 });
    try {
      const first = await shortTtl.cachedExchangeInfo();
      expect(await shortTtl.cachedExchangeInfo()).toBe(first); // fresh: same object
      await new Promise((r) => setTimeout(r, 60));
      const refreshed = await shortTtl.cachedExchangeInfo();
      expect(refreshed).not.toBe(first); // stale: fetched again
      expect(refreshed.serverTime).toBeGreaterThanOrEqual(first.serverTime);
    } finally {
      await shortTtl.close();
    }
    const unknown = await expectBinanceError(ref.h.client.exchangeInfo(['NOPE']));
    expect(unknown).toMatchObject({ kind: 'rejected', code: -1121, msg: 'Invalid symbol.', httpStatus: 400 });
  });

  test('MARKET buy fills immediately with fills[], moves balances, charges 0.1% in the received asset', async () => {
    const before = ref.h.ex.balances();
    // A small BUY fills at the best ask, a few ticks above the price set (the book has a spread).
    const { askPrice } = await bookTop(ref.h.ex.url, 'BTCUSDT');
    expect(dec(askPrice).gt('50000') && dec(askPrice).lte('50000.03')).toBe(true);
    const id = cid();
    const r = await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.01', newClientOrderId: id });
    expect(r).toMatchObject({ symbol: 'BTCUSDT', clientOrderId: id, status: 'FILLED', type: 'MARKET', side: 'BUY', executedQty: '0.01000000' });
    expect(r.fills).toEqual([{ price: askPrice, qty: '0.01000000', commission: '0.00001000', commissionAsset: 'BTC', tradeId: expect.any(Number) }]);
    const after = ref.h.ex.balances();
    expect(dec(after.USDT!.free).minus(before.USDT!.free).toString()).toBe(dec(askPrice).mul('0.01').neg().toString());
    expect(dec(after.BTC!.free).minus(before.BTC!.free).toString()).toBe('0.00999');
  });

  test('a large MARKET order walks several depth levels: several fills at worsening prices', async () => {
    const r = await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: '0.9', newClientOrderId: cid() });
    expect(r.status).toBe('FILLED');
    expect(r.fills.length).toBeGreaterThan(1);
    const prices = r.fills.map((f) => dec(f.price));
    for (let i = 1; i < prices.length; i++) expect(prices[i]!.lt(prices[i - 1]!)).toBe(true);
    const total = r.fills.reduce((a, f) => a.plus(f.qty), dec(0));
    expect(total.toString()).toBe('0.9');
    expect(r.fills.every((f) => f.commissionAsset === 'USDT')).toBe(true);
  });

  test('MARKET buy by quoteOrderQty spends at most that much quote', async () => {
    const { askPrice } = await bookTop(ref.h.ex.url, 'BTCUSDT');
    const r = await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quoteOrderQty: '100', newClientOrderId: cid() });
    expect(r.status).toBe('FILLED');
    expect(dec(r.cummulativeQuoteQty).lte(100)).toBe(true);
    // 100 USDT at the best ask, floored to the lot step.
    expect(r.executedQty).toBe(floorToStep(dec(100).div(askPrice), '0.00001').toFixed(8));
  });

  test('LIMIT GTC rests, partially fills at the touch, fills when the price crosses; getOrder by id and clientOrderId', async () => {
    const id = cid();
    const placed = await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.8', price: '49000.00', newClientOrderId: id });
    expect(placed.status).toBe('NEW');
    expect(placed.fills).toEqual([]);
    expect(ref.h.ex.balances().USDT!.locked).toBe('39200.00000000');
    const open = await ref.h.client.openOrders('BTCUSDT');
    expect(open.map((o) => o.clientOrderId)).toEqual([id]);

    ref.h.ex.setPrice('BTCUSDT', '49000.00'); // touch: only the best level (0.5) trades
    const partial = await ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
    expect(partial).toMatchObject({ status: 'PARTIALLY_FILLED', executedQty: '0.50000000', orderId: placed.orderId });

    ref.h.ex.setPrice('BTCUSDT', '48900.00'); // through: the rest fills at the limit price, as maker
    const filled = await ref.h.client.getOrder({ symbol: 'BTCUSDT', orderId: placed.orderId });
    expect(filled).toMatchObject({ status: 'FILLED', executedQty: '0.80000000', cummulativeQuoteQty: '39200.00000000' });
    const trades = await ref.h.client.myTrades({ symbol: 'BTCUSDT', orderId: placed.orderId });
    expect(trades.map((t) => [t.price, t.qty, t.isMaker, t.isBuyer])).toEqual([
      ['49000.00000000', '0.50000000', true, true],
      ['49000.00000000', '0.30000000', true, true],
    ]);
    expect(ref.h.ex.balances().USDT!.locked).toBe('0.00000000');
    await expect(ref.h.client.openOrders('BTCUSDT')).resolves.toEqual([]);
  });

  test('LIMIT IOC fills what it can and expires the rest; FOK that cannot fill fully expires with no fills', async () => {
    // IOC takes exactly what the book offers up to its price.
    const offered = qtyWithin((await depth(ref.h.ex.url, 'BTCUSDT')).asks, 'asks', '50005.00');
    expect(offered.gt(0) && offered.lt('1.5')).toBe(true);
    const ioc = await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'IOC', quantity: '1.5', price: '50005.00', newClientOrderId: cid() });
    expect(ioc.status).toBe('EXPIRED');
    expect(dec(ioc.executedQty).gt(0)).toBe(true);
    expect(ioc.executedQty).toBe(offered.toFixed(8));
    const fok = await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'FOK', quantity: '0.6', price: '50000.00', newClientOrderId: cid() });
    expect(fok).toMatchObject({ status: 'EXPIRED', executedQty: '0.00000000', fills: [] });
    // What the IOC took stays taken until the next price step draws the book afresh.
    ref.h.ex.setPrice('BTCUSDT', '50000.00');
    const fokOk = await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'FOK', quantity: '0.1', price: '50005.00', newClientOrderId: cid() });
    expect(fokOk.status).toBe('FILLED');
  });

  test('cancelOrder cancels and unlocks; unknown order on cancel is not_found (-2011), on query not_found (-2013)', async () => {
    const id = cid();
    await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '51000.00', newClientOrderId: id });
    expect(ref.h.ex.balances().BTC!.locked).toBe('0.10000000');
    const c = await ref.h.client.cancelOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
    expect(c).toMatchObject({ status: 'CANCELED', origClientOrderId: id });
    expect(ref.h.ex.balances().BTC!.locked).toBe('0.00000000');
    const again = await expectBinanceError(ref.h.client.cancelOrder({ symbol: 'BTCUSDT', origClientOrderId: id }));
    expect(again).toMatchObject({ kind: 'not_found', code: -2011, msg: 'Unknown order sent.' });
    const q = await expectBinanceError(ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: 'never-sent' }));
    expect(q).toMatchObject({ kind: 'not_found', code: -2013, msg: 'Order does not exist.', httpStatus: 400 });
  });

  test('rejections keep Binance code and msg: duplicate open clientOrderId, filters, balance, symbol', async () => {
    const id = cid();
    await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '40000.00', newClientOrderId: id });
    const dup = await expectBinanceError(ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '40000.00', newClientOrderId: id }));
    expect(dup).toMatchObject({ kind: 'rejected', code: -2010, msg: 'Duplicate order sent.' });
    const lot = await expectBinanceError(ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.000001', newClientOrderId: cid() }));
    expect(lot).toMatchObject({ kind: 'rejected', code: -1013, msg: 'Filter failure: LOT_SIZE' });
    const notional = await expectBinanceError(ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.00001', newClientOrderId: cid() }));
    expect(notional).toMatchObject({ kind: 'rejected', code: -1013, msg: 'Filter failure: NOTIONAL' });
    const tick = await expectBinanceError(ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '40000.001', newClientOrderId: cid() }));
    expect(tick).toMatchObject({ kind: 'rejected', code: -1013, msg: 'Filter failure: PRICE_FILTER' });
    const poor = await expectBinanceError(ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '5', newClientOrderId: cid() }));
    expect(poor).toMatchObject({ kind: 'rejected', code: -2010, msg: 'Account has insufficient balance for requested action.' });
    const sym = await expectBinanceError(ref.h.client.newOrder({ symbol: 'NOPEUSDT', side: 'BUY', type: 'MARKET', quantity: '1', newClientOrderId: cid() }));
    expect(sym).toMatchObject({ kind: 'rejected', code: -1121, msg: 'Invalid symbol.' });
    const maker = await expectBinanceError(ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT_MAKER', quantity: '0.01', price: '50001.00', newClientOrderId: cid() }));
    expect(maker).toMatchObject({ kind: 'rejected', code: -2010, msg: 'Order would immediately match and take.' });
  });

  test('a clientOrderId may be reused once the earlier order is closed (Binance rule)', async () => {
    const id = cid();
    await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: id });
    const second = await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: id });
    expect(second.status).toBe('FILLED');
    expect(ref.h.ex.orders('BTCUSDT').filter((o) => o.clientOrderId === id)).toHaveLength(2);
  });

  test('account and usage headers', async () => {
    const a = await ref.h.client.account();
    expect(a.canTrade).toBe(true);
    expect(a.balances.find((b) => b.asset === 'USDT')).toEqual({ asset: 'USDT', free: '100000.00000000', locked: '0.00000000' });
    expect(a.commissionRates.taker).toBe('0.00100000');
    await ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
    const u = ref.h.client.usage();
    // time 1 + account 20; the successful order costs no weight since 2026-04-02.
    expect(u.usedWeight1m).toBeGreaterThanOrEqual(21);
    expect(u.orderCount10s).toBe(1);
    expect(u.orderCount1d).toBe(1);
  });

  test('bad credentials: unknown key -2015, wrong secret -1022, both rejected', async () => {
    const { BinanceSpotClient } = await import('../../src/exchange');
    const wrongKey = new BinanceSpotClient({ baseUrl: ref.h.ex.url, apiKey: 'nobody', apiSecret: 'x' });
    const wrongSecret = new BinanceSpotClient({ baseUrl: ref.h.ex.url, apiKey: (await import('../../src/paper-exchange')).PAPER_DEFAULT_API_KEY, apiSecret: 'not-the-secret' });
    try {
      expect(await expectBinanceError(wrongKey.account())).toMatchObject({ kind: 'rejected', code: -2015, msg: 'Invalid API-key, IP, or permissions for action.', httpStatus: 401 });
      expect(await expectBinanceError(wrongSecret.account())).toMatchObject({ kind: 'rejected', code: -1022, msg: 'Signature for this request is not valid.' });
    } finally {
      await wrongKey.close();
      await wrongSecret.close();
    }
  });
});

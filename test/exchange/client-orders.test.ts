import { generateKeyPairSync } from 'node:crypto';
import { BinanceSpotClient } from '../../src/exchange';
import { startPaperExchange } from '../../src/paper-exchange';
import { dec } from '../../src/shared/decimal';
import { bookTop } from './book-helpers';
import { cid, expectBinanceError, harness, type Harness } from './helpers';

describe('stop orders, OCO, cancel-replace, test order and account endpoints', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
    h.ex.setPrice('BTCUSDT', '50000.00');
  });
  afterEach(async () => {
    await h.close();
  });

  test('STOP_LOSS_LIMIT SELL waits untriggered, triggers when the price falls to the stop, then fills as a limit', async () => {
    const id = cid();
    const r = await h.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_LOSS_LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '48900.00', stopPrice: '49000.00', newClientOrderId: id });
    expect(r).toMatchObject({ status: 'NEW', type: 'STOP_LOSS_LIMIT', stopPrice: '49000.00000000', workingTime: -1, fills: [] });
    expect(h.ex.balances().BTC!.locked).toBe('0.10000000');
    h.ex.setPrice('BTCUSDT', '49500.00');
    expect((await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id })).isWorking).toBe(false);
    h.ex.setPrice('BTCUSDT', '49000.00'); // triggers; the 48900 limit is marketable against the bids just below 49000
    const after = await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
    expect(after).toMatchObject({ status: 'FILLED', isWorking: true, executedQty: '0.10000000' });
    const trades = await h.client.myTrades({ symbol: 'BTCUSDT', orderId: after.orderId });
    // It took the best bid (a few ticks below the price; that level held more than 0.1).
    const { bidPrice } = await bookTop(h.ex.url, 'BTCUSDT');
    expect(dec(bidPrice).lt('49000') && dec(bidPrice).gte('48999.97')).toBe(true);
    expect(trades[0]).toMatchObject({ price: bidPrice, isMaker: false, isBuyer: false });
  });

  test('TAKE_PROFIT_LIMIT SELL triggers when the price rises to the stop and rests if not marketable', async () => {
    const id = cid();
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'TAKE_PROFIT_LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '52000.00', stopPrice: '51000.00', newClientOrderId: id });
    h.ex.setPrice('BTCUSDT', '51000.00');
    expect(await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id })).toMatchObject({ status: 'NEW', isWorking: true });
    h.ex.setPrice('BTCUSDT', '52100.00');
    expect(await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id })).toMatchObject({ status: 'FILLED', cummulativeQuoteQty: '5200.00000000' });
  });

  test('a stop that would trigger immediately is rejected', async () => {
    const e = await expectBinanceError(h.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_LOSS_LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '50500.00', stopPrice: '50500.00', newClientOrderId: cid() }));
    expect(e).toMatchObject({ kind: 'rejected', code: -2010, msg: 'Order would trigger immediately.' });
  });

  const sellOco = (list: string) =>
    h.client.newOco({
      symbol: 'BTCUSDT', side: 'SELL', quantity: '0.2', listClientOrderId: list,
      aboveType: 'LIMIT_MAKER', aboveClientOrderId: `${list}-tp`, abovePrice: '52000.00',
      belowType: 'STOP_LOSS_LIMIT', belowClientOrderId: `${list}-sl`, belowStopPrice: '48000.00', belowPrice: '47900.00', belowTimeInForce: 'GTC',
    });

  test('OCO: take-profit fill expires the stop leg; funds are locked once and released', async () => {
    const list = cid('oco');
    const r = await sellOco(list);
    expect(r).toMatchObject({ contingencyType: 'OCO', listStatusType: 'EXEC_STARTED', listOrderStatus: 'EXECUTING', listClientOrderId: list });
    expect(r.orderReports.map((o) => [o.type, o.status])).toEqual([['STOP_LOSS_LIMIT', 'NEW'], ['LIMIT_MAKER', 'NEW']]);
    expect(h.ex.balances().BTC!.locked).toBe('0.20000000');
    expect((await h.client.openOrders('BTCUSDT')).length).toBe(2);

    h.ex.setPrice('BTCUSDT', '52100.00');
    const tp = await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: `${list}-tp` });
    const sl = await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: `${list}-sl` });
    expect(tp).toMatchObject({ status: 'FILLED', orderListId: r.orderListId });
    expect(sl).toMatchObject({ status: 'EXPIRED', expiryReason: 'OCO_TRIGGER' });
    expect(await h.client.getOrderList({ orderListId: r.orderListId })).toMatchObject({ listStatusType: 'ALL_DONE', listOrderStatus: 'ALL_DONE' });
    expect(h.ex.balances().BTC).toEqual({ free: '0.80000000', locked: '0.00000000' });
  });

  test('OCO: the stop leg triggering expires the take-profit leg and the stop fills', async () => {
    const list = cid('oco');
    await sellOco(list);
    h.ex.setPrice('BTCUSDT', '47950.00');
    const tp = await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: `${list}-tp` });
    const sl = await h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: `${list}-sl` });
    expect(tp.status).toBe('EXPIRED');
    expect(sl).toMatchObject({ status: 'FILLED', executedQty: '0.20000000' });
    expect(h.ex.balances().BTC!.locked).toBe('0.00000000');
  });

  test('OCO: cancel the list by listClientOrderId; bad price relationship is rejected verbatim', async () => {
    const list = cid('oco');
    await sellOco(list);
    const c = await h.client.cancelOrderList({ symbol: 'BTCUSDT', listClientOrderId: list });
    expect(c.listOrderStatus).toBe('ALL_DONE');
    expect(c.orderReports.map((o) => o.status)).toEqual(['CANCELED', 'CANCELED']);
    expect(h.ex.balances().BTC!.locked).toBe('0.00000000');
    expect(await expectBinanceError(h.client.cancelOrderList({ symbol: 'BTCUSDT', listClientOrderId: list }))).toMatchObject({ kind: 'not_found', code: -2011 });
    expect(await expectBinanceError(h.client.getOrderList({ origClientOrderId: 'nope' }))).toMatchObject({ kind: 'not_found', code: -2013 });
    const bad = await expectBinanceError(
      h.client.newOco({
        symbol: 'BTCUSDT', side: 'SELL', quantity: '0.2', listClientOrderId: cid('oco'),
        aboveType: 'LIMIT_MAKER', aboveClientOrderId: cid(), abovePrice: '49000.00',
        belowType: 'STOP_LOSS', belowClientOrderId: cid(), belowStopPrice: '48000.00',
      }),
    );
    expect(bad).toMatchObject({ kind: 'rejected', code: -2010, msg: 'The relationship of the prices for the orders is not correct.' });
    expect((await h.client.openOrderLists()).length).toBe(0);
  });

  test('cancel-replace: success, and -2021 partial failure returned with both halves', async () => {
    const old = cid();
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '45000.00', newClientOrderId: old });
    const next = cid();
    const ok = await h.client.cancelReplace({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '46000.00', newClientOrderId: next, cancelReplaceMode: 'STOP_ON_FAILURE', cancelOrigClientOrderId: old });
    expect(ok).toMatchObject({ cancelResult: 'SUCCESS', newOrderResult: 'SUCCESS', cancelResponse: { status: 'CANCELED' }, newOrderResponse: { status: 'NEW', clientOrderId: next } });

    const partial = await h.client.cancelReplace({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT_MAKER', quantity: '0.1', price: '50001.00', newClientOrderId: cid(), cancelReplaceMode: 'STOP_ON_FAILURE', cancelOrigClientOrderId: next });
    expect(partial).toMatchObject({ code: -2021, cancelResult: 'SUCCESS', newOrderResult: 'FAILURE', newOrderResponse: { code: -2010, msg: 'Order would immediately match and take.' } });

    const failed = await h.client.cancelReplace({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.1', price: '46000.00', newClientOrderId: cid(), cancelReplaceMode: 'STOP_ON_FAILURE', cancelOrigClientOrderId: 'gone' });
    expect(failed).toMatchObject({ code: -2022, cancelResult: 'FAILURE', newOrderResult: 'NOT_ATTEMPTED', cancelResponse: { code: -2011, msg: 'Unknown order sent.' }, newOrderResponse: null });
    expect((await h.client.openOrders('BTCUSDT')).length).toBe(0);
  });

  test('test order validates without placing; commission rates; allOrders; order count usage', async () => {
    await expect(h.client.testOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() })).resolves.toEqual({});
    const rates = await h.client.testOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() }, { computeCommissionRates: true });
    expect(rates).toMatchObject({ standardCommissionForOrder: { maker: '0.00100000', taker: '0.00100000' } });
    expect(await expectBinanceError(h.client.testOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.0000001', newClientOrderId: cid() }))).toMatchObject({ code: -1013 });
    expect(h.ex.orders()).toHaveLength(0);

    const cr = await h.client.commissionRates('BTCUSDT');
    expect(cr).toMatchObject({ symbol: 'BTCUSDT', standardCommission: { taker: '0.00100000' }, discount: { discountAsset: 'BNB', discount: '0.25000000' } });

    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
    await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '40000.00', newClientOrderId: cid() });
    const all = await h.client.allOrders({ symbol: 'BTCUSDT' });
    expect(all.map((o) => o.status)).toEqual(['FILLED', 'NEW']);
    const counts = await h.client.orderCountUsage();
    expect(counts).toEqual([
      { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100, count: 2 },
      { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000, count: 2 },
    ]);
  });

  test('client-side request validation refuses before sending', async () => {
    const e = await expectBinanceError(h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '1e-3', newClientOrderId: 'has space' }));
    expect(e.kind).toBe('rejected');
    expect(e.code).toBeUndefined();
    expect(e.msg).toMatch(/quantity.*newClientOrderId|newClientOrderId.*quantity/s);
    expect(h.ex.orders()).toHaveLength(0);
  });
});

describe('BNB commission and Ed25519 keys', () => {
  test('commission paid in BNB at a 25% discount when enabled', async () => {
    const h = await harness({ accounts: [{ apiKey: 'bnbKey', apiSecret: 'bnbSecret', payFeesInBnb: true }] }, { apiKey: 'bnbKey', apiSecret: 'bnbSecret' });
    try {
      h.ex.setPrice('BTCUSDT', '50000.00');
      h.ex.setPrice('BNBUSDT', '500.00');
      const { askPrice } = await bookTop(h.ex.url, 'BTCUSDT');
      const r = await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.01', newClientOrderId: cid() });
      // 0.01 BTC at the best ask (about 500 USDT) x 0.1% x 0.75, in BNB at 500, rounded up to 8 places.
      const fee = dec(askPrice).mul('0.01').mul('0.001').mul('0.75').div(500).toDecimalPlaces(8, 0);
      expect(fee.toFixed(8)).toBe('0.00075001');
      expect(r.fills).toEqual([expect.objectContaining({ price: askPrice, commission: fee.toFixed(8), commissionAsset: 'BNB' })]);
      expect(h.ex.balances('bnbKey').BTC!.free).toBe('1.01000000');
      expect(dec(h.ex.balances('bnbKey').BNB!.free).toString()).toBe(dec(100).minus(fee).toString());
    } finally {
      await h.close();
    }
  });

  test('Ed25519-signed requests verify on the paper exchange; a different key is -1022', async () => {
    const mine = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const pub = mine.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const ex = await startPaperExchange({ priceStepMs: 0, accounts: [{ apiKey: 'edKey', ed25519PublicKeyPem: pub }] });
    const good = new BinanceSpotClient({ baseUrl: ex.url, apiKey: 'edKey', ed25519PrivateKeyPem: mine.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    const bad = new BinanceSpotClient({ baseUrl: ex.url, apiKey: 'edKey', ed25519PrivateKeyPem: other.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    try {
      ex.setPrice('BTCUSDT', '50000.00');
      const r = await good.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
      expect(r.status).toBe('FILLED');
      expect(await expectBinanceError(bad.account())).toMatchObject({ kind: 'rejected', code: -1022 });
    } finally {
      await good.close();
      await bad.close();
      await ex.close();
    }
  });

  test('a key without TRADE permission can read but not trade', async () => {
    const h = await harness({ accounts: [{ apiKey: 'ro', apiSecret: 'roSecret', permissions: ['SPOT'] }] }, { apiKey: 'ro', apiSecret: 'roSecret' });
    try {
      await expect(h.client.account()).resolves.toMatchObject({ canTrade: false });
      expect(await expectBinanceError(h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() }))).toMatchObject({ kind: 'rejected', code: -2015, httpStatus: 401 });
    } finally {
      await h.close();
    }
  });
});

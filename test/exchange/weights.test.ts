/**
 * Request weights as of 2026-04-02 on the paper exchange, seen by our client through
 * X-MBX-USED-WEIGHT-*: successful place/cancel/order-list requests cost 0, failed ones their
 * documented weight, an amend 0 only when it expires the order, myTrades with orderId 5.
 * Per-day weight windows keep the counts from rolling over during a test.
 */
import { BinanceSpotClient } from '../../src/exchange';
import type { RateLimit } from '../../src/exchange/schemas';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../src/paper-exchange';
import { PAPER_RATE_LIMITS } from '../../src/paper-exchange/limits';
import { admin } from './admin-http';
import { cid, expectBinanceError, harness, type Harness } from './helpers';

const DAY_WEIGHT = (limit: number): RateLimit[] => [
  { rateLimitType: 'REQUEST_WEIGHT', interval: 'DAY', intervalNum: 1, limit },
  { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
  { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
];

describe('request weights since 2026-04-02', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  test('what each request costs, as the exchange reports it', async () => {
    h = await harness({ rateLimits: DAY_WEIGHT(100_000) });
    h.ex.setPrice('BTCUSDT', '50000.00');
    const c = h.client;
    await c.syncTime();
    let last = 0;
    const cost = async (p: Promise<unknown>): Promise<number> => {
      await p.catch(() => undefined);
      const now = c.usage().headers['x-mbx-used-weight-1d']!;
      const d = now - last;
      last = now;
      return d;
    };
    await cost(c.ping());
    const id = cid('w');
    const limit = (clientOrderId: string, quantity = '0.010') =>
      c.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity, price: '49000.00', newClientOrderId: clientOrderId });
    expect(await cost(limit(id))).toBe(0);
    // Failed: LOT_SIZE (-1013), a duplicate (-2010): the documented 1.
    expect(await cost(limit(cid('w'), '0.0000001'))).toBe(1);
    expect(await cost(limit(id))).toBe(1);
    const placed = await c.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
    last += 4;
    // Amend that leaves the order open: 4. Amend down to what has filled (the order expires): 0.
    expect(await cost(c.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newClientOrderId: id, newQty: '0.008' }))).toBe(4);
    const fill = await admin(h.ex.url, 'POST', '/admin/fill', { symbol: 'BTCUSDT', origClientOrderId: id, quantity: '0.002' });
    expect(fill.status).toBe(200);
    expect(await cost(c.amendOrderKeepPriority({ symbol: 'BTCUSDT', origClientOrderId: id, newClientOrderId: id, newQty: '0.002' }))).toBe(0);
    expect(h.ex.findOrder('BTCUSDT', id)).toMatchObject({ status: 'EXPIRED' });
    // myTrades: 5 with orderId, 20 without.
    expect(await cost(c.myTrades({ symbol: 'BTCUSDT', orderId: placed.orderId }))).toBe(5);
    expect(await cost(c.myTrades({ symbol: 'BTCUSDT' }))).toBe(20);
    // Cancel: 0 when it cancels, 1 when refused (-2011).
    const other = cid('w');
    await cost(limit(other));
    expect(await cost(c.cancelOrder({ symbol: 'BTCUSDT', origClientOrderId: other }))).toBe(0);
    expect(await cost(c.cancelOrder({ symbol: 'BTCUSDT', origClientOrderId: other }))).toBe(1);
    // An OCO and its cancel: 0 each.
    const list = cid('oco');
    expect(
      await cost(
        c.newOco({
          symbol: 'BTCUSDT', side: 'SELL', quantity: '0.01', listClientOrderId: list,
          aboveType: 'LIMIT_MAKER', aboveClientOrderId: `${list}-tp`, abovePrice: '51000.00',
          belowType: 'STOP_LOSS', belowClientOrderId: `${list}-sl`, belowStopPrice: '49000.00',
        }),
      ),
    ).toBe(0);
    expect(await cost(c.cancelOrderList({ symbol: 'BTCUSDT', listClientOrderId: list }))).toBe(0);
    // The client's own budget agrees with the exchange: nothing left over from the free requests.
    expect(c.usage().budget.find((b) => b.rateLimitType === 'REQUEST_WEIGHT')!.used).toBe(last);
  });

  test('an IP that only places and cancels successfully never reaches the weight limit; failures still do', async () => {
    // 30 a day: exchangeInfo (20) and the clock sync (GET /api/v3/time, 1) leave 9.
    h = await harness({ rateLimits: DAY_WEIGHT(30), requestsBeforeBan: 1000 });
    h.ex.setPrice('BTCUSDT', '50000.00');
    await h.client.exchangeInfo(); // the budget learns the 30/day
    for (let i = 0; i < 40; i++) {
      const id = cid('free');
      await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '40000.00', newClientOrderId: id });
      await h.client.cancelOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
    }
    expect(h.ex.rateLimitStats()).toEqual({ status429: 0, status418: 0 });
    expect(h.client.usage()).toMatchObject({ delayedRequests: 0, headers: { 'x-mbx-used-weight-1d': 21 } });

    // Another client on the IP that has not learned the limit, sending orders that fail.
    const other = new BinanceSpotClient({ baseUrl: h.ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, timeoutMs: 3000 });
    try {
      let limited: unknown;
      for (let i = 0; i < 15 && limited === undefined; i++) {
        const e = await expectBinanceError(other.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.0000001', price: '40000.00', newClientOrderId: cid('bad') }));
        if (e.httpStatus === 429) limited = e;
      }
      expect(limited).toMatchObject({ kind: 'retry_later', httpStatus: 429, code: -1003 });
    } finally {
      await other.close();
    }
  });

  test('RAW_REQUESTS is 300,000 per 5 minutes in exchangeInfo', async () => {
    h = await harness();
    const info = await h.client.exchangeInfo();
    expect(info.rateLimits).toContainEqual({ rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 300000 });
    expect(PAPER_RATE_LIMITS).toEqual(info.rateLimits);
    expect(h.client.usage().budget).toContainEqual(expect.objectContaining({ rateLimitType: 'RAW_REQUESTS', limit: 300000 }));
  });
});

/**
 * Rate limits over real HTTP: the paper exchange enforces a small weight limit; the client's
 * budget (learned from exchangeInfo.rateLimits) slows a burst down instead of earning 429s.
 */
import { request } from 'undici';
import { BinanceSpotClient } from '../../src/exchange';
import type { RateLimit } from '../../src/exchange/schemas';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { cid, expectBinanceError } from './helpers';

const TIGHT: RateLimit[] = [
  { rateLimitType: 'REQUEST_WEIGHT', interval: 'SECOND', intervalNum: 1, limit: 40 },
  { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
  { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
];

// For the burst: a larger per-second limit gives the budget's 10 % headroom room for a few
// requests that a loaded machine delivers across a window edge (40/s left it 4, too few).
const BURST: RateLimit[] = [{ rateLimitType: 'REQUEST_WEIGHT', interval: 'SECOND', intervalNum: 1, limit: 100 }, ...TIGHT.slice(1)];

describe('rate limits', () => {
  let ex: PaperExchange;
  afterEach(async () => {
    await ex.close();
  });

  test('control: the same burst sent without a budget earns 429s with Retry-After', async () => {
    ex = await startPaperExchange({ priceStepMs: 0, rateLimits: TIGHT, requestsBeforeBan: 1000 });
    const statuses = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const r = await request(`${ex.url}/api/v3/ping`);
        await r.body.text();
        return { status: r.statusCode, retryAfter: r.headers['retry-after'] };
      }),
    );
    const limited = statuses.filter((s) => s.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.retryAfter).toMatch(/^\d+$/);
  });

  test('a burst that would exceed the limit is slowed, not rejected', async () => {
    ex = await startPaperExchange({ priceStepMs: 0, rateLimits: BURST });
    const client = new BinanceSpotClient({ baseUrl: ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
    try {
      await client.exchangeInfo(); // teaches the budget the 100/s limit
      await Promise.all(Array.from({ length: 250 }, () => client.ping()));
      expect(ex.rateLimitStats()).toEqual({ status429: 0, status418: 0 });
      const u = client.usage();
      expect(u.delayedRequests).toBeGreaterThan(0);
      expect(u.headers['x-mbx-used-weight-1s']).toBeLessThanOrEqual(100);
      expect(u.budget.find((b) => b.rateLimitType === 'REQUEST_WEIGHT')).toMatchObject({ interval: 'SECOND', intervalNum: 1, limit: 100 });
    } finally {
      await client.close();
    }
  });

  test('ignoring 429s earns a 418; the banned client then refuses to send until Retry-After passes', async () => {
    ex = await startPaperExchange({ priceStepMs: 0, rateLimits: TIGHT, requestsBeforeBan: 3, banMs: 60_000 });
    // Someone else on this IP hammers the exchange and gets it banned.
    for (let i = 0; i < 60; i++) {
      const r = await request(`${ex.url}/api/v3/ping`);
      await r.body.text();
      if (r.statusCode === 418) break;
    }
    expect(ex.rateLimitStats().status418).toBeGreaterThan(0);
    const client = new BinanceSpotClient({ baseUrl: ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
    try {
      const first = await expectBinanceError(client.ping());
      expect(first).toMatchObject({ kind: 'banned', httpStatus: 418, code: -1003 });
      expect(first.msg).toMatch(/^Way too much request weight used; IP banned until \d+\./);
      expect(first.retryAfterMs).toBeGreaterThan(50_000);
      const seen = ex.rateLimitStats().status418;
      const second = await expectBinanceError(client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() }));
      expect(second).toMatchObject({ kind: 'banned', httpStatus: undefined });
      expect(ex.rateLimitStats().status418).toBe(seen); // nothing was sent
      expect(client.usage().bannedUntil).toBeGreaterThan(Date.now());
    } finally {
      await client.close();
    }
  });

  test('order count limit: -1015 with 429 is retry_later', async () => {
    ex = await startPaperExchange({
      priceStepMs: 0,
      rateLimits: [{ rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 2 }],
    });
    // This client never learns the limit (no exchangeInfo), so it does earn the 429.
    const client = new BinanceSpotClient({ baseUrl: ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
    try {
      ex.setPrice('BTCUSDT', '50000.00');
      for (let i = 0; i < 2; i++) await client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
      const e = await expectBinanceError(client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() }));
      expect(e).toMatchObject({ kind: 'retry_later', httpStatus: 429, code: -1015, msg: 'Too many new orders; current limit is 2 orders per 10 SECOND.' });
      expect(e.retryAfterMs).toBeGreaterThan(0);
      expect(ex.orders('BTCUSDT')).toHaveLength(2);
    } finally {
      await client.close();
    }
  });
});

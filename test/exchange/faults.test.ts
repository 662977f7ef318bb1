/**
 * Fault injection: "after placed" faults must leave a real order on the exchange, so that the
 * caller's settle-by-query path (not a resend) is what finds it.
 */
import { BinanceSpotClient } from '../../src/exchange';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET } from '../../src/paper-exchange';
import { cid, expectBinanceError, harnessEach } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fault injection and error classification', () => {
  const ref = harnessEach({ syncTime: true });

  const market = (id: string) => ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: id });

  test('HTTP 500 after the order was placed: unknown_outcome, and the order really exists', async () => {
    const fault = ref.h.ex.faults.inject({ kind: 'http5xx', status: 500, method: 'POST', path: '/api/v3/order' });
    const id = cid();
    const e = await expectBinanceError(market(id));
    expect(e).toMatchObject({ kind: 'unknown_outcome', httpStatus: 500 });
    expect(ref.h.ex.faults.hits.get(fault)).toBe(1);
    expect(ref.h.ex.findOrder('BTCUSDT', id)?.status).toBe('FILLED');
    await expect(ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id })).resolves.toMatchObject({ status: 'FILLED', clientOrderId: id });
  });

  test('HTTP 502 before placing: unknown_outcome too, and the query settles it as absent', async () => {
    ref.h.ex.faults.inject({ kind: 'http5xx', status: 502, afterPlaced: false, path: '/api/v3/order', method: 'POST' });
    const id = cid();
    expect(await expectBinanceError(market(id))).toMatchObject({ kind: 'unknown_outcome', httpStatus: 502 });
    expect(ref.h.ex.findOrder('BTCUSDT', id)).toBeUndefined();
    expect(await expectBinanceError(ref.h.client.getOrder({ symbol: 'BTCUSDT', origClientOrderId: id }))).toMatchObject({ kind: 'not_found', code: -2013 });
  });

  test('-1007 with the order placed: unknown_outcome with code -1007', async () => {
    ref.h.ex.faults.inject({ kind: 'timeout1007', path: '/api/v3/order', method: 'POST' });
    const id = cid();
    const e = await expectBinanceError(market(id));
    expect(e).toMatchObject({ kind: 'unknown_outcome', code: -1007, msg: 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.' });
    expect(ref.h.ex.findOrder('BTCUSDT', id)?.status).toBe('FILLED');
  });

  test('connection dropped after acceptance: unknown_outcome; resending the open order is refused as a duplicate', async () => {
    ref.h.ex.faults.inject({ kind: 'dropConnection', path: '/api/v3/order', method: 'POST' });
    const id = cid();
    const limit = () => ref.h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '45000.00', newClientOrderId: id });
    const e = await expectBinanceError(limit());
    expect(e).toMatchObject({ kind: 'unknown_outcome', httpStatus: undefined, code: undefined });
    expect(ref.h.ex.findOrder('BTCUSDT', id)?.status).toBe('NEW');
    expect(await expectBinanceError(limit())).toMatchObject({ kind: 'rejected', code: -2010, msg: 'Duplicate order sent.' });
    expect(ref.h.ex.orders('BTCUSDT').filter((o) => o.clientOrderId === id)).toHaveLength(1);
  });

  test('client timeout while the exchange is slow: unknown_outcome, the order lands anyway', async () => {
    const fast = new BinanceSpotClient({ baseUrl: ref.h.ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, timeoutMs: 150 });
    try {
      await fast.syncTime();
      ref.h.ex.faults.inject({ kind: 'latency', ms: 400, path: '/api/v3/order' });
      const id = cid();
      const e = await expectBinanceError(fast.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: id }));
      expect(e.kind).toBe('unknown_outcome');
      expect(e.msg).toMatch(/timed out/);
      expect(ref.h.ex.findOrder('BTCUSDT', id)).toBeUndefined(); // still "in flight" on the exchange
      await sleep(500);
      expect(ref.h.ex.findOrder('BTCUSDT', id)?.status).toBe('FILLED');
    } finally {
      await fast.close();
    }
  });

  test('a timeout on a status query is unknown_outcome, never not_found', async () => {
    const fast = new BinanceSpotClient({ baseUrl: ref.h.ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, timeoutMs: 150 });
    try {
      await fast.syncTime();
      ref.h.ex.faults.inject({ kind: 'latency', ms: 400, path: '/api/v3/order', method: 'GET' });
      const e = await expectBinanceError(fast.getOrder({ symbol: 'BTCUSDT', origClientOrderId: 'whatever' }));
      expect(e.kind).toBe('unknown_outcome');
    } finally {
      await fast.close();
    }
  });

  test('429 burst: retry_later with Retry-After, nothing placed', async () => {
    ref.h.ex.faults.inject({ kind: 'rateLimit429', retryAfterSec: 1, times: 2, path: '/api/v3/order' });
    const id = cid();
    const e = await expectBinanceError(market(id));
    expect(e).toMatchObject({ kind: 'retry_later', httpStatus: 429, code: -1003, retryAfterMs: 1000 });
    expect(ref.h.ex.findOrder('BTCUSDT', id)).toBeUndefined();
  });

  test('clock skew: -1021 triggers one resync and a successful retry', async () => {
    expect(Math.abs(ref.h.client.timeOffsetMs())).toBeLessThan(1000);
    ref.h.ex.faults.inject({ kind: 'clockSkew', ms: 20_000 });
    const a = await ref.h.client.account();
    expect(a.canTrade).toBe(true);
    expect(ref.h.client.timeOffsetMs()).toBeGreaterThan(15_000);
  });

  test('-1021 that a resync cannot cure surfaces as retry_later after exactly one retry', async () => {
    const tight = new BinanceSpotClient({ baseUrl: ref.h.ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, recvWindow: 50 });
    try {
      await tight.syncTime();
      const fault = ref.h.ex.faults.inject({ kind: 'latency', ms: 200, path: '/api/v3/account', times: 0 });
      const e = await expectBinanceError(tight.account());
      expect(e).toMatchObject({ kind: 'retry_later', code: -1021, msg: 'Timestamp for this request is outside of the recvWindow.' });
      expect(ref.h.ex.faults.hits.get(fault)).toBe(2);
    } finally {
      await tight.close();
    }
  });

  test('connection refused before anything was sent is retry_later', async () => {
    const url = ref.h.ex.url;
    await ref.h.ex.close();
    const c = new BinanceSpotClient({ baseUrl: url });
    try {
      expect(await expectBinanceError(c.ping())).toMatchObject({ kind: 'retry_later', httpStatus: undefined });
    } finally {
      await c.close();
    }
  });
});

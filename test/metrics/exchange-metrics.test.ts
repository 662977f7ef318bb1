/** The exchange instrumentation Proxy and the mark-price cache, against fakes (no services). */
import { BinanceError, type BinanceSpotClient, type ExchangeInfo } from '../../src/exchange';
import { instrumentExchange } from '../../src/metrics/exchange';
import { ServiceMetrics } from '../../src/metrics/metrics';
import { startMetricsServer } from '../../src/metrics/server';
import { MarkPriceCache } from '../../src/portfolio/mark-prices';

class FakeClient {
  calls = 0;
  private secret = 'kept';
  async tickerPrice(symbol: string) {
    this.calls++;
    return { symbol, price: `${this.calls}00` };
  }
  async getOrder(): Promise<never> {
    throw new BinanceError({ httpStatus: 400, code: -2013, msg: 'Order does not exist.', kind: 'rejected', endpoint: 'GET /api/v3/order' });
  }
  usage() {
    return { budget: [], waitedMs: 0, bannedUntil: undefined } as unknown as ReturnType<BinanceSpotClient['usage']>;
  }
  peekSecret() {
    return this.secret;
  }
}

async function metricValue(m: ServiceMetrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const base = name.replace(/_count$/, '');
  const values = ((await m.registry.getSingleMetric(base)?.get())?.values ?? []) as Array<{ value: number; labels: Record<string, unknown>; metricName?: string }>;
  return values.find((v) => (v.metricName ?? base) === name && Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

test('calls are timed, errors counted by Binance code, and the client keeps its own state', async () => {
  const metrics = new ServiceMetrics({ defaultMetrics: false });
  const raw = new FakeClient();
  const client = instrumentExchange(raw as unknown as BinanceSpotClient, metrics) as unknown as FakeClient;
  expect(await client.tickerPrice('BTCUSDT')).toEqual({ symbol: 'BTCUSDT', price: '100' });
  await expect(client.getOrder()).rejects.toMatchObject({ code: -2013 });
  await expect(client.getOrder()).rejects.toBeInstanceOf(BinanceError);
  expect(client.peekSecret()).toBe('kept');
  expect(client).toBeInstanceOf(FakeClient);
  expect(await metricValue(metrics, 'exchange_requests_total', { method: 'tickerPrice', outcome: 'ok' })).toBe(1);
  expect(await metricValue(metrics, 'exchange_errors_total', { code: '-2013', kind: 'rejected', method: 'getOrder' })).toBe(2);
  expect(await metricValue(metrics, 'exchange_request_seconds_count', { method: 'getOrder' })).toBe(2);
  // Synchronous helpers are passed through untimed.
  expect(client.usage().waitedMs).toBe(0);
  expect(await metricValue(metrics, 'exchange_request_seconds_count', { method: 'usage' })).toBeUndefined();
});

test('the metrics endpoint serves the registry', async () => {
  const metrics = new ServiceMetrics({ defaultMetrics: false });
  metrics.orders.inc({ order_type: 'LIMIT', outcome: 'filled' });
  const server = await startMetricsServer({ registry: metrics.registry, port: 0, host: '127.0.0.1' });
  try {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^trade_orders_total\{order_type="LIMIT",outcome="filled"\} 1$/m);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  } finally {
    await server.close();
  }
});

test('mark prices: cached for the TTL, unlisted symbols never requested', async () => {
  let now = 0;
  const raw = new FakeClient();
  const info = { symbols: [{ symbol: 'BTCUSDT' }, { symbol: 'ETHUSDT' }] } as unknown as ExchangeInfo;
  const source = { tickerPrice: (s: string) => raw.tickerPrice(s), cachedExchangeInfo: async () => info };
  const marks = new MarkPriceCache(source, { ttlMs: 1000, now: () => now });
  expect(await marks.get(['BTCUSDT', 'NOPEUSDT'])).toEqual({ BTCUSDT: '100' });
  expect(raw.calls).toBe(1);
  now = 1000;
  expect(await marks.get(['BTCUSDT'])).toEqual({ BTCUSDT: '100' });
  expect(raw.calls).toBe(1);
  now = 1001;
  expect(await marks.get(['BTCUSDT', 'ETHUSDT'])).toEqual({ BTCUSDT: '200', ETHUSDT: '300' });
  expect(raw.calls).toBe(3);
  expect(marks.peek()).toEqual({ BTCUSDT: '200', ETHUSDT: '300' });
});

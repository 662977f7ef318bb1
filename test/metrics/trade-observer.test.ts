/**
 * Trade metrics and threshold alerts from execution reports, without services: an in-memory
 * stand-in for the two Redis commands AlertSink uses.
 */
import type Redis from 'ioredis';
import { AlertSink } from '../../src/alerts/alerts';
import { createLogger } from '../../src/logging';
import { ServiceMetrics } from '../../src/metrics/metrics';
import { TradeObserver } from '../../src/metrics/trade-observer';
import type { ExecutionReport } from '../../src/shared/trade';

function fakeRedis() {
  const keys = new Map<string, string>();
  const stream: string[][] = [];
  const r = {
    stream,
    async set(key: string, value: string, _px: string, _ms: number, _nx: string) {
      if (keys.has(key)) return null;
      keys.set(key, value);
      return 'OK';
    },
    async xadd(...args: string[]) {
      stream.push(args);
      return `${stream.length}-0`;
    },
  };
  return r;
}

let seq = 0;
function report(status: string, extra: Partial<ExecutionReport> = {}): ExecutionReport {
  seq++;
  return {
    report_type: 'trade',
    report_id: `trade-d${seq}:1`,
    decision_id: `d${seq}`,
    workflow_id: `trade-d${seq}`,
    order_id: seq,
    client_order_id: `c${seq}`,
    symbol: 'BTCUSDT',
    side: 'BUY',
    order_type: 'MARKET',
    quantity: '1',
    status,
    success: status === 'filled' || status === 'partially_filled',
    filled_quantity: '1',
    cancelled_quantity: '0',
    avg_fill_price: '1',
    quote_quantity: '1',
    commission: '0',
    commission_asset: null,
    commissions: {},
    execution_time: 100,
    error: null,
    timestamp: Date.now(),
    ...extra,
  };
}

async function value(metrics: ServiceMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const base = name.replace(/_count$/, '');
  const m = ((await metrics.registry.getSingleMetric(base)?.get())?.values ?? []) as Array<{
    value: number;
    labels: Record<string, unknown>;
    metricName?: string;
  }>;
  return m.find((v) => (v.metricName ?? base) === name && Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

function setup(thresholds = {}) {
  const redis = fakeRedis();
  const metrics = new ServiceMetrics({ defaultMetrics: false });
  const alerts = new AlertSink({ redis: redis as unknown as Redis, logger: createLogger('test', 'fatal') });
  const observer = new TradeObserver({ metrics, alerts, thresholds });
  return { redis, metrics, observer };
}

test('counts each final outcome once per report id, ignores intermediate transitions', async () => {
  const { metrics, observer } = setup();
  const filled = report('filled');
  await observer.reportPublished(filled);
  await observer.reportPublished(filled); // the activity retried
  await observer.reportPublished(report('working', { execution_time: null }));
  // A partial fill reported mid-trade is a transition, not the outcome; the final report of
  // the same workflow is.
  const partial = report('partially_filled', { execution_time: null });
  await observer.reportPublished(partial);
  await observer.reportPublished({ ...report('filled'), workflow_id: partial.workflow_id, report_id: `${partial.workflow_id}:2` });
  await observer.reportPublished(report('rejected', { order_type: 'LIMIT' }));
  expect(await value(metrics, 'trade_orders_total', { order_type: 'MARKET', outcome: 'filled' })).toBe(2);
  expect(await value(metrics, 'trade_orders_total', { outcome: 'partially_filled' })).toBeUndefined();
  expect(await value(metrics, 'trade_orders_total', { order_type: 'LIMIT', outcome: 'rejected' })).toBe(1);
  expect(await value(metrics, 'trade_orders_total', { outcome: 'working' })).toBeUndefined();
  expect(await value(metrics, 'trade_execution_reports_total', { status: 'working' })).toBe(1);
  expect(await value(metrics, 'trade_success_ratio')).toBeCloseTo(2 / 3, 10);
});

test('alerts once when the failure rate crosses its threshold, then respects the cooldown', async () => {
  const { redis, observer } = setup({ failureRate: 0.5, failureMinSamples: 4, failureWindow: 10 });
  // 2 of 4 failed = 50%: not above the threshold.
  for (const s of ['filled', 'failed', 'filled', 'failed']) await observer.reportPublished(report(s));
  expect(redis.stream).toHaveLength(0);
  // 3 of 5 = 60% > 50%: one alert; 4 of 6 still above, but within the cooldown.
  await observer.reportPublished(report('failed'));
  await observer.reportPublished(report('failed'));
  expect(redis.stream).toHaveLength(1);
  const fields = redis.stream[0]!;
  expect(fields.slice(fields.indexOf('kind'), fields.indexOf('kind') + 4)).toEqual(['kind', 'failure_rate', 'severity', 'critical']);
  expect(fields[fields.indexOf('message') + 1]).toMatch(/3 of the last 5 trades failed/);
});

test('timed-out, cancelled and refused trades are not failures: each outcome has its own rate', async () => {
  const { redis, metrics, observer } = setup({ failureRate: 0.25, failureMinSamples: 10, failureWindow: 50 });
  // The window: 29 filled, 21 that ended otherwise (LIMIT orders that timed out, operator
  // cancels, filter and exchange rejections), none failed. Reported as "21 of the last 50 trades failed".
  const outcomes = [...Array(29).fill('filled'), ...Array(9).fill('expired'), ...Array(7).fill('cancelled'), ...Array(5).fill('rejected')];
  for (const s of outcomes) await observer.reportPublished(report(s, { order_type: 'LIMIT' }));
  expect(redis.stream).toHaveLength(0);
  expect(await value(metrics, 'trade_outcome_ratio', { outcome: 'failed' })).toBe(0);
  expect(await value(metrics, 'trade_outcome_ratio', { outcome: 'expired' })).toBeCloseTo(9 / 50, 10);
  expect(await value(metrics, 'trade_outcome_ratio', { outcome: 'cancelled' })).toBeCloseTo(7 / 50, 10);
  expect(await value(metrics, 'trade_outcome_ratio', { outcome: 'rejected' })).toBeCloseTo(5 / 50, 10);
  expect(await value(metrics, 'trade_outcome_ratio', { outcome: 'filled' })).toBeCloseTo(29 / 50, 10);
  // A real failure among them: 1 of 50 is 2 %, still no alert; its rate is its own.
  await observer.reportPublished(report('failed'));
  expect(await value(metrics, 'trade_outcome_ratio', { outcome: 'failed' })).toBeCloseTo(1 / 50, 10);
  expect(redis.stream).toHaveLength(0);
});

test('a trade slower than the latency threshold alerts', async () => {
  const { redis, metrics, observer } = setup({ tradeLatencyMs: 1000 });
  await observer.reportPublished(report('filled', { execution_time: 999 }));
  expect(redis.stream).toHaveLength(0);
  await observer.reportPublished(report('filled', { execution_time: 1500 }));
  expect(redis.stream).toHaveLength(1);
  expect(redis.stream[0]).toContain('trade_latency');
  expect(await value(metrics, 'trade_duration_seconds_count')).toBe(2);
});

test('fills are counted once per trade id', async () => {
  const { metrics, observer } = setup();
  const f = { tradeId: 7, orderId: 1, clientOrderId: 'c', symbol: 'BTCUSDT', side: 'BUY' as const, price: '1', qty: '1', quoteQty: '1', commission: '0', commissionAsset: 'BTC', isMaker: false, time: 0 };
  const summary = { fills: [f, { ...f, tradeId: 8 }], filledQty: '2', quoteQty: '2', avgPrice: '1', commissions: {} };
  observer.fillsSettled(summary);
  observer.fillsSettled(summary);
  expect(await value(metrics, 'trade_fills_total', { symbol: 'BTCUSDT', side: 'BUY' })).toBe(2);
});

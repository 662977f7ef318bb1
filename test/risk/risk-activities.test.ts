/**
 * The pre-trade risk activity on the real things: positions and recent orders from PostgreSQL,
 * the mark from the paper exchange over HTTP (through the worker's mark cache). Each rule refuses
 * with its name, a nonRetryable ApplicationFailure of type RiskRefused, and the refusal is counted.
 */
import { ApplicationFailure } from '@temporalio/common';
import { createRiskActivities } from '../../activities/risk-activities';
import { createActivities } from '../../activities';
import { createLogger } from '../../src/logging';
import { ServiceMetrics } from '../../src/metrics/metrics';
import { adjustInventory } from '../../src/persistence/stores/inventory';
import { MarkPriceCache } from '../../src/portfolio/mark-prices';
import type { RiskLimits } from '../../src/risk/pre-trade-guard';
import { dec, toWire } from '../../src/shared/decimal';
import { usePaperAndDatabase } from '../reconciliation/support/paper-and-database';

const LIMITS: RiskLimits = { maxOrderNotional: '1000', maxPositionNotional: '3000', priceCollarPct: '10', passivePriceCollarPct: '50', maxOrdersPerMinute: 5 };

let metrics: ServiceMetrics;
let risk: ReturnType<typeof createRiskActivities>;

const env = usePaperAndDatabase('risk', 21, (s) => {
  metrics = new ServiceMetrics({ defaultMetrics: false });
  risk = createRiskActivities({ exchange: s.exchange, pool: s.pool, marks: new MarkPriceCache(s.exchange), riskLimits: LIMITS, metrics, logger: createLogger('risk-test', 'fatal') });
});

const mark = () => dec(env.paper.price('BTCUSDT'));
/** A quantity worth about `quote` at the current mark, on BTCUSDT's 0.00001 lot step. */
const qtyWorth = (quote: number) => toWire(dec(quote).div(mark()).toDecimalPlaces(5, 1));

/** The RiskRefused failure `p` rejects with. */
async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  const f = err as ApplicationFailure;
  expect(f.type).toBe('RiskRefused');
  expect(f.nonRetryable).toBe(true);
  return f;
}

async function refusals(rule: string): Promise<number> {
  const v = (await metrics.registry.getSingleMetric('risk_refusals_total')?.get())?.values ?? [];
  return v.find((x) => x.labels.rule === rule)?.value ?? 0;
}

test('an ordinary order passes and gets the mark it was judged against', async () => {
  const q = qtyWorth(500);
  const r = await risk.checkPreTradeRisk({ decisionId: 'ok-1', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: q, notional: toWire(mark().mul(q)) });
  expect(dec(r.markPrice).gt(0)).toBe(true);
  expect(dec(r.markPrice).minus(mark()).abs().div(mark()).lt('0.05')).toBe(true);
});

test('max_order_notional: a fat-finger size is refused with the figures', async () => {
  const f = await refusal(risk.checkPreTradeRisk({ decisionId: 'big-1', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '500', notional: '1' }));
  expect(f.message).toMatch(/^max_order_notional: BUY 500 BTCUSDT is \d+(\.\d+)? in the quote asset, above the limit of 1000 per order/);
  expect(f.details).toEqual([{ rule: 'max_order_notional', reason: f.message.slice('max_order_notional: '.length) }]);
  expect(await refusals('max_order_notional')).toBe(1);
});

test('price_collar: a LIMIT ten times the mark is refused; one resting 20 % below passes', async () => {
  const price = toWire(mark().mul(10).toDecimalPlaces(2));
  const f = await refusal(risk.checkPreTradeRisk({ decisionId: 'collar-1', symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.00001', price, notional: '1' }));
  expect(f.message).toMatch(new RegExp(`^price_collar: BUY LIMIT price ${price.replace('.', '\\.')} is \\d+(\\.\\d+)? % above the mark`));
  const resting = toWire(mark().mul('0.8').toDecimalPlaces(2));
  await expect(risk.checkPreTradeRisk({ decisionId: 'collar-2', symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.00001', price: resting, notional: '1' })).resolves.toBeDefined();
});

test('max_position_notional: the position in PostgreSQL counts, and a SELL that reduces it passes', async () => {
  // 2,900 worth held; buying 500 more would pass max_order_notional but not the position limit.
  await adjustInventory(env.pool, {
    symbol: 'BTCUSDT',
    baseAsset: 'BTC',
    quoteAsset: 'USDT',
    kind: 'external_inventory',
    qty: qtyWorth(2900),
    price: toWire(mark()),
    idempotencyKey: 'risk-test-seed',
    reason: 'test',
  });
  const q = qtyWorth(500);
  const f = await refusal(risk.checkPreTradeRisk({ decisionId: 'pos-1', symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: q, notional: toWire(mark().mul(q)) }));
  expect(f.message).toMatch(/^max_position_notional: BTCUSDT position would go from 0\.0\d+ to 0\.0\d+, worth \d+(\.\d+)? at the mark .* above the limit of 3000/);
  await expect(risk.checkPreTradeRisk({ decisionId: 'pos-2', symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: q, notional: toWire(mark().mul(q)) })).resolves.toBeDefined();
});

test("max_order_rate: the account's orders of the last minute count, not its own decision's, not those never placed, not older ones", async () => {
  const insert = (id: string, decisionId: string, status: string, age = '0 seconds') =>
    env.pool.query(
      `INSERT INTO orders (client_order_id, decision_id, symbol, side, type, purpose, orig_qty, status, created_at)
       VALUES ($1, $2, 'BTCUSDT', 'BUY', 'MARKET', 'entry', 0.001, $3, now() - $4::interval)`,
      [id, decisionId, status, age],
    );
  for (let i = 0; i < 4; i++) await insert(`rate-${i}`, `rate-d${i}`, 'FILLED');
  await insert('rate-old', 'rate-old', 'FILLED', '2 minutes');
  await insert('rate-np', 'rate-np', 'NOT_PLACED');
  await insert('rate-own', 'rate-me', 'NEW');
  const req = { decisionId: 'rate-me', symbol: 'ETHUSDT', side: 'BUY' as const, type: 'MARKET', quantity: '0.01', notional: '1' };
  // 4 counted (limit 5): this one is the 5th.
  await expect(risk.checkPreTradeRisk(req)).resolves.toBeDefined();
  await insert('rate-4', 'rate-d4', 'NEW');
  const f = await refusal(risk.checkPreTradeRisk(req));
  expect(f.message).toBe('max_order_rate: the account sent 5 orders in the last minute; the limit is 5 per minute (RISK_MAX_ORDERS_PER_MINUTE)');
  expect(await refusals('max_order_rate')).toBe(1);
});

test('registered with every other activity: the worker serves checkPreTradeRisk', () => {
  const all = createActivities({ exchange: env.exchange, pool: env.pool, logger: createLogger('risk-test', 'fatal') } as unknown as Parameters<typeof createActivities>[0]);
  expect(typeof all.checkPreTradeRisk).toBe('function');
});

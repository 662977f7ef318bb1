/**
 * Reconciliation moves orders by the one order state machine. An order it had settled as
 * NOT_PLACED (the exchange did not know it, long after any recvWindow) that turns up on the
 * exchange after all — a reset that reused the client order id, a settlement made on wrong
 * information — takes the exchange's status instead of staying "never placed" for ever; an open
 * exchange order whose stored status cannot become the exchange's (stored FILLED, listed NEW) is
 * reported, logged and counted, not overwritten. Real Postgres and the paper exchange over HTTP.
 */
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/logging';
import { ServiceMetrics } from '../../src/metrics/metrics';
import { getOrder, upsertOrder } from '../../src/persistence/stores/orders';
import { Reconciler } from '../../src/reconciliation/reconciler';
import type { ReconciliationInput } from '../../src/reconciliation/types';
import { dec } from '../../src/shared/decimal';
import { usePaperAndDatabase } from './support/paper-and-database';

const INPUT: ReconciliationInput = { symbols: ['BTCUSDT'], repair: true, staleOrderMs: 60_000 };
const tag = randomBytes(3).toString('hex');

let metrics: ServiceMetrics;
let reconciler: Reconciler;

const env = usePaperAndDatabase('lateorder', 5, (s) => {
  metrics = new ServiceMetrics({ defaultMetrics: false });
  reconciler = new Reconciler({ pool: s.pool, exchange: s.exchange, logger: createLogger('late-order-test', 'silent'), metrics });
});

/** A resting LIMIT BUY 10 % below the market, placed on the exchange under `clientOrderId`. */
async function restingBuy(clientOrderId: string) {
  const price = dec(env.paper.price('BTCUSDT')).mul('0.9').toDecimalPlaces(2).toFixed(2);
  const placed = await env.exchange.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price, newClientOrderId: clientOrderId });
  return { price, orderId: placed.orderId };
}

/** As if nobody had touched the row for an hour (reconciliation leaves fresh rows to their workflow). */
async function age(clientOrderId: string): Promise<void> {
  await env.pool.query(`UPDATE orders SET updated_at = now() - interval '1 hour' WHERE client_order_id = $1`, [clientOrderId]);
}

test('an order settled as NOT_PLACED that turns up open on the exchange is moved to its status', async () => {
  const id = `te-late-${tag}`;
  const base = { client_order_id: id, symbol: 'BTCUSDT', side: 'BUY' as const, type: 'LIMIT', purpose: 'entry', orig_qty: '0.001' };
  await upsertOrder(env.pool, { ...base, status: 'PENDING_SUBMIT' });
  await upsertOrder(env.pool, { ...base, status: 'NOT_PLACED' });
  const { orderId } = await restingBuy(id);
  await age(id);

  const r = await reconciler.reconcileSymbol(`run-${tag}-1`, 'BTCUSDT', INPUT, 0);
  expect(r.drifts.filter((d) => d.kind === 'order_status')).toEqual([
    expect.objectContaining({ subject: `BTCUSDT:${id}`, repaired: true, detail: expect.objectContaining({ stored: { status: 'NOT_PLACED', executedQty: '0' } }) }),
  ]);
  expect(await getOrder(env.pool, id)).toMatchObject({ status: 'NEW', exchange_order_id: String(orderId) });
  await env.exchange.cancelOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
});

test('an open exchange order whose stored status is final is reported and counted, not overwritten', async () => {
  const id = `te-contra-${tag}`;
  await restingBuy(id);
  await upsertOrder(env.pool, { client_order_id: id, symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', purpose: 'entry', orig_qty: '0.001', status: 'FILLED', executed_qty: '0.001' });
  await age(id);

  const r = await reconciler.reconcileSymbol(`run-${tag}-2`, 'BTCUSDT', INPUT, 0);
  expect(r.drifts.filter((d) => d.kind === 'order_status')).toEqual([
    expect.objectContaining({ subject: `BTCUSDT:${id}`, repaired: false, detail: expect.objectContaining({ refused: expect.stringMatching(/^filled \+ accepted: /) }) }),
  ]);
  expect((await getOrder(env.pool, id))?.status).toBe('FILLED');
  const counted = (await metrics.orderTransitionsRefused.get()).values.find((v) => v.labels.source === 'reconciliation');
  expect(counted).toMatchObject({ value: 1, labels: { state: 'filled', event: 'accepted' } });
  await env.exchange.cancelOrder({ symbol: 'BTCUSDT', origClientOrderId: id });
});

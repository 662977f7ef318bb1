/**
 * Issue 11, item 1: a workflow cancelled (the Temporal UI's "Request Cancellation") while one of
 * its requests is on the wire must settle that request before it ends: nothing it sent may stay
 * live on the exchange, and nothing that filled may go unbooked. Each case holds one request
 * at the paper exchange (a latency fault) and cancels the workflow while it is held.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { FaultInput } from '../../src/paper-exchange';
import { readReports } from '../support/streams';
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
const OPEN = new Set(['NEW', 'PARTIALLY_FILLED', 'PENDING_NEW']);

const h = useTradeHarness({ name: 'cancelplace', recvWindowMs: 1500 });

/** Holds the next matching request for `ms`, and resolves once it is being held. */
async function holdNext(match: Pick<FaultInput, 'method' | 'path'>, ms = 2500): Promise<void> {
  const id = h.paper.faults.inject({ kind: 'latency', ms, ...match });
  await eventually(`a ${match.method} ${match.path} to reach the exchange`, () => (h.paper.faults.hits.get(id) ?? 0) >= 1, 60_000);
}

/** Every client order id the trade recorded (intents are recorded before they are sent). */
async function clientIdsOf(handle: WorkflowHandle): Promise<string[]> {
  const { rows } = await h.pg.query<{ client_order_id: string }>('SELECT client_order_id FROM orders WHERE workflow_id = $1', [handle.workflowId]);
  return rows.map((r) => r.client_order_id);
}

async function closedByCancel(handle: WorkflowHandle): Promise<void> {
  await handle.cancel();
  await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
  expect((await handle.describe()).status.name).toBe('CANCELLED');
}

/** The exchange's orders for the trade's client ids, by status; none may still be open. */
async function expectNothingLive(handle: WorkflowHandle): Promise<void> {
  const ids = new Set(await clientIdsOf(handle));
  // A request held by the fault may land after the workflow closed: give it the time to.
  await new Promise((r) => setTimeout(r, 3000));
  const live = h.paper.orders(BTC).filter((o) => ids.has(o.clientOrderId) && OPEN.has(o.status));
  expect(live.map((o) => `${o.clientOrderId} ${o.status}`)).toEqual([]);
}

async function finalReport(handle: WorkflowHandle) {
  return eventually('the trade report', async () => (await readReports(h.redis)).find((r) => r.report.workflow_id === handle.workflowId)?.report);
}

test('LIMIT: cancelled while the order is being placed, the order is cancelled on the exchange too', async () => {
  const handle = await h.start({ decision_id: h.id('limit'), order_type: 'LIMIT', limit_price: '50000', timeout_ms: 300_000 });
  await holdNext({ method: 'POST', path: '/api/v3/order' });
  await closedByCancel(handle);
  await expectNothingLive(handle);
  expect((await finalReport(handle)).status).toBe('cancelled');
});

test('MARKET: cancelled while the order is being placed, the fill is booked and reported', async () => {
  const handle = await h.start({ decision_id: h.id('market') });
  await holdNext({ method: 'POST', path: '/api/v3/order' });
  await handle.cancel();
  // The order filled before the cancellation could be observed: the workflow may end cancelled
  // or completed; either way what filled is booked and reported.
  await handle.result().catch(() => undefined);
  const ids = await clientIdsOf(handle);
  const onExchange = h.paper.orders(BTC).filter((o) => ids.includes(o.clientOrderId));
  expect(onExchange.map((o) => o.status)).toEqual(['FILLED']);
  const report = await finalReport(handle);
  expect(report).toMatchObject({ status: 'filled', filled_quantity: '0.001' });
  const { rows } = await h.pg.query<{ qty: string }>('SELECT COALESCE(sum(qty), 0)::text AS qty FROM fills WHERE client_order_id = ANY($1)', [ids]);
  expect(Number(rows[0]!.qty)).toBe(0.001);
});

test('amend: cancelled while the replacement is being placed, no order of the trade stays open', async () => {
  const handle = await h.start({ decision_id: h.id('amend'), order_type: 'LIMIT', limit_price: '50000', approved_size: '0.002', timeout_ms: 300_000 });
  await eventually('the order to rest', async () => (await h.state(handle)).status === 'working');
  // Whichever way the amend is sent (cancel-replace, or cancel then a new order), it lands at
  // once and its answer is held: the replacement is live while the workflow is cancelled.
  h.paper.faults.inject({ kind: 'delayedResponse', ms: 2500, method: 'POST', path: '/api/v3/order/cancelReplace' });
  const held = h.paper.faults.inject({ kind: 'delayedResponse', ms: 2500, method: 'POST', path: '/api/v3/order' });
  const amend = handle.executeUpdate('amend', { args: [{ price: '49000' }] }).catch((e: unknown) => e);
  await eventually('the amend to reach the exchange', () => (h.paper.faults.hits.get(held) ?? 0) >= 1 || h.paper.faults.list().length < 2, 60_000);
  await closedByCancel(handle);
  await amend;
  await expectNothingLive(handle);
});

test('bracket: cancelled while the protective OCO is being placed, both legs are cancelled', async () => {
  const handle = await h.start({ decision_id: h.id('bracket'), stop_loss: '55000', take_profit: '65000' });
  await holdNext({ method: 'POST', path: '/api/v3/orderList/oco' });
  await closedByCancel(handle);
  await expectNothingLive(handle);
  const ids = await clientIdsOf(handle);
  const legs = h.paper.orders(BTC).filter((o) => ids.includes(o.clientOrderId) && o.type !== 'MARKET');
  expect(legs.length).toBe(2);
});

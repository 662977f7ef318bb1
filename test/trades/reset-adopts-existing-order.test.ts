/**
 * Issue 11, item 9: `temporal workflow reset` to before the submission (a common recovery step)
 * runs the submission again as attempt 1. It must not send blindly: Binance, and the paper
 * exchange, accept a client order id again once its first order is no longer open, so a blind
 * resend is a second order. The reset run must find the order the first run placed (the send
 * log in Postgres says it was sent) and adopt it: exactly one order per client order id.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { isBinanceError } from '../../src/exchange/errors';
import type { TradeState } from '../../src/shared/trade';
import { useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
const OPEN = new Set(['NEW', 'PARTIALLY_FILLED', 'PENDING_NEW']);

const h = useTradeHarness({ name: 'resetresend', recvWindowMs: 1500 });

/** Resets the run to its first completed workflow task: everything after it runs again. */
async function resetToFirstWorkflowTask(handle: WorkflowHandle): Promise<string> {
  const desc = await handle.describe();
  const history = await handle.fetchHistory();
  const first = (history.events ?? []).find((e) => e.workflowTaskCompletedEventAttributes != null);
  if (!first?.eventId) throw new Error(`no completed workflow task in ${handle.workflowId}'s history`);
  const { runId } = await h.svc.temporal.workflowService.resetWorkflowExecution({
    namespace: h.svc.temporal.options.namespace,
    workflowExecution: { workflowId: handle.workflowId, runId: desc.runId },
    reason: 'test: reset to before the submission',
    workflowTaskFinishEventId: first.eventId,
    requestId: randomUUID(),
  });
  if (!runId) throw new Error('reset returned no run id');
  return runId;
}

/**
 * The reset run's final state, or (if it has not ended within `ms`) a description of where it
 * stands, so that a stuck run fails the test with its status rather than a jest timeout.
 */
async function resultOfRun(handle: WorkflowHandle, runId: string, ms = 60_000): Promise<TradeState | string> {
  const run = h.svc.temporal.workflow.getHandle(handle.workflowId, runId);
  // Polled, not long-polled: a result() still pending when the test ends would outlive the client.
  const deadline = Date.now() + ms;
  while ((await run.describe()).status.name === 'RUNNING') {
    if (Date.now() > deadline) {
      const st = await run.query<TradeState>('getState');
      return `the reset run has not ended after ${ms} ms: status ${st.status}, orders ${st.orders.map((o) => `${o.intent.clientOrderId} ${o.state}`).join(', ')}`;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return (run.result() as Promise<TradeState>).catch((e: unknown) => `the reset run failed: ${String(e)}`);
}

function finalOf(result: TradeState | string): TradeState {
  if (typeof result === 'string') throw new Error(result);
  return result;
}

function ordersFor(cid: string) {
  return h.paper.orders(BTC).filter((o) => o.clientOrderId === cid);
}

test('the paper exchange, like Binance, accepts a client order id again once its order is no longer open', async () => {
  // The premise of the defect: without it a blind resend would be refused, not duplicated.
  const cid = `reuse-${Date.now()}`;
  await h.svc.exchange.newOrder({ symbol: BTC, side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '50000', newClientOrderId: cid });
  const whileOpen = await h.svc.exchange
    .newOrder({ symbol: BTC, side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '50000', newClientOrderId: cid })
    .then(() => undefined, (e: unknown) => e);
  expect(isBinanceError(whileOpen, 'rejected') && whileOpen.code).toBe(-2010);
  await h.svc.exchange.cancelOrder({ symbol: BTC, origClientOrderId: cid });
  await h.svc.exchange.newOrder({ symbol: BTC, side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid });
  expect(ordersFor(cid).map((o) => o.status).sort()).toEqual(['CANCELED', 'FILLED']);
});

test('MARKET filled, then the workflow is reset to before the submission: the reset run adopts the fill, no second order', async () => {
  const handle = await h.start({ decision_id: h.id('market') });
  const first = await h.result(handle);
  expect(first.status).toBe('filled');
  const cid = first.orders[0]!.intent.clientOrderId;
  expect(ordersFor(cid)).toHaveLength(1);

  const runId = await resetToFirstWorkflowTask(handle);
  const result = await resultOfRun(handle, runId);

  expect(ordersFor(cid).map((o) => o.status)).toEqual(['FILLED']);
  const again = finalOf(result);
  expect(again.status).toBe('filled');
  expect(again.orders.map((o) => o.intent.clientOrderId)).toEqual([cid]);
  expect(again.orders[0]!.exchange?.orderId).toBe(first.orders[0]!.exchange?.orderId);
  // The fill is booked once: the reset run's bookkeeping sees the same exchange trade.
  const { rows } = await h.pg.query<{ qty: string }>('SELECT COALESCE(sum(qty), 0)::text AS qty FROM fills WHERE client_order_id = $1', [cid]);
  expect(Number(rows[0]!.qty)).toBe(0.001);
}, 150_000);

// The reset run adopts the CANCELED order (nothing re-placed) and continues the transitions the
// first run stored (#2 submitted → cancel_requested, …) instead of recording its own under the
// same numbers, which the books refused (StoreConflictError, retried for ever) before.
test('LIMIT cancelled at its timeout, then reset to before the submission: the reset run adopts the cancelled order, nothing is re-placed', async () => {
  const handle = await h.start({ decision_id: h.id('limit'), order_type: 'LIMIT', limit_price: '50000', timeout_ms: 1500 });
  const first = await h.result(handle);
  const cid = first.orders[0]!.intent.clientOrderId;
  expect(ordersFor(cid).map((o) => o.status)).toEqual(['CANCELED']);

  const runId = await resetToFirstWorkflowTask(handle);
  const result = await resultOfRun(handle, runId);
  // Give a blind resend the time to land.
  await new Promise((r) => setTimeout(r, 1000));

  expect(ordersFor(cid).map((o) => o.status)).toEqual(['CANCELED']);
  expect(ordersFor(cid).filter((o) => OPEN.has(o.status))).toEqual([]);
  const again = finalOf(result);
  expect(again.status).toBe('cancelled');
  expect(again.orders[0]!.exchange?.orderId).toBe(first.orders[0]!.exchange?.orderId);
}, 150_000);

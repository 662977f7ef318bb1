/**
 * Issue 11, item 2: an amend racing a fill must never make the trade execute more than risk
 * approved. The sum of executedQty over every entry order of the trade, as the exchange has
 * it, stays at or below the approved size, whatever filled between the workflow's last look at
 * the order and the amend.
 *
 * The race is made deterministic: the user data stream is off (the workflow only polls), and a
 * counterparty fill (POST /admin/fill) is injected right before the amend update, so the
 * workflow's snapshot of the order is older than the fill when it acts on the amend.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { dec } from '../../src/shared/decimal';
import type { TradeState } from '../../src/shared/trade';
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
const KEEP_PRIORITY = 'PUT /api/v3/order/amend/keepPriority';

const h = useTradeHarness({ name: 'amendraces', push: false });

async function restingEntry(name: string, approved: string): Promise<{ handle: WorkflowHandle; entryId: string }> {
  const handle = await h.start({ decision_id: h.id(name), order_type: 'LIMIT', limit_price: '50000', approved_size: approved, timeout_ms: 300_000 });
  const s = await eventually('the entry to rest', async () => {
    const st = await h.state(handle);
    return st.status === 'working' && st.orders[0]?.exchange?.status === 'NEW' ? st : undefined;
  }, 60_000);
  // Let the poll schedule spread out (1 s, 2 s, 4 s, ...) so no poll falls between the fill and the amend.
  await new Promise((r) => setTimeout(r, 2500));
  return { handle, entryId: s.orders[0]!.intent.clientOrderId };
}

/** A counterparty fills `quantity` of the resting order now, on the exchange only. */
async function injectFill(clientOrderId: string, quantity: string): Promise<void> {
  const res = await fetch(`${h.paper.url}/admin/fill`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ symbol: BTC, origClientOrderId: clientOrderId, quantity }),
  });
  expect(res.status).toBe(200);
}

/** The trade's entry-phase orders as the exchange has them (by the client ids the trade recorded). */
async function entryOrdersOnExchange(handle: WorkflowHandle) {
  const { rows } = await h.pg.query<{ client_order_id: string }>(
    "SELECT client_order_id FROM orders WHERE workflow_id = $1 AND purpose <> 'bracket'",
    [handle.workflowId],
  );
  const ids = new Set(rows.map((r) => r.client_order_id));
  return h.paper.orders(BTC).filter((o) => ids.has(o.clientOrderId));
}

async function executedOnExchange(handle: WorkflowHandle): Promise<string> {
  return (await entryOrdersOnExchange(handle)).reduce((acc, o) => acc.plus(o.executedQty), dec(0)).toFixed();
}

/** Fails with every entry order of the trade (status, executed/quantity) when it executed more than approved. */
async function expectWithinApproved(handle: WorkflowHandle, approved: string): Promise<void> {
  const orders = await entryOrdersOnExchange(handle);
  const executed = orders.reduce((acc, o) => acc.plus(o.executedQty), dec(0));
  const summary = { approved, executed: executed.toFixed(), orders: orders.map((o) => `${o.clientOrderId} ${o.status} ${o.executedQty}/${o.origQty}`) };
  expect(executed.lte(approved) ? 'within the approved size' : summary).toBe('within the approved size');
}

/** Whatever still rests fills: the price falls through every BUY limit of the trade. */
async function fillEverythingResting(handle: WorkflowHandle, price: string): Promise<TradeState> {
  h.paper.setPrice(BTC, price);
  return eventually('the trade to end', async () => {
    const d = await handle.describe();
    return d.status.name === 'COMPLETED' ? h.result(handle) : undefined;
  }, 90_000);
}

test('price amend right after an unseen fill: the replacement is only what is left, never the full size again', async () => {
  const { handle, entryId } = await restingEntry('price', '0.002');
  await injectFill(entryId, '0.001');
  const amend = await handle.executeUpdate('amend', { args: [{ price: '49000' }] }).then(
    () => 'answered',
    (e: unknown) => `refused: ${e instanceof Error ? e.message : String(e)}`,
  );
  expect(amend).toBe('answered');
  await fillEverythingResting(handle, '48000');
  // The approved size bounds what the trade executed, over the old order and its replacement.
  await expectWithinApproved(handle, '0.002');
  expect(dec(await executedOnExchange(handle)).toFixed()).toBe('0.002');
});

test('quantity-only amend right after an unseen fill: amended in place (same order, keep priority), never above the new total', async () => {
  const { handle, entryId } = await restingEntry('qty', '0.002');
  const before = h.paper.findOrder(BTC, entryId)!;
  const keepPriorityBefore = h.paper.requestCounts()[KEEP_PRIORITY] ?? 0;
  await injectFill(entryId, '0.001');
  const amend = await handle.executeUpdate('amend', { args: [{ quantity: '0.0015' }] }).then(
    () => 'answered',
    (e: unknown) => `refused: ${e instanceof Error ? e.message : String(e)}`,
  );
  expect(amend).toBe('answered');
  const orders = await entryOrdersOnExchange(handle);
  // One order, the same one: its queue priority was kept, not cancelled and re-placed.
  expect(orders.map((o) => o.orderId)).toEqual([before.orderId]);
  expect(orders[0]!.origQty).toBe('0.00150000');
  expect((h.paper.requestCounts()[KEEP_PRIORITY] ?? 0) - keepPriorityBefore).toBeGreaterThanOrEqual(1);
  await fillEverythingResting(handle, '49000');
  await expectWithinApproved(handle, '0.002');
  expect(dec(await executedOnExchange(handle)).toFixed()).toBe('0.0015');
});

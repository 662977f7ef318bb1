/**
 * Operators' controls on a live trade: cancelling the workflow (what the Temporal UI's "Request
 * Cancellation" does), updates with validators (valid and invalid), signals, and finding
 * in-flight trades by search attributes.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TradeState } from '../../src/shared/trade';
import { refused } from '../support/refused';
import { readReports, readStream } from '../support/streams';
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';

const h = useTradeHarness({ name: 'operators' }, { clearFaults: false });

async function restingLimit(name: string, extra: Record<string, unknown> = {}): Promise<{ handle: WorkflowHandle; state: TradeState }> {
  const handle = await h.start({ decision_id: h.id(name), order_type: 'LIMIT', limit_price: '50000', approved_size: '0.002', timeout_ms: 300_000, ...extra });
  const state = await eventually('the order to rest', async () => {
    const s = await h.state(handle);
    return s.status === 'working' ? s : undefined;
  });
  return { handle, state };
}

type UpdateByName = (name: string, options: { args: unknown[] }) => Promise<TradeState>;
const update = (handle: WorkflowHandle, name: string, arg?: unknown) =>
  (handle.executeUpdate.bind(handle) as UpdateByName)(name, { args: arg === undefined ? [] : [arg] });

test('cancelling the workflow (the UI action) cancels the order on the exchange and reports it', async () => {
  const { handle, state } = await restingLimit('uicancel');
  const cid = state.orders[0]!.intent.clientOrderId;
  expect(h.paper.findOrder(BTC, cid)?.status).toBe('NEW');

  await handle.cancel();
  await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
  expect((await handle.describe()).status.name).toBe('CANCELLED');
  expect(h.paper.findOrder(BTC, cid)?.status).toBe('CANCELED');
  const report = (await readReports(h.redis)).find((r) => r.report.workflow_id === handle.workflowId)!.report;
  expect(report).toMatchObject({ status: 'cancelled', success: false, filled_quantity: '0', cancelled_quantity: '0.002' });
  const { rows } = await h.pg.query('SELECT status FROM orders WHERE client_order_id = $1', [cid]);
  expect(rows).toEqual([{ status: 'CANCELED' }]);
});

test('in-flight trades are found by search attributes and carry a one-line summary', async () => {
  const { handle } = await restingLimit('search');
  const found = await eventually('visibility to list the trade', async () => {
    const ids: string[] = [];
    const query = `TradeSymbol = 'BTCUSDT' AND TradeStatus = 'working' AND ExecutionStatus = 'Running' AND DecisionId = '${h.id('search')}'`;
    for await (const wf of h.svc.temporal.workflow.list({ query })) ids.push(wf.workflowId);
    return ids.length ? ids : undefined;
  });
  expect(found).toEqual([handle.workflowId]);
  const described = await handle.describe();
  expect(String((await described.memo)?.summary)).toMatch(/BUY 0\/0\.002 BTCUSDT LIMIT — working/);
  await update(handle, 'cancel', { reason: 'test done' });
});

test('cancel update: valid cancels and answers with the state; on a finished trade it is refused', async () => {
  const { handle } = await restingLimit('cancelupd');
  const after = await update(handle, 'cancel', { reason: 'risk off' });
  expect(after.orders[0]!.state).toBe('cancelled');
  const final = await h.result(handle);
  expect(final.status).toBe('cancelled');
  // A finished workflow takes no updates at all: the server refuses before any validator runs.
  await expect(update(handle, 'cancel', {})).rejects.toThrow(/already completed/);
});

test('amend: a new price is a cancel-replace under a new client order id; invalid amends are refused and change nothing', async () => {
  const { handle, state } = await restingLimit('amend');
  const oldCid = state.orders[0]!.intent.clientOrderId;

  expect(await refused(update(handle, 'amend', { price: 'abc' }))).toMatch(/^price: must be a positive decimal/);
  expect(await refused(update(handle, 'amend', { quantity: '5' }))).toMatch(/quantity: 5 exceeds the approved size 0.002/);
  expect(await refused(update(handle, 'amend', {}))).toMatch(/give a new price, a new quantity, or both/);
  const unchanged = await h.state(handle);
  expect(unchanged.orders).toHaveLength(1);
  expect(unchanged.operations).toHaveLength(0);

  const amended = await update(handle, 'amend', { price: '51000', quantity: '0.0015' });
  const replacement = amended.orders[1]!;
  expect(replacement.intent.purpose).toBe('replacement');
  expect(replacement.intent.clientOrderId).not.toBe(oldCid);
  expect(h.paper.findOrder(BTC, oldCid)?.status).toBe('CANCELED');
  const onExchange = h.paper.findOrder(BTC, replacement.intent.clientOrderId)!;
  expect(onExchange).toMatchObject({ status: 'NEW', origQty: '0.00150000' });
  expect(Number(onExchange.price)).toBe(51000);

  h.paper.setPrice(BTC, '50900');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  expect(final.targetQty).toBe('0.0015');
});

test('close now: the rest of a resting LIMIT becomes a MARKET order', async () => {
  const { handle, state } = await restingLimit('closenow');
  const after = await update(handle, 'closeNow');
  const close = after.orders.find((o) => o.intent.purpose === 'close')!;
  expect(close.intent).toMatchObject({ type: 'MARKET', quantity: '0.002', side: 'BUY' });
  expect(h.paper.findOrder(BTC, state.orders[0]!.intent.clientOrderId)?.status).toBe('CANCELED');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
});

test('set timeout: valid shortens the rest; a timeout in the past or below a second is refused', async () => {
  const { handle } = await restingLimit('timeout');
  expect(await refused(update(handle, 'setTimeout', { timeoutMs: 10 }))).toMatch(/at least 1000/);
  const s = await h.state(handle);
  await new Promise((r) => setTimeout(r, Math.max(0, s.startedAt + 1100 - Date.now())));
  expect(await refused(update(handle, 'setTimeout', { timeoutMs: 1000 }))).toMatch(/already in the past/);
  // Passes the validator but not the exchange's LOT_SIZE rule: the update fails, the order stays.
  expect(await refused(update(handle, 'amend', { quantity: '0.0000001' }))).toMatch(/^LOT_SIZE: quantity 0 .* below minQty/);
  expect((await h.state(handle)).orders.map((o) => o.state)).toEqual(['submitted']);
  await update(handle, 'setTimeout', { timeoutMs: Date.now() - s.startedAt + 1500 });
  const final = await h.result(handle);
  expect(final.status).toBe('cancelled');
  expect(final.orders[0]!.transitions.some((t) => t.reason === 'timeout')).toBe(true);
});

test('signals do the same without an answer: requestCancel', async () => {
  const { handle, state } = await restingLimit('signal');
  await handle.signal('requestCancel', { reason: 'by signal' });
  const final = await h.result(handle);
  expect(final.status).toBe('cancelled');
  expect(h.paper.findOrder(BTC, state.orders[0]!.intent.clientOrderId)?.status).toBe('CANCELED');
  expect(final.operations[0]).toMatchObject({ kind: 'cancel', status: 'done' });
});

test('a partially filled order that times out reports the filled part and the cancelled rest', async () => {
  // The paper exchange fills a resting order only partly when the price merely touches its limit.
  const handle = await h.start({ decision_id: h.id('partial'), order_type: 'LIMIT', limit_price: '59990', approved_size: '1', timeout_ms: 4000 });
  await eventually('resting', async () => (await h.state(handle)).status === 'working');
  h.paper.setPrice(BTC, '59990');
  const final = await h.result(handle);
  expect(final.status).toBe('partially_filled');
  const report = (await readReports(h.redis)).find((r) => r.report.workflow_id === handle.workflowId)!.report;
  expect(report.status).toBe('partially_filled');
  expect(report.success).toBe(true);
  const filled = Number(report.filled_quantity);
  expect(filled).toBeGreaterThan(0);
  expect(filled).toBeLessThan(1);
  expect(filled + Number(report.cancelled_quantity)).toBeCloseTo(1, 12);
  expect(h.paper.findOrder(BTC, final.orders[0]!.intent.clientOrderId)).toMatchObject({ status: 'CANCELED' });
  expect(final.orders[0]!.transitions.map((t) => t.to)).toEqual(['submitted', 'partially_filled', 'cancel_requested', 'cancelled']);

  // One report per order state transition, each once, ahead of the trade's summary, and the
  // same reports in Postgres with the stream entry each went out as.
  const stream = await readStream(h.redis);
  const mine = stream.filter((p) => p.report.workflow_id === handle.workflowId);
  const updates = mine.filter((p) => p.report.report_type === 'order_update');
  expect(updates.map((p) => p.report.report_type === 'order_update' && [p.report.from_state, p.report.to_state])).toEqual([
    ['new', 'submitted'],
    ['submitted', 'partially_filled'],
    ['partially_filled', 'cancel_requested'],
    ['cancel_requested', 'cancelled'],
  ]);
  expect(mine[mine.length - 1]!.report.report_type).toBe('trade');
  const rows = await h.pg.query(
    `SELECT report_id, stream_id, payload FROM execution_reports WHERE workflow_id = $1 AND report_type = 'order_update' ORDER BY stream_id`,
    [handle.workflowId],
  );
  expect(rows.rows.map((r) => [r.report_id, r.stream_id])).toEqual(updates.map((p) => [p.report.report_id, p.streamId]));
  expect(rows.rows.map((r) => r.payload)).toEqual(updates.map((p) => p.report));
});

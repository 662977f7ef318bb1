/**
 * Issue 11, item 11: a refused protective bracket is not silent. The entry filled, so the
 * position exists; without its bracket it is unprotected, and that must show: the trade report
 * says `protection_status: 'refused'` with the reason in `error`, an `unprotected_position`
 * alert is raised on the `alerts` stream, and the order rows stay in Postgres.
 *
 * Two real refusal paths: our own copy of the exchange's filters (a stop below what
 * PERCENT_PRICE_BY_SIDE allows), and the exchange itself (a take-profit LIMIT_MAKER leg below
 * the market would match at once: -2010 "Order would immediately match and take.").
 */
import type { WorkflowHandle } from '@temporalio/client';
import { readAlerts } from '../../src/alerts/alerts';
import { readReports } from '../support/streams';
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
const OCO = 'POST /api/v3/orderList/oco';

const h = useTradeHarness({ name: 'unprotected' });

async function finalReport(handle: WorkflowHandle) {
  await h.result(handle);
  return eventually('the trade report', async () => (await readReports(h.redis)).find((r) => r.report.workflow_id === handle.workflowId)?.report, 30_000);
}

async function alertsFor(handle: WorkflowHandle) {
  return (await readAlerts(h.redis)).filter((a) => a.detail.workflowId === handle.workflowId);
}

async function orderRows(handle: WorkflowHandle) {
  const { rows } = await h.pg.query<{ client_order_id: string; purpose: string; status: string; executed_qty: string }>(
    'SELECT client_order_id, purpose, status, executed_qty::text FROM orders WHERE workflow_id = $1 ORDER BY created_at, client_order_id',
    [handle.workflowId],
  );
  return rows;
}

test('a bracket our filters refuse (stop below PERCENT_PRICE_BY_SIDE): refused in the report, alerted, the entry row kept', async () => {
  // At 60000 a SELL may not be priced below 60000 x 0.2 = 12000.
  const handle = await h.start({ decision_id: h.id('filters'), stop_loss: '10000', take_profit: '65000' });
  const report = await finalReport(handle);
  expect(report).toMatchObject({ status: 'filled', filled_quantity: '0.001', protection_status: 'refused', error: expect.stringContaining('PERCENT_PRICE_BY_SIDE') });
  const alerts = await eventually('the unprotected_position alert', async () => {
    const a = (await alertsFor(handle)).filter((x) => x.kind === 'unprotected_position');
    return a.length > 0 ? a : undefined;
  }, 30_000).catch(() => [] as Awaited<ReturnType<typeof alertsFor>>);
  expect(alerts.map((a) => ({ kind: a.kind, severity: a.severity }))).toEqual([{ kind: 'unprotected_position', severity: 'critical' }]);
  expect(alerts[0]!.message).toContain(h.id('filters'));
  // The entry's row (and its fill) stay: the position is real, on the books as on the exchange.
  expect((await orderRows(handle)).filter((r) => r.purpose !== 'bracket').map((r) => [r.status, Number(r.executed_qty)])).toEqual([['FILLED', 0.001]]);
});

test('a bracket the exchange refuses (take-profit leg would match at once): refused in the report, alerted, every order row kept', async () => {
  // Bought at about 60000; a SELL LIMIT_MAKER at 59000 would take liquidity, and the exchange says so.
  const ocoBefore = h.paper.requestCounts()[OCO] ?? 0;
  const handle = await h.start({ decision_id: h.id('exchange'), stop_loss: '55000', take_profit: '59000' });
  const report = await finalReport(handle);
  expect(report).toMatchObject({ status: 'filled', filled_quantity: '0.001', protection_status: 'refused', error: expect.any(String) });
  const alerts = await eventually('the unprotected_position alert', async () => {
    const a = (await alertsFor(handle)).filter((x) => x.kind === 'unprotected_position');
    return a.length > 0 ? a : undefined;
  }, 30_000).catch(() => [] as Awaited<ReturnType<typeof alertsFor>>);
  expect(alerts.map((a) => a.kind)).toEqual(['unprotected_position']);
  // The exchange really was asked, and said no: nothing of the bracket is on the exchange.
  const rows = await orderRows(handle);
  const bracket = rows.filter((r) => r.purpose === 'bracket');
  expect((h.paper.requestCounts()[OCO] ?? 0) - ocoBefore).toBeGreaterThanOrEqual(1);
  expect(bracket.map((r) => r.status)).toEqual([expect.stringMatching(/^(REJECTED|NOT_PLACED)$/), expect.stringMatching(/^(REJECTED|NOT_PLACED)$/)]);
  expect(bracket.map((r) => h.paper.findOrder(BTC, r.client_order_id))).toEqual([undefined, undefined]);
  expect(rows.filter((r) => r.purpose !== 'bracket').map((r) => [r.status, Number(r.executed_qty)])).toEqual([['FILLED', 0.001]]);
});

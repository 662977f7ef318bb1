/**
 * One approved trade end to end on the real things: Temporal dev server, Postgres, Redis and the
 * paper exchange over HTTP. Decisions go in on `risk_decisions`, reports come out on
 * `trade_executions`, and both the database and the exchange are checked.
 */
import { readReports, pushDecision, streamIdMs, until, waitForReport } from '../support/streams';
import { startTradeHarness, type TradeHarness } from '../support/trade-harness';
import { approvedDecision } from '../support/decisions';

let h: TradeHarness;
const id = (name: string) => h.id(name);

beforeAll(async () => {
  h = await startTradeHarness({ name: 'skeleton', bridge: true });
}, 180_000);
afterAll(() => h?.stop());

const approve = approvedDecision;

test('an approved BUY becomes one MARKET order, a report, and a position', async () => {
  const decisionId = id('buy');
  const entryId = await pushDecision(h.redis, approve(decisionId));

  const { streamId, report } = await waitForReport(h.redis, (r) => r.decision_id === decisionId);
  // Latency from XADD to the report, as Redis stamped both entries (not asserted: a figure).
  console.log(`XADD → execution report: ${streamIdMs(streamId) - streamIdMs(entryId)} ms`);

  expect(report).toMatchObject({
    decision_id: decisionId,
    workflow_id: `trade-${decisionId}`,
    symbol: 'BTCUSDT',
    side: 'BUY',
    quantity: '0.001',
    status: 'filled',
    success: true,
    filled_quantity: '0.001',
    error: null,
  });
  expect(report.client_order_id).toMatch(/^[.A-Z:/a-z0-9_-]{1,36}$/);
  expect(Number(report.avg_fill_price)).toBeGreaterThan(0);
  expect(report.commission_asset).not.toBeNull();
  for (const key of ['order_id', 'commission', 'execution_time', 'timestamp'] as const) expect(report[key]).not.toBeNull();

  // The exchange has exactly this order, found by its client order id.
  const onExchange = h.paper.findOrder('BTCUSDT', report.client_order_id!);
  expect(onExchange).toBeDefined();
  expect(onExchange!.status).toBe('FILLED');
  expect(String(onExchange!.orderId)).toBe(String(report.order_id));

  // Postgres: the order, its fills and the position, all exact decimals.
  const order = await h.pg.query('SELECT status, executed_qty::text FROM orders WHERE client_order_id = $1', [report.client_order_id]);
  expect(order.rows).toEqual([{ status: 'FILLED', executed_qty: '0.001' }]);
  const fills = await h.pg.query('SELECT sum(qty)::text AS qty, sum(quote_qty)::text AS quote FROM fills WHERE client_order_id = $1', [
    report.client_order_id,
  ]);
  expect(fills.rows[0].qty).toBe('0.001');
  expect(fills.rows[0].quote).toBe(report.quote_quantity);
  const position = await h.pg.query("SELECT quantity::text FROM positions WHERE symbol = 'BTCUSDT'");
  // Commission on a BUY is charged in the base asset unless paid in BNB; the position holds what was received.
  const baseFee = report.commissions.BTC ?? '0';
  expect(Number(position.rows[0].quantity)).toBeCloseTo(0.001 - Number(baseFee), 12);
  // The workflow records the decision's outcome right after publishing the report.
  const decision = await until('the decision to be recorded as completed', async () => {
    const r = await h.pg.query('SELECT status FROM decisions WHERE decision_id = $1', [decisionId]);
    return r.rows[0]?.status === 'completed' ? r.rows : undefined;
  }, 10_000);
  expect(decision).toEqual([{ status: 'completed' }]);
});

test('the same decision pushed twice gives one workflow and one order', async () => {
  const decisionId = id('twice');
  const decision = approve(decisionId, { original_signal: 0, approved_size: '0.0005' });
  await pushDecision(h.redis, decision);
  await pushDecision(h.redis, decision);

  const { report } = await waitForReport(h.redis, (r) => r.decision_id === decisionId);
  // Give the second entry every chance to (wrongly) produce something.
  await until('both entries acknowledged', async () => {
    const pending = (await h.redis.xpending('risk_decisions', 'trading-execution')) as [number, ...unknown[]];
    return pending[0] === 0;
  });
  const workflows = [];
  for await (const wf of h.svc.temporal.workflow.list({ query: `DecisionId = '${decisionId}'` })) workflows.push(wf.workflowId);
  expect(workflows).toEqual([`trade-${decisionId}`]);
  expect(h.paper.orders('BTCUSDT').filter((o) => o.clientOrderId === report.client_order_id)).toHaveLength(1);
  expect((await readReports(h.redis)).filter((p) => p.report.decision_id === decisionId)).toHaveLength(1);
});

test('a reject and an approved HOLD execute nothing and are recorded with their reason', async () => {
  const rejected = id('reject');
  const hold = id('hold');
  const ordersBefore = h.paper.orders().length;
  await pushDecision(h.redis, { ...approve(rejected), decision: 'reject', reasons: ['exposure limit'] });
  await pushDecision(h.redis, approve(hold, { original_signal: 1 }));

  const rows = await until('both decisions recorded', async () => {
    const r = await h.pg.query('SELECT decision_id, status, reasons FROM decisions WHERE decision_id = ANY($1) ORDER BY decision_id', [
      [rejected, hold],
    ]);
    return r.rows.length === 2 ? r.rows : undefined;
  });
  const byId = Object.fromEntries(rows.map((r) => [r.decision_id, r]));
  expect(byId[rejected]).toMatchObject({ status: 'rejected', reasons: ['exposure limit'] });
  expect(byId[hold].status).toBe('invalid');
  expect(JSON.stringify(byId[hold].reasons)).toContain('original_signal');

  const dead = await h.redis.xrange('risk_decisions:dead', '-', '+');
  const holdEntry = dead.find(([, f]) => f.join(' ').includes(hold));
  expect(holdEntry).toBeDefined();
  expect(holdEntry![1][holdEntry![1].indexOf('dead_reason') + 1]).toMatch(/original_signal: an approved HOLD/);

  expect(h.paper.orders().length).toBe(ordersBefore);
  const workflows = [];
  for await (const wf of h.svc.temporal.workflow.list({ query: `DecisionId IN ('${rejected}', '${hold}')` })) workflows.push(wf);
  expect(workflows).toHaveLength(0);
});

/**
 * A long-resting order keeps its history bounded: the workflow continues as new, carrying its
 * state, and the trade still ends correctly. Push is off so the order is followed by polling,
 * the case that grows history. Also: commissions paid in BNB.
 */
import { readOrderUpdates, readReports } from '../support/streams';
import { startTradeHarness, eventually, type TradeHarness } from '../support/trade-harness';

let h: TradeHarness;

beforeAll(async () => {
  h = await startTradeHarness({
    name: 'longrest',
    push: false,
    paper: { accounts: [{ apiKey: 'bnb-key', apiSecret: 'bnb-secret', payFeesInBnb: true, balances: { USDT: '100000', BTC: '1', BNB: '50' } }] },
  });
  h.paper.setPrice('BTCUSDT', '60000');
}, 120_000);
afterAll(() => h?.stop());

test('a resting order rolls over to a new run (continue-as-new) and still fills once', async () => {
  const handle = await h.start({ decision_id: h.id('rest'), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 600_000 }, 30_000, {
    historyEventLimit: 25,
  });
  const firstRunId = (await handle.describe()).runId;
  await eventually(
    'a continue-as-new',
    async () => (await h.svc.temporal.workflow.getHandle(handle.workflowId, firstRunId).describe()).status.name === 'CONTINUED_AS_NEW',
    60_000,
  );
  const current = await h.svc.temporal.workflow.getHandle(handle.workflowId).describe();
  expect(current.runId).not.toBe(firstRunId);
  expect(current.historyLength).toBeLessThan(40);

  h.paper.setPrice('BTCUSDT', '58900');
  const final = await h.svc.temporal.workflow.getHandle(handle.workflowId).result();
  expect(final.status).toBe('filled');
  const cid = final.orders[0].intent.clientOrderId;
  expect(h.paper.orders('BTCUSDT').filter((o) => o.clientOrderId === cid)).toHaveLength(1);
  // The transitions recorded before the roll-over are still there.
  expect(final.orders[0].transitions.map((t: { to: string }) => t.to)).toEqual(['submitted', 'filled']);
  // Rolling over is not an outcome: the one trade report is the fill, and the order's
  // transitions were each reported once, across both runs.
  const reports = (await readReports(h.redis)).filter((r) => r.report.workflow_id === handle.workflowId);
  expect(reports.map((r) => r.report.status)).toEqual(['filled']);
  const updates = (await readOrderUpdates(h.redis)).filter((r) => r.report.client_order_id === cid);
  expect(updates.map((r) => r.report.to_state)).toEqual(['submitted', 'filled']);
}, 120_000);

test('commission paid in BNB is reported in BNB and valued into the position fees', async () => {
  h.paper.setPrice('BTCUSDT', '60000');
  const position = async () =>
    (await h.pg.query("SELECT quantity::text AS q, fees_quote::text AS f FROM positions WHERE symbol = 'BTCUSDT'")).rows[0] ?? { q: '0', f: '0' };
  const before = await position();
  const final = await h.result(await h.start({ decision_id: h.id('bnb'), approved_size: '0.01' }));
  expect(final.status).toBe('filled');
  const commissions = final.orders[0]!.fills.commissions;
  expect(Object.keys(commissions)).toEqual(['BNB']);
  expect(Number(commissions.BNB)).toBeGreaterThan(0);
  // The whole 0.01 is held (nothing was taken in BTC) and the BNB fee was valued in USDT.
  const after = await position();
  expect(Math.round((Number(after.q) - Number(before.q)) * 1e8)).toBe(1_000_000);
  expect(Number(after.f)).toBeGreaterThan(Number(before.f));
});

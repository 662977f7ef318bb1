/**
 * A retry must never create a second order. Each fault below leaves the order really placed on
 * the exchange while the client sees a failure (5xx, -1007, a dropped connection) or is told to
 * back off (a 429 burst); the workflow must end with exactly one order for its client order id.
 */
import type { FaultInput } from '../../src/paper-exchange';
import { readReports } from '../support/streams';
import { startTradeHarness, type TradeHarness } from '../support/trade-harness';

let h: TradeHarness;

beforeAll(async () => {
  h = await startTradeHarness({ name: 'exactlyonce', recvWindowMs: 1500 });
  h.paper.setPrice('BTCUSDT', '60000');
}, 120_000);
afterAll(() => h?.stop());

const cases: Array<[string, FaultInput]> = [
  ['HTTP 503 after the order was placed', { kind: 'http5xx', status: 503, afterPlaced: true, method: 'POST', path: '/api/v3/order' }],
  ['-1007 backend timeout after the order was placed', { kind: 'timeout1007', afterPlaced: true, method: 'POST', path: '/api/v3/order' }],
  ['connection dropped after the order was accepted', { kind: 'dropConnection', afterPlaced: true, method: 'POST', path: '/api/v3/order' }],
  ['a burst of 429s on submission', { kind: 'rateLimit429', retryAfterSec: 1, times: 3, method: 'POST', path: '/api/v3/order' }],
];

test.each(cases)('%s: exactly one order', async (_name, fault) => {
  const faultId = h.paper.faults.inject(fault);
  const handle = await h.start({ decision_id: h.id(fault.kind) });
  const final = await h.result(handle);

  expect(h.paper.faults.hits.get(faultId)).toBeGreaterThanOrEqual(1);
  const cid = final.orders[0]!.intent.clientOrderId;
  const onExchange = h.paper.orders('BTCUSDT').filter((o) => o.clientOrderId === cid);
  expect(onExchange).toHaveLength(1);
  expect(onExchange[0]!.status).toBe('FILLED');
  expect(final.status).toBe('filled');
  expect(final.orders[0]!.fills.filledQty).toBe('0.001');
  const reports = (await readReports(h.redis)).filter((r) => r.report.workflow_id === handle.workflowId);
  expect(reports).toHaveLength(1);
});

test('a -1007 on the cancel of a resting order still ends with the order cancelled once', async () => {
  const handle = await h.start({ decision_id: h.id('cancel1007'), order_type: 'LIMIT', limit_price: '50000', timeout_ms: 3000 });
  h.paper.faults.inject({ kind: 'timeout1007', afterPlaced: true, method: 'DELETE', path: '/api/v3/order' });
  const final = await h.result(handle);
  expect(final.status).toBe('cancelled');
  const cid = final.orders[0]!.intent.clientOrderId;
  expect(h.paper.orders('BTCUSDT').filter((o) => o.clientOrderId === cid).map((o) => o.status)).toEqual(['CANCELED']);
});

/**
 * Issue 11, item 8: a refusal on a retry must not mark a live order rejected. The submission's
 * outcome is unknown (the order did land: the connection dropped after it was placed, or the
 * answer came after the client's timeout); then, while the activity settles by asking the
 * exchange, the key answers -2015 for a while (a key rotation). A refusal of the lookup says
 * nothing about the order: the trade must go on asking and end with the order known (filled),
 * never `rejected` with a filled order on the exchange.
 */
import type { FaultInput } from '../../src/paper-exchange';
import { readReports } from '../support/streams';
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';

const h = useTradeHarness({ name: 'refusedretry', recvWindowMs: 1500 });

const cases: Array<[string, FaultInput, number]> = [
  // The connection drops once the order is placed; the lookup ~2.5 s later meets the refusal.
  ['the connection dropped after the order was placed', { kind: 'dropConnection', afterPlaced: true, method: 'POST', path: '/api/v3/order' }, 8_000],
  // The order executes at once, its answer comes after the client's 10 s timeout; the refusal
  // lasts past the timeout and the recvWindow wait, so the first lookup is refused.
  ['the answer came after the client timed out', { kind: 'delayedResponse', ms: 12_000, method: 'POST', path: '/api/v3/order' }, 16_000],
];

test.each(cases)('%s, then -2015 during settling: the trade ends filled, not rejected', async (_name, fault, refusalMs) => {
  const faultId = h.paper.faults.inject(fault);
  const handle = await h.start({ decision_id: h.id(fault.kind) });
  await eventually('the submission to reach the exchange', () => (h.paper.faults.hits.get(faultId) ?? 0) >= 1, 60_000);
  // The order is on the exchange now; from here on the key is refused for a while.
  const refusal = h.paper.faults.inject({ kind: 'invalidApiKey', ms: refusalMs });

  const final = await h.result(handle);

  expect(h.paper.faults.hits.get(refusal) ?? 0).toBeGreaterThanOrEqual(1);
  const cid = final.orders[0]!.intent.clientOrderId;
  expect(h.paper.orders(BTC).filter((o) => o.clientOrderId === cid).map((o) => o.status)).toEqual(['FILLED']);
  expect(final.status).toBe('filled');
  expect(final.orders[0]!.state).toBe('filled');
  expect(final.orders[0]!.fills.filledQty).toBe('0.001');
  const report = (await readReports(h.redis)).find((r) => r.report.workflow_id === handle.workflowId)?.report;
  expect(report).toMatchObject({ status: 'filled', filled_quantity: '0.001' });
}, 180_000);
